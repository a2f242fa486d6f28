"""OpenAI / Hugging Face chat records <-> canonical conversations.

A record is {"messages": [...], "tools": [...]}: an optional system (or developer) message
first, then user, assistant and tool messages. Assistant tool calls are
{"type": "function", "function": {"name", "arguments"}} where arguments are a JSON string (the
OpenAI wire format) or an object (the HF chat-template format); both are read. Reasoning comes
from `reasoning_content` (or `reasoning`) on assistant messages. Tool messages are matched to
their call by `tool_call_id`, else by `name`, else in call order.

An assistant message with both text and tool calls (allowed by OpenAI, not by the canonical
record, where a turn is calls or a reply) keeps the calls; its text is appended to its
reasoning, being what the model said to itself before acting.

Export writes the wire format by default (`thinkact.chat.wire_messages`: arguments as JSON
strings, call ids, tool messages with `tool_call_id`; a tool message with no call to answer
becomes user text), or the HF format with `wire=False`; reasoning goes to `reasoning_content`.
Records also carry `id` (and `meta` when set), so that from_openai_record(to_openai_record(c))
== c for any conversation whose tool messages are named after their calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from thinkact.chat import chat_tools, message_to_chat, wire_messages
from thinkact.data.records import convert_records, iter_json_records
from thinkact.schema import (Conversation, DataError, JSONError, Message, ToolCall, decode_arguments, decode_json,
                             write_jsonl)

SYSTEM_ROLES = ("system", "developer")
REASONING_KEYS = ("reasoning_content", "reasoning")


def _text(content: Any, err) -> str:
    """Message content: a string, null, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise err("content parts must be {'type': 'text', 'text': str}")
            parts.append(part["text"])
        return "".join(parts)
    raise err(f"content must be a string or a list of text parts, got {type(content).__name__}")


def _call(raw: Any, err) -> tuple[ToolCall, str | None]:
    """One tool call and its id."""
    if not isinstance(raw, dict):
        raise err(f"a tool call must be an object, got {type(raw).__name__}")
    fn = raw.get("function", raw)  # some exports put name/arguments at the top
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise err("a tool call needs function.name")
    try:
        args = decode_arguments(fn.get("arguments"))
    except ValueError as exc:
        raise err(str(exc)) from None
    call_id = raw.get("id")
    return ToolCall(name=fn["name"], arguments=args), call_id if isinstance(call_id, str) else None


def _tools(tools: Any, err) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if isinstance(tools, str):  # some HF exports store the list as a JSON string
        try:
            tools = decode_json(tools)
        except JSONError as exc:
            raise err(f"tools is not valid JSON ({exc})", "tools") from None
    if not isinstance(tools, list):
        raise err(f"tools must be a list, got {type(tools).__name__}", "tools")
    out = []
    for i, tool in enumerate(tools):
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise err("each tool must be a function schema with a 'name'", f"tools[{i}]")
        out.append(fn)
    return out


def from_openai_record(record: dict[str, Any], *, index: int, file: str | None = None,
                       line: int | None = None, conv_id: str | None = None) -> Conversation:
    """One chat record as a Conversation; the id is `conv_id`, the record's `id`, or
    openai-<index>. Bad input raises DataError naming file, line (or record) and field."""
    def err(msg: str, field: str | None = None) -> DataError:
        return DataError(msg, file=file, line=line, field=field, record=index if line is None else None)

    if not isinstance(record, dict):
        raise err(f"expected a JSON object, got {type(record).__name__}")
    raw = record.get("messages")
    if not isinstance(raw, list) or not raw:
        raise err("messages must be a non-empty list", "messages")
    tools = _tools(record.get("tools"), err)

    system: list[str] = []
    messages: list[Message] = []
    pending: list[tuple[str, str | None]] = []  # (name, id) of calls awaiting their tool message
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise err(f"a message must be an object, got {type(m).__name__}", where)
        role = m.get("role")
        content = _text(m.get("content"), lambda msg: err(msg, f"{where}.content"))
        if role in SYSTEM_ROLES:
            if messages:
                raise err(f"a {role} message must come before the conversation", f"{where}.role")
            system.append(content)
        elif role == "user":
            messages.append(Message(role="user", content=content))
        elif role == "assistant":
            reasoning = next((m[k] for k in REASONING_KEYS if m.get(k) is not None), None)
            if reasoning is not None and not isinstance(reasoning, str):
                raise err("reasoning must be a string", f"{where}.reasoning_content")
            raw_calls = m.get("tool_calls") or []
            if not isinstance(raw_calls, list):
                raise err("tool_calls must be a list", f"{where}.tool_calls")
            calls = [_call(c, lambda msg, j=j: err(msg, f"{where}.tool_calls[{j}]"))
                     for j, c in enumerate(raw_calls)]
            if calls and content.strip():
                reasoning = f"{reasoning}\n\n{content}" if reasoning else content
                content = ""
            pending = [(c.name, cid) for c, cid in calls]
            messages.append(Message(role="assistant", content=content, reasoning=reasoning,
                                    tool_calls=[c for c, _ in calls]))
        elif role == "tool":
            if not pending:
                raise err("tool message with no preceding tool call", where)
            name, tid = m.get("name"), m.get("tool_call_id")
            if name is not None and not isinstance(name, str):
                raise err(f"name must be a string, got {type(name).__name__}", f"{where}.name")
            k = next((k for k, (_, cid) in enumerate(pending) if tid and cid == tid), None)
            if k is None:
                k = next((k for k, (n, _) in enumerate(pending) if n == name), 0)
            called = pending.pop(k)[0]
            messages.append(Message(role="tool", content=content, name=name or called))
        else:
            raise err(f"unknown role {role!r} (expected system, user, assistant or tool)", f"{where}.role")

    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise err(f"meta must be an object, got {type(meta).__name__}", "meta")
    cid = conv_id or record.get("id") or f"openai-{index}"
    return Conversation(id=str(cid), system="\n\n".join(system), tools=tools, messages=messages, meta=meta)


def to_openai_record(conv: Conversation, *, wire: bool = True) -> dict[str, Any]:
    """A Conversation as a chat record: the OpenAI wire format (`wire_messages`: arguments as
    JSON strings, call ids), or with `wire=False` the HF chat-template format (arguments as
    objects, tool messages named after their tool); reasoning in `reasoning_content`."""
    if wire:
        messages = wire_messages(conv.system, conv.messages, reasoning=True)
    else:
        messages = [{"role": "system", "content": conv.system}] if conv.system else []
        for m in conv.messages:
            msg = message_to_chat(m)
            if m.role == "assistant" and m.reasoning is not None:
                msg["reasoning_content"] = m.reasoning
            messages.append(msg)
    record: dict[str, Any] = {"id": conv.id, "messages": messages, "tools": chat_tools(conv.tools)}
    if conv.meta:
        record["meta"] = conv.meta
    return record


def load_openai(src: str | Path, *, skip_invalid: bool = False) -> tuple[list[Conversation], list[str]]:
    """Load chat records (JSON lines, or one JSON list) as conversations. Returns
    (conversations, skip reasons); the first bad record raises DataError unless `skip_invalid`."""
    path = Path(src)
    if not path.is_file():
        raise DataError("no such file", file=path)
    return convert_records(iter_json_records(path), from_openai_record, file=str(path),
                           skip_invalid=skip_invalid)


def write_openai(path: str | Path, convs: Iterable[Conversation], *, wire: bool = True) -> int:
    """Write conversations as chat records, one a line; returns the count."""
    return write_jsonl(path, (to_openai_record(c, wire=wire) for c in convs))
