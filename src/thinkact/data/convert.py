"""Any supported source into conversations, and conversations out in any supported format:
what `thinkact data convert` runs.

Sources: apigen-mt (a file, or "hub"), openai (chat records), bfcl (a category name or "all"),
canonical (thinkact's own conversation JSONL). Outputs: canonical, openai, apigen-mt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from thinkact.data.apigen_mt import load_apigen_mt, to_apigen_record
from thinkact.data.bfcl import BFCL_CATEGORIES, bfcl_to_conversations
from thinkact.data.openai import load_openai, write_openai
from thinkact.data.records import convert_records, iter_json_records
from thinkact.schema import Conversation, DataError, parse_record, write_jsonl

SOURCES = ("apigen-mt", "openai", "bfcl", "canonical")
OUTPUTS = ("canonical", "openai", "apigen-mt")


def _canonical(record: dict, *, index: int, file: str | None, line: int | None) -> Conversation:
    try:
        return parse_record(Conversation, record, file=file, line=line)
    except DataError as exc:
        if line is not None:
            raise
        raise DataError(exc.reason, file=file, field=exc.field, record=index) from None


def load_source(src: str | Path, fmt: str, *, skip_invalid: bool = False) -> tuple[list[Conversation], list[str]]:
    """Conversations from `src` in format `fmt` (see SOURCES), plus the reasons for every record
    skipped (only with `skip_invalid`; otherwise the first bad record raises DataError)."""
    if fmt == "apigen-mt":
        return load_apigen_mt(src, skip_invalid=skip_invalid)
    if fmt == "openai":
        return load_openai(src, skip_invalid=skip_invalid)
    if fmt == "bfcl":
        names = list(BFCL_CATEGORIES) if str(src) == "all" else [str(src)]
        return [c for name in names for c in bfcl_to_conversations(name)], []
    if fmt == "canonical":
        path = Path(src)
        if not path.is_file():
            raise DataError("no such file", file=path)
        return convert_records(iter_json_records(path), _canonical, file=str(path), skip_invalid=skip_invalid)
    raise DataError(f"unknown source format {fmt!r}; expected one of {', '.join(SOURCES)}")


def write_conversations(path: str | Path, convs: Iterable[Conversation], to: str = "canonical") -> int:
    """Write conversations as JSON lines in format `to` (see OUTPUTS); returns the count."""
    if to == "canonical":
        return write_jsonl(path, convs)
    if to == "openai":
        return write_openai(path, convs)
    if to == "apigen-mt":
        return write_jsonl(path, (to_apigen_record(c) for c in convs))
    raise DataError(f"unknown output format {to!r}; expected one of {', '.join(OUTPUTS)}")
