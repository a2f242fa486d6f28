"""Score a prediction file against gold turn samples, without a model: `thinkact score`.

Predictions are JSONL `{"id": <turn sample id>, "output": <raw model text>}`, read natively
(any call format a model uses, thinkact.native) or strictly (our grammar, as training rewards
read them). A gold sample
without a prediction is scored as an empty output and counted (metrics.n_missing_predictions);
a prediction whose id is not in the gold file is an error, since it means the two files do not
belong together.
"""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from pydantic import ValidationError

from thinkact.metrics import SampleScore, aggregate, turn_scores
from thinkact.native import OutputReader, Parse
from thinkact.rewards import AnswerMethod, RewardWeights, Think
from thinkact.schema import (DataError, GoldTurn, TurnSample, iter_jsonl_dicts, json_object, jsonl_lines, parse_record,
                             read_bytes, split_lines, write_atomic)


_TOOLS_KEY = '"tools": '
_DECODER = json.JSONDecoder()


class _SharedTools:
    """Reads gold turns whose tool lists repeat, parsing each distinct list once.

    The tool list is most of a turn sample's bytes (its JSON schemas) and is the same for every
    turn of a domain, so reading a gold file is mostly parsing the same few lists again. For a
    line whose top-level `tools` value is one already seen, the value is cut from the text
    before validation and the list parsed the first time is put in its place: the samples then
    share it (read only). Any line this does not recognise is validated whole, as before."""

    def __init__(self, model: type[GoldTurn | TurnSample] = GoldTurn, limit: int = 256):
        self.model = model
        self.known: dict[str, list[dict[str, Any]]] = {}  # the value's JSON text -> the parsed list
        self.limit = limit

    def _value_start(self, line: str) -> int:
        """Where the top-level `tools` value starts in the line, or -1."""
        at = line.find(_TOOLS_KEY)
        if at < 0:
            return -1
        # Top level only: what precedes the key, closed with `}`, must be a whole JSON object
        # (a key inside a nested object leaves it unbalanced). Quotes in strings are escaped,
        # so the key text cannot come from inside a string.
        head = line[:at].rstrip().rstrip(",")
        try:
            ok = isinstance(json.loads(head + "}"), dict)
        except json.JSONDecodeError:
            ok = False
        return at + len(_TOOLS_KEY) if ok else -1

    def read(self, line: str) -> GoldTurn | TurnSample:
        """The line's gold turn (ValidationError as `model_validate_json` raises it)."""
        start = self._value_start(line)
        if start >= 0:
            for text, tools in self.known.items():
                if line.startswith(text, start):  # a whole JSON array: the value is exactly this
                    sample = self.model.model_validate_json(line[:start] + "[]" + line[start + len(text):])
                    sample.tools = tools
                    return sample
        sample = self.model.model_validate_json(line)
        if start >= 0 and len(self.known) < self.limit:
            _, end = _DECODER.raw_decode(line, start)
            self.known[line[start:end]] = sample.tools
        return sample


def read_gold(path: str | Path, model: type[GoldTurn | TurnSample] = GoldTurn) -> list[Any]:
    """Gold turns from turn-sample JSONL (the fields scoring reads, `GoldTurn`); a duplicate id
    is an error naming both lines, an empty file an
    error naming the file (else every prediction would be 'not a sample of the gold file').
    Tool lists that repeat are parsed once and shared between samples (`_SharedTools`): do
    not mutate them."""
    path = Path(path)
    lines, samples = [], []
    for line, sample in _gold_records(path, jsonl_lines(path), model):
        lines.append(line)
        samples.append(sample)
    _check_gold(path, samples, lines)
    return samples


def _gold_records(path: Path, lines: Iterable[tuple[int, str]], model: type[GoldTurn | TurnSample] = GoldTurn
                  ) -> Iterator[tuple[int, Any]]:
    shared = _SharedTools(model)
    for lineno, text in lines:
        try:
            yield lineno, shared.read(text)
        except ValidationError:  # the error and where it is, as the schema reports it
            yield lineno, parse_record(model, json_object(text, path, lineno), file=path, line=lineno)


def _check_gold(path: Path, samples: list[Any], lines: list[int]) -> None:
    """Every id once, and at least one sample (`samples`: gold turns or their scores)."""
    first_line: dict[str, int] = {}
    for line, sample in zip(lines, samples):
        if sample.id in first_line:
            raise DataError(f"duplicate sample id {sample.id!r} (first on line {first_line[sample.id]})",
                            file=path, line=line, field="id")
        first_line[sample.id] = line
    if not samples:
        raise DataError("no turn samples: the file is empty", file=path)


