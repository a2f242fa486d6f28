"""Conversations into turn samples: one sample per assistant action.

Every assistant message is an action: tool call(s) or a reply. Its sample's context is every
message before it, its target the action itself with the action's reasoning. Action k of
conversation c gets the id turn_id(c, k), so ids stay stable across runs and files.
"""

from __future__ import annotations

from typing import Iterable

from thinkact.schema import Conversation, Target, TurnSample, turn_id


def conversation_to_turns(conv: Conversation, *, keep_reasoning: bool = True) -> list[TurnSample]:
    """The turn samples of one conversation, in order. Without `keep_reasoning`, reasoning is
    removed from the targets and from the context, so no sample shows any."""
    messages = conv.messages if keep_reasoning else [
        m.model_copy(update={"reasoning": None}) for m in conv.messages]
    samples = []
    for i, m in enumerate(messages):
        if m.role != "assistant":
            continue
        if m.tool_calls:
            target = Target(kind="tool_call", tool_calls=m.tool_calls, reasoning=m.reasoning)
        else:
            target = Target(kind="reply", content=m.content, reasoning=m.reasoning)
        k = len(samples)
        samples.append(TurnSample(id=turn_id(conv.id, k), conversation_id=conv.id, turn_index=k,
                                  system=conv.system, tools=conv.tools, context=messages[:i],
                                  target=target, meta=dict(conv.meta)))
    return samples


def make_turns(convs: Iterable[Conversation], keep_reasoning: bool = True) -> list[TurnSample]:
    """Turn samples of many conversations, conversation by conversation."""
    return [s for c in convs for s in conversation_to_turns(c, keep_reasoning=keep_reasoning)]

