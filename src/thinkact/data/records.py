"""Reading source files of JSON records, shared by the source converters.

A source file is either one JSON list of records or JSON lines (one record a line). Every record
is located for error messages: by line in JSON lines, by its index in a JSON list. With
`skip_invalid`, bad records are skipped and the reasons returned instead of raising.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from thinkact.schema import Conversation, DataError, json_problem

# convert(record, index=..., file=..., line=...) -> Conversation; raises DataError on bad input
Converter = Callable[..., Conversation]


def iter_json_records(path: str | Path) -> Iterator[tuple[int, int | None, dict[str, Any] | DataError]]:
    """Yield (index, line, record) for each record of a JSON list or JSON lines file.

    `line` is None for a JSON list. A JSON lines line that is not a JSON object is yielded as a
    DataError (so a caller may skip it); a JSON list that does not parse raises, as nothing
    after the damage can be read.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({json_problem(exc)})", file=path, line=exc.lineno) from None
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                yield i, None, DataError(f"expected a JSON object, got {type(rec).__name__}",
                                         file=path, record=i)
            else:
                yield i, None, rec
        return
    index = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            rec = DataError(f"invalid JSON ({json_problem(exc)})", file=path, line=lineno)
        if not isinstance(rec, (dict, DataError)):
            rec = DataError(f"expected a JSON object, got {type(rec).__name__}", file=path, line=lineno)
        yield index, lineno, rec
        index += 1


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