def _read_predictions(path: str | Path) -> tuple[dict[str, str], dict[str, int]]:
    """Predictions as id -> output, and each id's line."""
    outputs: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, obj in iter_jsonl_dicts(path):
        pid, output = obj.get("id"), obj.get("output")
        if not isinstance(pid, str) or not pid:
            raise DataError("missing or empty 'id' (the turn sample id)", file=path, line=line, field="id")
        if not isinstance(output, str):
            raise DataError("'output' must be the raw model text (a string)", file=path, line=line,
                            field="output")
        if pid in first_line:
            raise DataError(f"duplicate id {pid!r} (first on line {first_line[pid]})", file=path,
                            line=line, field="id")
        first_line[pid] = line
        outputs[pid] = output
    if not outputs:
        raise DataError("no predictions: the file is empty", file=path)
    return outputs, first_line


def _check_known(path: str | Path, lines: dict[str, int], known_ids: set[str]) -> None:
    for pid, line in lines.items():  # in file order: the first stray id is named
        if pid not in known_ids:
            raise DataError(f"id {pid!r} is not a sample of the gold file", file=path, line=line, field="id")


def read_predictions(path: str | Path, known_ids: set[str] | None = None) -> dict[str, str]:
    """Predictions `{"id", "output"}` from JSONL, as id -> output. Other keys are ignored. A
    duplicate id, or an id not in `known_ids` (a prediction file made for other data), is an
    error naming the line; an empty file is an error naming the file."""
    outputs, lines = _read_predictions(path)
    if known_ids is not None:
        _check_known(path, lines, known_ids)
    return outputs


def sample_record(s: SampleScore) -> dict[str, Any]:
    """What scores.json keeps of one scored turn: its rewards and problems, and every per-turn
    value the metrics are built from, so they can be recomputed over any subset or resample
    of conversations (thinkact.evaluate.stats)."""
    return {"reward": s.reward, "components": s.components, "turn_correct": s.turn_correct,
            "problems": s.problems, "conversation_id": s.conversation_id, "kind": s.kind,
            "decision_correct": s.decision_correct, "format_valid": s.format_valid,
            "reasoning_words": s.reasoning_words, "names_correct": s.names_correct,
            "exact_call": s.exact_call,
            "argument_counts": list(s.argument_counts) if s.argument_counts is not None else None,
            "reply_similarity": s.reply_similarity, "form": s.form}


def score_files(gold_path: str | Path, pred_path: str | Path, *, out: str | Path | None = None,
                weights: RewardWeights | None = None, think: Think = "optional",
                answer_method: AnswerMethod = "f1", budget: int = 64, reply_threshold: float = 0.5,
                progress: bool = False, parse: Parse = "native", tokenizer: Any = None,
                workers: int | None = None) -> dict[str, Any]:
    """Score a prediction file against gold turn samples (no model needed).

    `parse`: read outputs natively or strictly (see thinkact.native); `tokenizer`: the model's,
    when there is one, so native reading can use its chat template's response parser;
    `workers`: processes that read and score parts of the gold file (default: one per CPU for
    a large file, see `gold_workers`). Returns (and writes to `out` as JSON when given)
    `{"metrics": aggregate(...), "samples": {id: sample_record(...)}, "settings": {...}}`.
    """
    weights = weights or RewardWeights()
    reader = OutputReader(parse, tokenizer)
    settings = {"weights": weights, "think": think, "answer_method": answer_method, "budget": budget,
                "reply_threshold": reply_threshold}
    gold_path = Path(gold_path)
    with gc_paused():  # the samples and scores are freed (by reference counting) inside
        try:
            outputs, pred_lines = _read_predictions(pred_path)
        except DataError:
            read_gold(gold_path)  # a broken gold file is named first, as it is read first
            raise
        raw = read_bytes(gold_path)
        parts = _score_parts(gold_path, raw, outputs, reader, settings,
                             workers or gold_workers(len(raw)), progress)
        del raw
        scores = [s for part in parts for s in part.scores]
        _check_gold(gold_path, scores, [line for part in parts for line in part.lines])
        _check_known(pred_path, pred_lines, {s.id for s in scores})
        result = {
            "metrics": aggregate(scores),
            "samples": {k: v for part in parts for k, v in part.records.items()},
            "settings": {"think": think, "answer_method": answer_method, "budget": budget,
                         "reply_threshold": reply_threshold, "weights": weights.model_dump(),
                         "parse": reader.parse, "template_parser": reader.template is not None},
        }
        if out is not None:
            write_atomic(out, dumps_scores(result, ",\n".join(p.text for p in parts if p.text)) + "\n")
    return result


# --------------------------------------------------------------------------- parts in parallel

