"""Canonical records: every data source converts into these, every later stage reads them.

Data flows one way: source records -> Conversation -> TurnSample -> prompt/completion ->
reward and metrics. A Conversation is OpenAI-style messages plus the system text and the tool
schemas; a TurnSample is one assistant action with everything that came before it.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, TextIO, TypeVar

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

    def __reduce__(self):  # pickled whole (from a worker process), not from its message alone
        return (_data_error, (self.reason, self.file, self.line, self.field, self.record))


def _data_error(message: str, file: str | None, line: int | None, field: str | None,
                record: int | None) -> DataError:
    return DataError(message, file=file, line=line, field=field, record=record)


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

    @property
    def tool_results(self) -> list[str]:
        """The contents of the context's tool messages."""
        return [m.content for m in self.context if m.role == "tool"]


class _Said(BaseModel):
    """A context message as scoring reads it: who said it and the text (calls left unread)."""

    model_config = ConfigDict(extra="ignore")

    role: str
    content: str = ""


class GoldTurn(BaseModel):
    """What scoring reads of a gold turn sample: the target, the tools (parameter types), ids,
    meta (breakdowns) and the context's tool results (the reply-echo rule), read from a
    TurnSample line. The system prompt and the context's calls are left unread: on a large gold
    file, building full messages was most of the time `thinkact score` took, and no score
    depends on them (`thinkact data turns` checks them when it writes the file)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    conversation_id: str
    turn_index: int
    tools: list[dict[str, Any]] = Field(default_factory=list)
    target: Target
    meta: dict[str, Any] = Field(default_factory=dict)
    context: list[_Said] = Field(default_factory=list)

    @property
    def tool_results(self) -> list[str]:
        """The contents of the context's tool messages."""
        return [m.content for m in self.context if m.role == "tool"]


def turn_id(conversation_id: str, turn_index: int) -> str:
    """Stable sample id: the same conversation and action index always give the same id."""
    return f"{conversation_id}#{turn_index}"


# --------------------------------------------------------------------------- JSON and JSONL I/O

R = TypeVar("R", bound=BaseModel)


def _field_path(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error.get("loc", ())) or "<record>"


def json_problem(exc: json.JSONDecodeError) -> str:
    """json's complaint with its column: "Expecting value at column 5". Some of json's messages
    already end in "at" ("Unterminated string starting at")."""
    return f"{exc.msg}{'' if exc.msg.endswith(' at') else ' at'} column {exc.colno}"


class JSONError(ValueError):
    """Text that is not JSON: the message says why, `line` on which line when json can tell."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.line = line


# The deepest JSON read: pydantic writes records back only to about 255 levels, and json reads
# no deeper than Python recurses.
MAX_DEPTH = 200
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def decode_json(text: str) -> Any:
    """json.loads, with every way text fails to decode raised as JSONError: json's complaint
    with its column, nesting deeper than MAX_DEPTH (or than json can recurse), and an integer
    longer than Python converts (json raises a bare ValueError)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONError(json_problem(exc), exc.lineno) from None
    except RecursionError:
        raise JSONError(_TOO_DEEP) from None
    except ValueError:
        raise JSONError(f"a number longer than {sys.get_int_max_str_digits()} digits") from None
    # The count of brackets bounds the depth and is quick: most texts need no walk.
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise JSONError(_TOO_DEEP)
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def decode_arguments(value: Any) -> dict[str, Any]:
    """A tool call's arguments as an object. OpenAI's wire format sends them as a JSON string,
    the HF chat format as an object; null or an empty string is no arguments. Anything else
    raises ValueError saying what is wrong."""
    if isinstance(value, str):
        try:
            value = decode_json(value) if value.strip() else {}
        except JSONError as exc:
            raise ValueError(f"arguments are not valid JSON ({exc})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"arguments must be an object, got {type(value).__name__}")
    return value


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError("no such file" if not path.exists() else "not a file", file=path)


def _utf8(raw: bytes, path: Path, line: int = 1) -> str:
    """Bytes read from `path` (starting on `line`) as text; bytes that are not UTF-8 raise
    DataError naming their line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {raw[exc.start]:#04x})", file=path,
                        line=line + raw.count(b"\n", 0, exc.start)) from None


def read_bytes(path: Path) -> bytes:
    """A whole file's bytes; a missing file raises DataError."""
    _check_file(path)
    return path.read_bytes()


def read_text(path: Path) -> str:
    """A whole file's text; a missing file, or bytes that are not UTF-8, raise DataError."""
    _check_file(path)
    return _utf8(path.read_bytes(), path)


def split_lines(raw: bytes, path: Path, first_line: int = 1) -> Iterator[tuple[int, str]]:
    """`jsonl_lines` over bytes already read (a part of `path` starting on `first_line`)."""
    for lineno, chunk in enumerate(raw.split(b"\n"), start=first_line):
        line = _utf8(chunk, path, lineno).rstrip("\r")
        if line.strip():
            yield lineno, line


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, without its line end (json would count a
    problem at the end of the line as column 1 of the next); a missing file, or a line that is
    not UTF-8, raises DataError. Lines end at "\\n" alone: str.splitlines also cuts at
    characters a JSON string holds as they are (U+2028, U+0085, ...)."""
    _check_file(path)
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = _utf8(raw, path, lineno).rstrip("\r\n")
            if line.strip():
                yield lineno, line


def json_object(line: str, path: str | Path, lineno: int) -> dict[str, Any]:
    """One JSONL line's object; text that is not a JSON object raises DataError naming the line."""
    try:
        obj = decode_json(line)
    except JSONError as exc:
        raise DataError(f"invalid JSON ({exc})", file=path, line=lineno) from None
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=lineno)
    return obj


