"""The action grammar: what the model emits for one assistant turn (Qwen3's native format).

    <think>
    reasoning
    </think>

    <tool_call>
    {"name": "get_order", "arguments": {"order_id": "W123"}}
    </tool_call>

or the think block followed by reply text. A turn is tool call(s) or a reply, never both;
several <tool_call> blocks are parallel calls. `parse` accepts any string, never raises, and
says why an output is malformed, so rewards and metrics can score garbage without crashing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from thinkact.schema import JSONError, Target, ToolCall, decode_arguments, decode_json

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
GRAMMAR_TAGS = (THINK_OPEN, THINK_CLOSE, CALL_OPEN, CALL_CLOSE, RESPONSE_OPEN, RESPONSE_CLOSE)

_CALL_TAG = re.compile(r"</?tool_call>")
_ANY_TAG = re.compile(r"</?(?:think|tool_call|tool_response)>")


def render_call(call: ToolCall) -> str:
    body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
    return f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}"


def think_block(reasoning: str | None) -> str:
    """The think block that opens an action (empty when there is no reasoning)."""
    return f"{THINK_OPEN}\n{(reasoning or '').strip()}\n{THINK_CLOSE}\n\n"


def render(target: Target, think: bool = True) -> str:
    """Render a target exactly as the model should emit it.

    With `think`, a think block comes first (empty when the target has no reasoning, as Qwen3
    renders it with thinking disabled); without it, the action alone.
    """
    head = think_block(target.reasoning) if think else ""
    if target.kind == "tool_call":
        return head + "\n".join(render_call(c) for c in target.tool_calls)
    return head + target.content.strip()


@dataclass
class ParsedAction:
    """What a raw output means, plus every reason it is not well-formed."""

    kind: Literal["tool_call", "reply"] | None  # None: empty or unreadable output
    reasoning: str | None = None  # None: no think block at all
    tool_calls: list[ToolCall] = field(default_factory=list)
    reply: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def has_think(self) -> bool:
        return self.reasoning is not None

    @property
    def has_action(self) -> bool:
        """Whether there is a usable action: `to_target()` is not None (without building it)."""
        return (self.kind == "tool_call" and bool(self.tool_calls)) or self.kind == "reply"

    def to_target(self) -> Target | None:
        """The action as a Target, or None when there is no usable action."""
        if self.kind == "tool_call" and self.tool_calls:
            return Target(kind="tool_call", tool_calls=self.tool_calls, reasoning=self.reasoning)
        if self.kind == "reply":
            return Target(kind="reply", content=self.reply, reasoning=self.reasoning)
        return None


def _split_think(text: str, problems: list[str]) -> tuple[str | None, str]:
    """Separate a leading think block from the action; returns (reasoning, rest)."""
    stripped = text.lstrip()
    if stripped.startswith(THINK_OPEN):
        inner_start = len(THINK_OPEN)
        close = stripped.find(THINK_CLOSE, inner_start)
        if close < 0:
            problems.append("unclosed <think> block")
            return stripped[inner_start:].strip(), ""
        reasoning = stripped[inner_start:close]
        if THINK_OPEN in reasoning:
            problems.append("nested <think> tag inside the think block")
        return reasoning.strip(), stripped[close + len(THINK_CLOSE):]
    close = text.find(THINK_CLOSE)
    if close >= 0:
        # A model whose prompt ends with "<think>" emits only the closing tag; the reasoning
        # is still readable, but the output alone does not follow the grammar.
        problems.append("</think> without an opening <think> at the start")
        return text[:close].strip(), text[close + len(THINK_CLOSE):]
    if THINK_OPEN in text:
        problems.append("<think> block not at the start of the output")
    return None, text


def split_think(text: str) -> tuple[str | None, str, list[str]]:
    """(reasoning, the rest, problems) of a raw output: the think block split off as `parse`
    splits it (reasoning None when there is no block)."""
    problems: list[str] = []
    reasoning, rest = _split_think(text, problems)
    return reasoning, rest, problems


def _parse_call(raw: str, index: int, problems: list[str]) -> ToolCall | None:
    where = f"tool call {index + 1}"
    raw = raw.strip()
    if not raw:
        problems.append(f"{where}: empty <tool_call> block (no JSON)")
        return None
    try:
        obj = decode_json(raw)
    except JSONError as exc:
        problems.append(f"{where}: bad JSON ({exc})")
        return None
    if not isinstance(obj, dict):
        problems.append(f"{where}: JSON is a {type(obj).__name__}, not an object")
        return None
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: missing or empty 'name'")
        return None
    args = obj.get("arguments", None)
    if "arguments" not in obj:
        problems.append(f"{where}: missing 'arguments'")
        args = {}
    elif isinstance(args, str):
        # OpenAI's wire format nests arguments as a JSON string; readable, but not our grammar.
        problems.append(f"{where}: 'arguments' is a JSON string, not an object")
        try:
            args = decode_arguments(args)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            return ToolCall(name=name, arguments={})
    if not isinstance(args, dict):
        problems.append(f"{where}: 'arguments' is not an object")
        return ToolCall(name=name, arguments={})
    extra = sorted(set(obj) - {"name", "arguments"})
    if extra:
        problems.append(f"{where}: unexpected keys {extra}")
    # Checked above: a str name and a dict of JSON values with str keys, what validation would
    # make of them, so the call is built without validating again.
    return ToolCall.model_construct(name=name, arguments=args)


def _split_calls(body: str, problems: list[str]) -> tuple[list[str], list[str]]:
    """Cut the body into <tool_call> block contents and the text outside them."""
    blocks: list[str] = []
    outside: list[str] = []
    pos = 0
    open_at: int | None = None
    for m in _CALL_TAG.finditer(body):
        if m.group() == CALL_OPEN:
            if open_at is not None:
                problems.append("nested <tool_call> tag inside a <tool_call> block")
                continue
            outside.append(body[pos:m.start()])
            open_at = m.end()
        else:
            if open_at is None:
                problems.append("</tool_call> without an opening <tool_call>")
                outside.append(body[pos:m.start()])
            else:
                blocks.append(body[open_at:m.start()].replace(CALL_OPEN, ""))
                open_at = None
            pos = m.end()
    if open_at is not None:
        problems.append("unclosed <tool_call> block")
        blocks.append(body[open_at:].replace(CALL_OPEN, ""))
    else:
        outside.append(body[pos:])
    return blocks, outside


def parse(text: str) -> ParsedAction:
    """Parse one raw model output. Never raises; malformed parts are listed in `problems`."""
    if not isinstance(text, str):
        return ParsedAction(kind=None, problems=[f"output is {type(text).__name__}, not text"])
    problems: list[str] = []
    reasoning, body = _split_think(text, problems)
    if THINK_OPEN in body or THINK_CLOSE in body:
        problems.append("think tag after the think block")

    if _CALL_TAG.search(body):
        raw_blocks, outside = _split_calls(body, problems)
        if any(_ANY_TAG.sub("", piece).strip() for piece in outside):
            problems.append("text mixed with a tool call")
        calls = [c for i, raw in enumerate(raw_blocks) if (c := _parse_call(raw, i, problems))]
        return ParsedAction(kind="tool_call", reasoning=reasoning, tool_calls=calls,
                            problems=problems)

    reply = body.strip()
    stray = sorted(set(_ANY_TAG.findall(reply)) - {THINK_OPEN, THINK_CLOSE})
    if stray:
        problems.append(f"unexpected tag(s) in reply: {', '.join(stray)}")
    if not reply:
        problems.append("empty action: no tool call and no reply")
        return ParsedAction(kind=None, reasoning=reasoning, problems=problems)
    return ParsedAction(kind="reply", reasoning=reasoning, reply=reply, problems=problems)
