"""APIGen-MT records <-> canonical conversations.

An APIGen-MT record (Salesforce/APIGen-MT-5k, and the bundled benchmark's files) is

    {"conversations": [{"from": ..., "value": ...}, ...], "system": str, "tools": str}

with `from` one of human, gpt, function_call, observation. A function_call's value is a JSON
string {"name", "arguments"}; an observation's value is the tool output; `tools` is a JSON string
holding a list of {"name", "description", "parameters"}. Consecutive function_calls before their
observations are parallel calls: one assistant message, then one tool message per observation,
matched to the calls in order.

The `think` tool is not an action. A think call's thought becomes the `reasoning` of the next
assistant action (several thoughts in a row are joined by a blank line), its observation (empty
in the data) is dropped, and the think tool leaves the tools list. A thought that no action
follows before the next user message is dropped: it reasoned about a state that is gone.

Export is the inverse: reasoning becomes a think call followed by an empty observation just
before its action, and the think tool is appended to the tools list when some message has
reasoning. Records also carry `id` (and `meta` when set), so that
from_apigen_record(to_apigen_record(c)) == c for any conversation whose tool messages are named
after their calls (as every imported conversation's are). Going the other way, a record keeps
its content, except a think tool that is listed but never called, and non-empty think outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thinkact.data.records import convert_records, iter_json_records
from thinkact.schema import Conversation, DataError, JSONError, Message, ToolCall, decode_arguments, decode_json

HUB_ID = "Salesforce/APIGen-MT-5k"
THINK = "think"
THINK_TOOL = {
    "name": THINK,
    "description": "Use the tool to think about something. It will not obtain new information or "
                   "change the database, but just append the thought to the log. Use it when "
                   "complex reasoning or some cache memory is needed.",
    "parameters": {"type": "object",
                   "properties": {"thought": {"type": "string", "description": "A thought to think about."}},
                   "required": ["thought"]},
}
ROLES = ("human", "gpt", "function_call", "observation")


def _parse_call(value: Any, err) -> ToolCall:
    """A function_call value: a JSON string (or an already parsed object) {"name", "arguments"}."""
    if isinstance(value, str):
        try:
            value = decode_json(value)
        except JSONError as exc:
            raise err(f"function_call value is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise err(f"function_call value must be a JSON object, got {type(value).__name__}")
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise err("function_call value has no 'name'")
    try:  # arguments encoded twice, as some exports do, are read too
        return ToolCall(name=name, arguments=decode_arguments(value.get("arguments")))
    except ValueError as exc:
        raise err(str(exc)) from None


def _parse_tools(tools: Any, err) -> list[dict[str, Any]]:
    if tools is None or tools == "":
        return []
    if isinstance(tools, str):
        try:
            tools = decode_json(tools)
        except JSONError as exc:
            raise err(f"tools is not valid JSON ({exc})", "tools") from None
    if not isinstance(tools, list):
        raise err(f"tools must be a JSON list, got {type(tools).__name__}", "tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise err("each tool must be an object with a 'name'", f"tools[{i}]")
    return [t for t in tools if t["name"] != THINK]


def from_apigen_record(record: dict[str, Any], *, index: int, file: str | None = None,
                       line: int | None = None, conv_id: str | None = None) -> Conversation:
    """One APIGen-MT record as a Conversation.

    `index` is the record's position in its source (it names the conversation when the record
    has no `id`: apigen-<index>); `file` and `line` locate errors (without `line`, errors name
    the record index, as in a JSON list). Bad input raises DataError naming the field.
    """
    def err(msg: str, field: str | None = None) -> DataError:
        return DataError(msg, file=file, line=line, field=field,
                         record=index if line is None else None)

    if not isinstance(record, dict):
        raise err(f"expected a JSON object, got {type(record).__name__}")
    system = record.get("system") or ""
    if not isinstance(system, str):
        raise err(f"system must be a string, got {type(system).__name__}", "system")
    tools = _parse_tools(record.get("tools"), err)
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise err("conversations must be a non-empty list", "conversations")

    messages: list[Message] = []
    thoughts: list[str] = []  # reasoning waiting for the next action
    calls: list[ToolCall] = []  # the group of consecutive function_calls being read
    pending: list[tuple[str, int]] = []  # (call name, position) still awaiting an observation

    def reasoning() -> str | None:
        text = "\n\n".join(thoughts) if thoughts else None
        thoughts.clear()
        return text

    def flush_calls() -> None:
        if calls:  # a group of think calls alone is not an action: its thoughts wait
            messages.append(Message(role="assistant", tool_calls=list(calls), reasoning=reasoning()))
            calls.clear()

    def check_answered(i: int) -> None:
        for name, j in pending:
            if name != THINK:  # a think call may go unanswered, it has no output anyway
                raise err(f"function_call '{name}' has no observation before "
                          f"conversations[{i}]", f"conversations[{j}]")
        pending.clear()

    prev = None
    for i, turn in enumerate(turns):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise err(f"expected an object with 'from' and 'value', got {type(turn).__name__}", where)
        role = turn.get("from")
        if role not in ROLES:
            raise err(f"unknown role {role!r} (expected one of {', '.join(ROLES)})", f"{where}.from")
        value = turn.get("value")
        if role != "function_call" and not isinstance(value, str):
            raise err(f"value must be a string, got {type(value).__name__}", f"{where}.value")
        if role != "function_call" and prev == "function_call":
            flush_calls()

        if role == "function_call":
            call = _parse_call(value, lambda m: err(m, f"{where}.value"))
            if prev != "function_call":
                check_answered(i)
            pending.append((call.name, i))
            if call.name == THINK:
                thought = call.arguments.get("thought", "")
                if not isinstance(thought, str):
                    raise err("think 'thought' must be a string", f"{where}.value.arguments.thought")
                thoughts.append(thought)
            else:
                calls.append(call)
        elif role == "observation":
            if not pending:
                raise err("observation with no preceding function_call", where)
            name, _ = pending.pop(0)
            if name != THINK:
                messages.append(Message(role="tool", content=value, name=name))
        else:
            check_answered(i)
            if role == "human":
                thoughts.clear()
                messages.append(Message(role="user", content=value))
            else:
                messages.append(Message(role="assistant", content=value, reasoning=reasoning()))
        prev = role
    flush_calls()
    check_answered(len(turns))

    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise err(f"meta must be an object, got {type(meta).__name__}", "meta")
    cid = conv_id or record.get("id") or f"apigen-{index}"
    return Conversation(id=str(cid), system=system, tools=tools, messages=messages, meta=meta)


def to_apigen_record(conv: Conversation) -> dict[str, Any]:
    """A Conversation as an APIGen-MT record (reasoning as think calls, see the module doc)."""
    turns: list[dict[str, str]] = []

    def think(text: str | None) -> None:
        if text is not None and text.strip():
            turns.append({"from": "function_call",
                          "value": json.dumps({"name": THINK, "arguments": {"thought": text}},
                                              ensure_ascii=False)})
            turns.append({"from": "observation", "value": ""})

    for m in conv.messages:
        if m.role == "user":
            turns.append({"from": "human", "value": m.content})
        elif m.role == "tool":
            turns.append({"from": "observation", "value": m.content})
        elif m.tool_calls:
            think(m.reasoning)
            for c in m.tool_calls:
                turns.append({"from": "function_call",
                              "value": json.dumps({"name": c.name, "arguments": c.arguments},
                                                  ensure_ascii=False)})
        else:
            think(m.reasoning)
            turns.append({"from": "gpt", "value": m.content})

    tools = [t for t in conv.tools if t.get("name") != THINK]
    if any(m.reasoning is not None and m.reasoning.strip() for m in conv.messages):
        tools.append(THINK_TOOL)
    record: dict[str, Any] = {"id": conv.id, "conversations": turns, "system": conv.system,
                              "tools": json.dumps(tools, ensure_ascii=False)}
    if conv.meta:
        record["meta"] = conv.meta
    return record


def load_apigen_mt(src: str | Path, *, skip_invalid: bool = False) -> tuple[list[Conversation], list[str]]:
    """Load APIGen-MT records as conversations, from a JSON list file, a JSON lines file, or
    the hub when `src` is "hub" or "Salesforce/APIGen-MT-5k" (gated: needs a logged-in user
    who accepted its terms).

    Returns (conversations, skip reasons). The first bad record raises DataError unless
    `skip_invalid`, which leaves bad records out and returns why each was skipped.
    """
    if str(src) in ("hub", HUB_ID):
        import datasets  # heavy import, only for the hub

        try:
            rows = datasets.load_dataset(HUB_ID, split="train")
        except Exception as exc:  # network, gating, missing login: all the user's to fix
            raise DataError(f"could not load from the hub ({type(exc).__name__}: {exc}); the data set "
                            "is gated: accept its terms on the hub and log in (hf auth login)",
                            file=HUB_ID) from exc
        items = ((i, None, dict(row)) for i, row in enumerate(rows))
        return convert_records(items, from_apigen_record, file=HUB_ID, skip_invalid=skip_invalid)
    path = Path(src)
    if not path.is_file():
        raise DataError(f"no such file (expected a JSON or JSON lines file, or 'hub' for {HUB_ID})",
                        file=path)
    return convert_records(iter_json_records(path), from_apigen_record, file=str(path),
                           skip_invalid=skip_invalid)
