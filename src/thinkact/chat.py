"""Turn samples into model text: the prompt (through the tokenizer's chat template) and the
completion (through the action grammar).

Training and evaluation both use these two functions, so a model is always asked the same way
it was taught. The prompt is a plain string made by `apply_chat_template(...,
add_generation_prompt=True)`; the completion is `grammar.render(target)` plus the end-of-turn
token. Keeping the completion out of the chat template matters: templates (Qwen3's among them)
rewrite or drop think blocks in assistant content.

`wire_messages` writes the same messages in OpenAI's wire format, for an OpenAI-compatible
endpoint and for exported chat records.
"""

from __future__ import annotations

import json
from typing import Any

from thinkact.grammar import render
from thinkact.schema import Message, Target, TurnSample


def message_to_chat(message: Message) -> dict[str, Any]:
    """One canonical message in the OpenAI / HF chat format (arguments as objects, as HF
    chat templates expect them)."""
    if message.role == "assistant" and message.tool_calls:
        return {"role": "assistant", "content": "",
                "tool_calls": [{"type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}}
                               for c in message.tool_calls]}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool" and message.name:
        out["name"] = message.name
    return out


def chat_messages(system: str, context: list[Message]) -> list[dict[str, Any]]:
    """System text plus the context, in chat format. Past reasoning is not shown, as Qwen3
    drops the reasoning of earlier turns."""
    head = [{"role": "system", "content": system}] if system else []
    return head + [message_to_chat(m) for m in context]


def wire_messages(system: str, messages: list[Message], *, reasoning: bool = False) -> list[dict[str, Any]]:
    """System text plus messages in OpenAI's wire format, as a chat completions endpoint takes
    them: call arguments as JSON strings and each call an id, call_0, call_1, ... in order
    through the messages (the same messages always get the same ids). A tool message answers
    the next unanswered call of the latest assistant message with calls; one with no call left
    to answer is shown as user text, as the wire format has no tool message without a call.
    With `reasoning`, an assistant message's reasoning goes to `reasoning_content`; without,
    it is left out, as Qwen3 drops the reasoning of earlier turns."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    pending: list[str] = []  # ids of the latest calls not answered yet
    n_calls = 0
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            pending = [f"call_{n_calls + i}" for i in range(len(m.tool_calls))]
            n_calls += len(m.tool_calls)
            msg: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
                for call_id, c in zip(pending, m.tool_calls)]}
        elif m.role == "tool" and pending:
            msg = {"role": "tool", "tool_call_id": pending.pop(0), "content": m.content}
        else:
            msg = {"role": "user" if m.role == "tool" else m.role, "content": m.content}
        if reasoning and m.role == "assistant" and m.reasoning is not None:
            msg["reasoning_content"] = m.reasoning
        out.append(msg)
    return out


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool schemas in the `{"type": "function", "function": {...}}` form chat templates take."""
    return [t if t.get("type") == "function" and "function" in t else {"type": "function", "function": t}
            for t in tools]


def build_prompt(tokenizer: Any, sample: TurnSample) -> str:
    """The prompt text for one turn sample: system, tools and context, ending where the
    assistant's action begins."""
    return tokenizer.apply_chat_template(
        chat_messages(sample.system, sample.context), tools=chat_tools(sample.tools) or None,
        add_generation_prompt=True, tokenize=False)


def build_completion(target: Target, think: bool, eos: str) -> str:
    """The text the model should produce for `target`, closed by the end-of-turn token."""
    return render(target, think=think) + eos

