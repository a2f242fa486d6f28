"""Reading source files of JSON records, shared by the source converters.

A source file is either one JSON list of records or JSON lines (one record a line). Every record
is located for error messages: by line in JSON lines, by its index in a JSON list. With
`skip_invalid`, bad records are skipped and the reasons returned instead of raising.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from thinkact.schema import (Conversation, DataError, JSONError, decode_json, json_object, jsonl_lines,
                             read_text)

# convert(record, index=..., file=..., line=...) -> Conversation; raises DataError on bad input
Converter = Callable[..., Conversation]


def iter_json_records(path: str | Path) -> Iterator[tuple[int, int | None, dict[str, Any] | DataError]]:
    """Yield (index, line, record) for each record of a JSON list or JSON lines file.

    `line` is None for a JSON list. A JSON lines line that is not a JSON object is yielded as a
    DataError (so a caller may skip it); a JSON list that does not parse raises, as nothing
    after the damage can be read, and so does text that is not UTF-8, in either form (the
    file is in another encoding: skipping every line it shows in would hide that).
    """
    path = Path(path)
    if _is_json_list(path):
        try:
            records = decode_json(read_text(path))
        except JSONError as exc:
            raise DataError(f"invalid JSON ({exc})", file=path, line=exc.line) from None
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                yield i, None, DataError(f"expected a JSON object, got {type(rec).__name__}",
                                         file=path, record=i)
            else:
                yield i, None, rec
        return
    for index, (lineno, line) in enumerate(jsonl_lines(path)):
        try:
            yield index, lineno, json_object(line, path, lineno)
        except DataError as exc:
            yield index, lineno, exc


def _is_json_list(path: Path) -> bool:
    """Whether the file's first non-blank line opens a JSON list (read no further)."""
    if not path.is_file():
        return False  # reading it as JSON lines says what is wrong
    with path.open("rb") as fh:
        return next((raw.lstrip().startswith(b"[") for raw in fh if raw.strip()), False)


def convert_records(items: Iterable[tuple[int, int | None, dict[str, Any] | DataError]],
                    convert: Converter, *, file: str | None,
                    skip_invalid: bool = False) -> tuple[list[Conversation], list[str]]:
    """Convert located records; the first bad one raises DataError unless `skip_invalid`,
    in which case bad records are left out and their reasons returned."""
    convs: list[Conversation] = []
    skipped: list[str] = []
    for index, line, rec in items:
        try:
            if isinstance(rec, DataError):
                raise rec
            convs.append(convert(rec, index=index, file=file, line=line))
        except DataError as exc:
            if not skip_invalid:
                raise
            skipped.append(str(exc))
    return convs, skipped


def group_reasons(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """Skip reasons grouped by kind (numbers masked, so line 3 and line 9 count together),
    most frequent first."""
    return Counter(re.sub(r"\d+", "N", r) for r in reasons).most_common()
