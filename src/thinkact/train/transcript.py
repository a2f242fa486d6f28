"""One episode as one token sequence: what episode GRPO trains on.

    prompt_ids       system, tools and the user's first message, up to the assistant's turn
                     (`build_prompt`, exactly as evaluation asks the model)
    completion_ids   the model's first action, what the environment said next (tool results or
                     the user's next message, then the next generation prompt), the next action...
    env_mask         1 on the model's own tokens (each action with its end-of-turn token), 0 on
                     the environment's: only the model's tokens carry the loss
    logprobs         each model token's log-probability when it was sampled (0.0 elsewhere)

The model's tokens stay as sampled, never decoded and re-tokenized, so the sequence trained on
is the one the actions were generated from. Between two actions the environment's text is the
chat template's own rendering of the new messages (`env_suffix`): what the template writes after
an assistant turn's end-of-turn token, the new messages, and the next generation prompt. That
needs a template that renders a conversation's start as the start of the whole (ChatML templates
do, the quickstart's among them); any other is refused with the reason.

Each action is generated after the earlier actions as the model wrote them, reasoning included
(one causal sequence cannot hide it; TRL's multi-turn training does the same). Evaluation shows
earlier actions as the chat template renders them, after an empty think block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thinkact.chat import build_prompt, chat_messages, chat_tools
from thinkact.schema import TurnSample


class TemplateError(ValueError):
    """The chat template cannot extend a conversation token by token."""


@dataclass
class Transcript:
    """The token record of one episode (see the module docstring); `seen`: how many context
    messages are already in the sequence; `outputs`: each action's text, as the simulator read it."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    seen: int = 1

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    def add_env(self, ids: list[int]) -> None:
        self.completion_ids += ids
        self.env_mask += [0] * len(ids)
        self.logprobs += [0.0] * len(ids)

    def add_action(self, ids: list[int], logprobs: list[float], text: str, end: int | None = None) -> None:
        """The model's tokens of one action. An action cut at the token limit has no end-of-turn
        token: `end` is put after it as the environment's (the conversation the user sees goes
        on as if the turn had ended, and the model is not taught to stop where it did not)."""
        if len(ids) != len(logprobs):
            raise ValueError(f"{len(ids)} tokens but {len(logprobs)} log-probs")
        self.completion_ids += ids
        self.env_mask += [1] * len(ids)
        self.logprobs += logprobs
        self.outputs.append(text)
        if end is not None:
            self.add_env([end])

    def finish(self, end: int) -> None:
        """An episode that ended before its first action still needs a completion (TRL reads
        its last token): the end-of-turn token, as the environment's."""
        if not self.completion_ids:
            self.add_env([end])


def encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]


def start(tokenizer: Any, sample: TurnSample) -> Transcript:
    """The transcript of an episode before its first action: the first prompt."""
    if any(m.role == "assistant" for m in sample.context):
        raise ValueError(f"{sample.id}: an episode starts before the agent's first action")
    return Transcript(prompt_ids=encode(tokenizer, build_prompt(tokenizer, sample)), seen=len(sample.context))


def env_suffix(tokenizer: Any, sample: TurnSample, seen: int) -> str:
    """The text that follows the end-of-turn token of the assistant message at `seen - 1` up to
    the next action: the template's tail of that turn, the context's messages from `seen` on,
    and the generation prompt."""
    context = sample.context
    if not 0 < seen < len(context) or context[seen - 1].role != "assistant":
        raise ValueError(f"{sample.id}: message {seen - 1} should be the last action, followed by new messages")
    if any(m.role == "assistant" for m in context[seen:]):
        raise ValueError(f"{sample.id}: more than one action since the last one generated")
    tools = chat_tools(sample.tools) or None
    before = tokenizer.apply_chat_template(chat_messages(sample.system, context[:seen]), tools=tools,
                                           add_generation_prompt=False, tokenize=False)
    after = build_prompt(tokenizer, sample)
    eos = tokenizer.eos_token
    if not after.startswith(before) or not eos or eos not in before:
        raise TemplateError("the chat template does not render a conversation's start as the start of the "
                            "whole conversation, closed by the end-of-turn token "
                            f"{eos!r}; episode training needs one that does (a ChatML template)")
    return before[before.rindex(eos) + len(eos):] + after[len(before):]


def extend(tokenizer: Any, transcript: Transcript, sample: TurnSample) -> list[int]:
    """The environment's tokens that bring `transcript` up to `sample`'s context (not added)."""
    if len(sample.context) <= transcript.seen:
        raise ValueError(f"{sample.id}: nothing new since the last action")
    return encode(tokenizer, env_suffix(tokenizer, sample, transcript.seen + 1))
