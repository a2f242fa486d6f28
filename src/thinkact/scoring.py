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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from thinkact.metrics import SampleScore, aggregate, turn_scores
from thinkact.native import OutputReader, Parse
from thinkact.rewards import AnswerMethod, RewardWeights, Think
from thinkact.schema import (DataError, GoldTurn, iter_jsonl_dicts, json_object, jsonl_lines, parse_record,
                             write_atomic)


_TOOLS_KEY = '"tools": '
_DECODER = json.JSONDecoder()


class _SharedTools:
    """Reads gold turns whose tool lists repeat, parsing each distinct list once.

    The tool list is most of a turn sample's bytes (its JSON schemas) and is the same for every
    turn of a domain, so reading a gold file is mostly parsing the same few lists again. For a
    line whose top-level `tools` value is one already seen, the value is cut from the text
    before validation and the list parsed the first time is put in its place: the samples then
    share it (read only). Any line this does not recognise is validated whole, as before."""

    def __init__(self, limit: int = 256):
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

    def read(self, line: str) -> GoldTurn:
        """The line's gold turn (ValidationError as `GoldTurn.model_validate_json` raises it)."""
        start = self._value_start(line)
        if start >= 0:
            for text, tools in self.known.items():
                if line.startswith(text, start):  # a whole JSON array: the value is exactly this
                    sample = GoldTurn.model_validate_json(line[:start] + "[]" + line[start + len(text):])
                    sample.tools = tools
                    return sample
        sample = GoldTurn.model_validate_json(line)
        if start >= 0 and len(self.known) < self.limit:
            _, end = _DECODER.raw_decode(line, start)
            self.known[line[start:end]] = sample.tools
        return sample


def read_gold(path: str | Path) -> list[GoldTurn]:
    """Gold turns from turn-sample JSONL (the fields scoring reads, `GoldTurn`); a duplicate id
    is an error naming both lines, an empty file an
    error naming the file (else every prediction would be 'not a sample of the gold file').
    Tool lists that repeat are parsed once and shared between samples (`_SharedTools`): do
    not mutate them."""
    path = Path(path)
    shared = _SharedTools()
    samples, first_line = [], {}
    for line, sample in _gold_records(path, shared):
        if sample.id in first_line:
            raise DataError(f"duplicate sample id {sample.id!r} (first on line {first_line[sample.id]})",
                            file=path, line=line, field="id")
        first_line[sample.id] = line
        samples.append(sample)
    if not samples:
        raise DataError("no turn samples: the file is empty", file=path)
    return samples


def _gold_records(path: Path, shared: _SharedTools) -> Iterator[tuple[int, GoldTurn]]:
    for lineno, text in jsonl_lines(path):
        try:
            yield lineno, shared.read(text)
        except ValidationError:  # the error and where it is, as the schema reports it
            yield lineno, parse_record(GoldTurn, json_object(text, path, lineno), file=path, line=lineno)


def read_predictions(path: str | Path, known_ids: set[str] | None = None) -> dict[str, str]:
    """Predictions `{"id", "output"}` from JSONL, as id -> output. Other keys are ignored. A
    duplicate id, or an id not in `known_ids` (a prediction file made for other data), is an
    error naming the line; an empty file is an error naming the file."""
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
        if known_ids is not None and pid not in known_ids:
            raise DataError(f"id {pid!r} is not a sample of the gold file", file=path, line=line, field="id")
        first_line[pid] = line
        outputs[pid] = output
    if not outputs:
        raise DataError("no predictions: the file is empty", file=path)
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
                progress: bool = False, parse: Parse = "native", tokenizer: Any = None) -> dict[str, Any]:
    """Score a prediction file against gold turn samples (no model needed).

    `parse`: read outputs natively or strictly (see thinkact.native); `tokenizer`: the model's,
    when there is one, so native reading can use its chat template's response parser. Returns
    (and writes to `out` as JSON when given) `{"metrics": aggregate(...), "samples": {id:
    sample_record(...)}, "settings": {...}}`.
    """
    weights = weights or RewardWeights()
    reader = OutputReader(parse, tokenizer)
    with gc_paused():  # the samples and scores are freed (by reference counting) inside
        result = _score(gold_path, pred_path, weights=weights, think=think, answer_method=answer_method,
                        budget=budget, reply_threshold=reply_threshold, progress=progress, reader=reader)
    if out is not None:
        with gc_paused():
            text = dumps_scores(result)
        write_atomic(out, text + "\n")
    return result


def _score(gold_path: str | Path, pred_path: str | Path, *, weights: RewardWeights, think: Think,
           answer_method: AnswerMethod, budget: int, reply_threshold: float, progress: bool,
           reader: OutputReader) -> dict[str, Any]:
    samples = read_gold(gold_path)
    outputs = read_predictions(pred_path, known_ids={s.id for s in samples})
    scores = turn_scores(samples, outputs, weights=weights, think=think, answer_method=answer_method,
                         budget=budget, reply_threshold=reply_threshold, progress=progress, reader=reader)
    return {
        "metrics": aggregate(scores),
        "samples": {s.id: sample_record(s) for s in scores},
        "settings": {"think": think, "answer_method": answer_method, "budget": budget,
                     "reply_threshold": reply_threshold, "weights": weights.model_dump(),
                     "parse": reader.parse, "template_parser": reader.template is not None},
    }


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


def dumps_scores(result: dict[str, Any]) -> str:
    """The scores file's text: its sections indented, each per-sample record on one line.

    An indented json.dumps runs json's pure-Python encoder, one generator per container: for
    20,000 records that was a third of `thinkact score`'s time. One compact line per record
    goes through json's C encoder, and a file of many records reads (and greps) better that way.
    """
    def dumps(value: Any, **kw: Any) -> str:
        return json.dumps(value, ensure_ascii=False, **kw)

    parts = []
    for key, value in result.items():
        if key == "samples" and isinstance(value, dict) and value:
            records = ",\n".join(f"    {dumps(k)}: {dumps(v)}" for k, v in value.items())
            parts.append(f'  {dumps(key)}: {{\n{records}\n  }}')
        else:
            parts.append(f"  {dumps(key)}: " + dumps(value, indent=2).replace("\n", "\n  "))
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