# Below this a gold file is scored in one process: starting another costs more than it saves.
PARALLEL_BYTES = 8 << 20


def gold_workers(size: int) -> int:
    """Processes for a gold file of `size` bytes: one per usable CPU (at most 4) where processes
    can be forked, else one."""
    if size < PARALLEL_BYTES or "fork" not in mp.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


@dataclass
class _Part:
    """One part of the gold file, scored: its scores and their lines, records and their text."""

    scores: list[SampleScore]
    lines: list[int]
    records: dict[str, dict[str, Any]]
    text: str


def _line_cuts(raw: bytes, parts: int) -> list[tuple[int, int, int]]:
    """`raw` cut into about equal parts at line ends: (start, end, number of the first line)."""
    cuts, start, line = [], 0, 1
    for i in range(1, parts + 1):
        end = len(raw) if i == parts else raw.find(b"\n", max(start, len(raw) * i // parts))
        end = len(raw) if end < 0 else end + (i < parts)
        if end > start:
            cuts.append((start, end, line))
            line += raw.count(b"\n", start, end)
        start = end
    return cuts or [(0, 0, 1)]


def _score_part(path: Path, raw: bytes, first_line: int, outputs: dict[str, str], reader: OutputReader,
                settings: dict[str, Any], progress: bool = False) -> _Part:
    lines, samples = [], []
    # The chat template's response parser reads an output after its prompt: whole samples then.
    model = TurnSample if reader.template is not None else GoldTurn
    for line, sample in _gold_records(path, split_lines(raw, path, first_line), model):
        lines.append(line)
        samples.append(sample)
    scores = turn_scores(samples, outputs, reader=reader, progress=progress and bool(samples), **settings)
    records = {s.id: sample_record(s) for s in scores}
    return _Part(scores, lines, records, records_text(records))


# What forked workers read: set before they start, inherited rather than sent (the gold
# file's bytes would otherwise be pickled to each of them).
_JOB: tuple[Any, ...] = ()


def _run_part(index: int) -> _Part:
    path, raw, cuts, outputs, reader, settings = _JOB
    start, end, first_line = cuts[index]
    return _score_part(path, raw[start:end], first_line, outputs, reader, settings)


def _score_parts(path: Path, raw: bytes, outputs: dict[str, str], reader: OutputReader,
                 settings: dict[str, Any], workers: int, progress: bool) -> list[_Part]:
    """The gold file scored in `workers` parts: this process takes the first, forked processes
    the others. Each part reads its own lines, so errors name the same lines as one process."""
    cuts = _line_cuts(raw, workers)
    if len(cuts) == 1:
        return [_score_part(path, raw, 1, outputs, reader, settings, progress)]
    global _JOB
    _JOB = (path, raw, cuts, outputs, reader, settings)
    try:
        with ProcessPoolExecutor(len(cuts) - 1, mp_context=mp.get_context("fork")) as pool:
            others = [pool.submit(_run_part, i) for i in range(1, len(cuts))]
            first = _run_part(0)
            return [first] + [f.result() for f in others]
    finally:
        _JOB = ()


@contextmanager
def gc_paused():
    """No cyclic garbage collection inside. Reading and scoring a large file make millions of
    small objects and no cycles; each collection would walk all of them again (it was most of
    the time of reading the gold file). Objects made inside are freed by reference counting as
    ever; those still alive on leaving are walked once by the next collection, so the callers
    here leave with little."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def records_text(records: dict[str, dict[str, Any]]) -> str:
    """Per-sample records as the scores file writes them: one compact line each (see
    `dumps_scores`), joined by ",\\n"."""
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    return ",\n".join(f"    {dumps(k)}: {dumps(v)}" for k, v in records.items())


def dumps_scores(result: dict[str, Any], samples_text: str | None = None) -> str:
    """The scores file's text: its sections indented, each per-sample record on one line
    (`samples_text`: `records_text` of the samples, when already made).

    An indented json.dumps runs json's pure-Python encoder, one generator per container: for
    20,000 records that was a third of `thinkact score`'s time. One compact line per record
    goes through json's C encoder, and a file of many records reads (and greps) better that way.
    """
    parts = []
    for key, value in result.items():
        if key == "samples" and isinstance(value, dict) and value:
            records = samples_text if samples_text is not None else records_text(value)
            parts.append(f'  {json.dumps(key)}: {{\n{records}\n  }}')
        else:
            parts.append(f"  {json.dumps(key)}: "
                         + json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}"


def metrics_table(metrics: dict[str, Any], title: str = "scores") -> Any:
    """The headline metrics as a rich table (counts last)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, dict):
            continue  # breakdowns
        table.add_row(name, "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
    return table