def iter_jsonl_dicts(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises DataError."""
    path = Path(path)
    for lineno, line in jsonl_lines(path):
        yield lineno, json_object(line, path, lineno)


def iter_jsonl_records(path: str | Path, model: type[R]) -> Iterator[tuple[int, R]]:
    """Yield (line number, record) for each non-blank line, `model` validated straight from the
    line's JSON text (pydantic's own parser, several times faster than json.loads and then
    validating the objects). A line it rejects is read again as `iter_jsonl_dicts` and
    `parse_record` read it, so the record, or the error and where it is, are theirs."""
    path = Path(path)
    for lineno, line in jsonl_lines(path):
        try:
            yield lineno, model.model_validate_json(line)
        except ValidationError:
            yield lineno, parse_record(model, json_object(line, path, lineno), file=path, line=lineno)


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


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a log written a line at a time (train_log.jsonl): objects with a numeric
    "step". A missing file has none, and a line that does not read, as a kill can leave the
    last one, is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open("rb") as fh:
        for raw in fh:
            try:
                obj = decode_json(raw.decode("utf-8"))
            except ValueError:  # JSONError, UnicodeDecodeError
                continue
            if isinstance(obj, dict) and isinstance(obj.get("step"), (int, float)):
                rows.append(obj)
    return rows


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


def json_line(obj: Any) -> str:
    """One JSONL line: compact JSON, non-ASCII characters as they are, then a newline."""
    return json.dumps(obj, ensure_ascii=False) + "\n"


@contextmanager
def _atomic(path: str | Path) -> Iterator[TextIO]:
    """A text file open for writing that appears at `path` whole or not at all: written beside,
    then renamed over it. Lone surrogates, which JSON text may hold as escapes ("\\ud800") and
    json reads back, have no UTF-8 encoding: they are written as those escapes again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8", errors="backslashreplace") as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # left only when writing failed


def write_atomic(path: str | Path, text: str) -> None:
    """Write a whole text file atomically (written beside, then renamed)."""
    with _atomic(path) as fh:
        fh.write(text)


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records one per line (compact, keys in declaration order), atomically; returns the
    count."""
    n = 0
    with _atomic(path) as fh:
        for rec in records:
            fh.write(json_line(rec.model_dump(mode="json", exclude_none=True) if isinstance(rec, BaseModel) else rec))
            n += 1
    return n


def read_conversations(path: str | Path) -> list[Conversation]:
    return read_jsonl(path, Conversation)


def read_turns(path: str | Path) -> list[TurnSample]:
    return read_jsonl(path, TurnSample)
