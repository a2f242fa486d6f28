"""Canonical records: every data source converts into these, every later stage reads them.

Data flows one way: source records -> Conversation -> TurnSample -> prompt/completion ->
reward and metrics. A Conversation is OpenAI-style messages plus the system text and the tool
schemas; a TurnSample is one assistant action with everything that came before it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class DataError(ValueError):
    """Bad input, located precisely: which file, which line (or record), which field."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 field: str | None = None, record: int | None = None):
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.record = record  # index in a JSON list file, where there are no lines to name
        self.reason = message
        where = []
        if self.file:
            where.append(self.file)
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record {record}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(_Record):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(_Record):
    """One message. Assistant messages carry either `content` (a reply) or `tool_calls`."""

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    reasoning: str | None = None
    name: str | None = None  # for role "tool": the tool whose output this is

    @model_validator(mode="after")
    def _one_action(self) -> "Message":
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"only assistant messages carry tool_calls, not '{self.role}'")
        if self.tool_calls and self.content.strip():
            raise ValueError("an assistant message is either tool calls or a reply, never both")
        return self


class Conversation(_Record):
    id: str
    system: str = ""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[Message]
    meta: dict[str, Any] = Field(default_factory=dict)


class Target(_Record):
    """The action a turn sample asks for: tool call(s) or a reply, with optional reasoning."""

    kind: Literal["tool_call", "reply"]
    tool_calls: list[ToolCall] = Field(default_factory=list)
    content: str = ""
    reasoning: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Target":
        if self.kind == "tool_call" and not self.tool_calls:
            raise ValueError("a tool_call target needs at least one call")
        if self.kind == "reply" and self.tool_calls:
            raise ValueError("a reply target carries no tool calls")
        return self


class TurnSample(_Record):
    id: str
    conversation_id: str
    turn_index: int  # index of this action among the conversation's assistant actions
    system: str = ""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    context: list[Message]
    target: Target
    meta: dict[str, Any] = Field(default_factory=dict)


class GoldTurn(BaseModel):
    """What scoring reads of a gold turn sample: the target, the tools (parameter types), ids
    and meta (breakdowns), read from a TurnSample line. The context and system prompt are left
    unread: on a large gold file, building them was most of the time `thinkact score` took, and
    no score depends on them (`thinkact data turns` checks them when it writes the file)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    conversation_id: str
    turn_index: int
    tools: list[dict[str, Any]] = Field(default_factory=list)
    target: Target
    meta: dict[str, Any] = Field(default_factory=dict)


def turn_id(conversation_id: str, turn_index: int) -> str:
    """Stable sample id: the same conversation and action index always give the same id."""
    return f"{conversation_id}#{turn_index}"


# --------------------------------------------------------------------------- JSONL I/O

R = TypeVar("R", bound=BaseModel)


def _field_path(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error.get("loc", ())) or "<record>"


def json_problem(exc: json.JSONDecodeError) -> str:
    """json's complaint with its column: "Expecting value at column 5". Some of json's messages
    already end in "at" ("Unterminated string starting at")."""
    return f"{exc.msg}{'' if exc.msg.endswith(' at') else ' at'} column {exc.colno}"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, without its newline (json would count a
    problem at the end of the line as column 1 of the next); a missing file raises DataError."""
    if not path.is_file():
        raise DataError("no such file" if not path.exists() else "not a file", file=path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                yield lineno, line.rstrip("\n")


def iter_jsonl_dicts(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises DataError."""
    path = Path(path)
    for lineno, line in _lines(path):
        yield lineno, _json_object(line, path, lineno)


def iter_jsonl_records(path: str | Path, model: type[R]) -> Iterator[tuple[int, R]]:
    """Yield (line number, record) for each non-blank line, `model` validated straight from the
    line's JSON text (pydantic's own parser, several times faster than json.loads and then
    validating the objects). A line it rejects is read again as `iter_jsonl_dicts` and
    `parse_record` read it, so the record, or the error and where it is, are theirs."""
    path = Path(path)
    for lineno, line in _lines(path):
        try:
            yield lineno, model.model_validate_json(line)
        except ValidationError:
            yield lineno, parse_record(model, _json_object(line, path, lineno), file=path, line=lineno)


def _json_object(line: str, path: Path, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({json_problem(exc)})", file=path, line=lineno) from None
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=lineno)
    return obj


def parse_record(model: type[R], obj: dict[str, Any], *, file: str | Path | None = None,
                 line: int | None = None) -> R:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataError(first["msg"], file=file, line=line, field=_field_path(first)) from None


def read_jsonl(path: str | Path, model: type[R]) -> list[R]:
    """Read a JSONL file of `model` records; the first bad record raises DataError."""
    return [parse_record(model, obj, file=path, line=n) for n, obj in iter_jsonl_dicts(path)]


def check_output(path: str | Path, *, folder: bool = False) -> Path:
    """Refuse an output path that cannot be written before any work is done: a folder where a
    file goes, a file where a folder goes, or a file where one of its parent folders should be."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise DataError("is a directory; give a file path", file=path)
    if path.exists() and not path.is_dir() and folder:
        raise DataError("is a file; give a folder path", file=path)
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise DataError(f"{parent} is a file, not a folder", file=path)
    return path


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records one per line (compact, keys in declaration order); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            obj = rec.model_dump(mode="json", exclude_none=True) if isinstance(rec, BaseModel) else rec
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_conversations(path: str | Path) -> list[Conversation]:
    return read_jsonl(path, Conversation)


def read_turns(path: str | Path) -> list[TurnSample]:
    return read_jsonl(path, TurnSample)
