"""BFCL: run a model on, or score predictions for, the single-turn categories `bfcl-eval` ships,
with BFCL's own checker.

A prediction is raw model text, read natively (any call format the model uses: our grammar,
<tool_call> tags, fenced or bare JSON, BFCL's Python syntax; see thinkact.native) or strictly
(our grammar only). Its calls become BFCL's form, a list of `{name: {arg: value}}`, and BFCL's
AST checker (`bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker`) judges them against the
possible answers. For irrelevance categories a prediction is correct when it makes no call,
judged with BFCL's own `is_empty_output`. Like BFCL's decoder, which fails on malformed syntax,
a malformed output (bad JSON, a call without a name; read strictly, any grammar problem) decodes
to no call at all. Model text is only ever parsed, never run.

BFCL's checker imports `bfcl_eval.constants.model_config`, which imports every API client
BFCL supports; a lean install (`pip install --no-deps bfcl-eval`) lacks them. The checker only
reads `MODEL_CONFIG_MAPPING[model].underscore_to_dot`, so a stand-in module whose mapping
answers `underscore_to_dot=False` for any model is registered while the checker is imported.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from thinkact.data.bfcl import (BFCL_CATEGORIES, BfclEntry, bfcl_entry_to_conversation, bfcl_tool,
                                load_bfcl_category)
from thinkact.data.turns import conversation_to_turns
from thinkact.native import NativeRead, OutputReader, Parse
from thinkact.rundir import side_file
from thinkact.schema import DataError, iter_jsonl_dicts

DEFAULT_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
                      "live_simple", "live_multiple", "live_irrelevance")
MODEL_NAME = "thinkact"  # the name the checker is given; it looks up underscore_to_dot with it


@dataclass(frozen=True)
class _NoDotRewrite:
    underscore_to_dot: bool = False


class _AnyModel(dict):
    """MODEL_CONFIG_MAPPING stand-in: every model keeps dots in function names."""

    def __missing__(self, key: str) -> _NoDotRewrite:
        return _NoDotRewrite()


@dataclass(frozen=True)
class BfclChecker:
    ast_checker: Callable[..., dict[str, Any]]
    is_empty_output: Callable[[Any], bool]
    is_function_calling_format_output: Callable[[Any], bool]
    language: Any  # bfcl_eval.constants.enums.Language.PYTHON
    model_name: str


@lru_cache(maxsize=1)
def bfcl_checker() -> BfclChecker:
    """BFCL's checker functions, imported without its API clients."""
    key = "bfcl_eval.constants.model_config"
    ours = key not in sys.modules
    if ours:
        stand_in = types.ModuleType(key)
        stand_in.MODEL_CONFIG_MAPPING = _AnyModel()
        sys.modules[key] = stand_in
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval import ast_checker as module
        from bfcl_eval.utils import is_empty_output, is_function_calling_format_output
    except ImportError as exc:
        raise RuntimeError("BFCL scoring needs bfcl-eval: pip install --no-deps "
                           f"bfcl-eval==2026.3.23 ({exc})") from None
    finally:
        if ours:  # the checker keeps its reference; later imports see the real module
            del sys.modules[key]
    return BfclChecker(module.ast_checker, is_empty_output, is_function_calling_format_output,
                       Language.PYTHON, _model_name(module.MODEL_CONFIG_MAPPING))


def _model_name(mapping: Any) -> str:
    """A model name for which the checker keeps dots in function names. With the real mapping
    (bfcl-eval fully installed and imported first), one of its models that does."""
    if isinstance(mapping, _AnyModel):
        return MODEL_NAME
    for name, cfg in mapping.items():
        if "_" not in name and not getattr(cfg, "underscore_to_dot", True):
            return name
    raise RuntimeError("no BFCL model config keeps dots in function names")


# --------------------------------------------------------------------------- scoring

def _decoded(read: NativeRead) -> list[dict[str, dict[str, Any]]] | None:
    if read.faults or (read.parsed.kind == "tool_call" and not read.parsed.tool_calls):
        return None
    return [{c.name: c.arguments} for c in read.parsed.tool_calls]


def decode_calls(output: str, reader: OutputReader | None = None,
                 tools: list[dict[str, Any]] | None = None) -> list[dict[str, dict[str, Any]]] | None:
    """The output's calls in BFCL's form, [{name: {arg: value}}, ...]; None when the output is
    malformed (BFCL's decoder would fail), [] when it is a reply. `reader`: how it is read
    (default: strictly, our grammar); `tools`: the entry's tools, for native reading."""
    return _decoded((reader or OutputReader("strict"))(output, tools=tools))


def check_entry(entry: BfclEntry, output: str, reader: OutputReader | None = None) -> tuple[bool, str]:
    """(correct, why not) for one prediction, as BFCL's evaluation runner decides it; `reader`:
    how the output is read (default: strictly)."""
    checker = bfcl_checker()
    read = (reader or OutputReader("strict"))(output, tools=[bfcl_tool(f) for f in entry.functions])
    decoded = _decoded(read)
    if entry.ground_truth is None:  # irrelevance: any decodable call is wrong
        if decoded is None or checker.is_empty_output(decoded):
            return True, ""
        return False, "made a call where no function is relevant"
    if decoded is None:
        return False, f"malformed output: {'; '.join(read.faults) or 'no readable call'}"
    if not decoded:
        return False, "replied instead of calling"
    if not checker.is_function_calling_format_output(decoded):
        return False, "calls are not in BFCL's function-calling form"
    try:
        result = checker.ast_checker(entry.functions, decoded, entry.ground_truth, checker.language,
                                     entry.category, checker.model_name)
    except Exception as exc:  # the checker assumes well-typed values in places; count it wrong
        return False, f"checker raised {type(exc).__name__}: {exc}"
    if result["valid"]:
        return True, ""
    return False, f"{result.get('error_type', '')}: {json.dumps(result.get('error'), default=str)[:300]}"


def category_of(bfcl_id: str) -> str:
    """simple_python_12 -> simple_python; live_multiple_3-1-0 -> live_multiple."""
    return bfcl_id.rsplit("_", 1)[0]


def read_bfcl_predictions(path: str | Path) -> dict[str, str]:
    preds: dict[str, str] = {}
    for n, obj in iter_jsonl_dicts(path):
        pid, out = obj.get("id"), obj.get("output")
        if not isinstance(pid, str):
            raise DataError("missing or not a string", file=path, line=n, field="id")
        if not isinstance(out, str):
            raise DataError("missing or not a string", file=path, line=n, field="output")
        if pid in preds:
            raise DataError(f"duplicate id {pid!r}", file=path, line=n, field="id")
        preds[pid] = out
    return preds


def score_bfcl(predictions: dict[str, str], categories: list[str] | None = None, *,
               limit: int | None = None, parse: Parse = "native", tokenizer: Any = None) -> dict[str, Any]:
    """Score predictions {BFCL id: output} category by category. Without `categories`, those
    the ids belong to; `limit`: only the first N entries of each were asked for. Accuracy is
    over the entries that have a prediction; `missing` counts the entries asked for (all, or
    the first `limit`) without one. `parse`: read outputs natively or strictly; `tokenizer`:
    the model's, for its chat template's response parser."""
    if categories is None:
        categories = sorted({category_of(i) for i in predictions} & set(BFCL_CATEGORIES))
        if not categories:
            raise DataError("no prediction id belongs to a known BFCL category "
                            f"({', '.join(BFCL_CATEGORIES)})")
    reader = OutputReader(parse, tokenizer)
    result: dict[str, Any] = {"categories": {}, "settings": {"parse": parse, "limit": limit}}
    known: set[str] = set()
    for name in categories:
        entries = load_bfcl_category(name)
        known.update(e.id for e in entries)
        asked = entries[:limit] if limit else entries
        per_id, errors = {}, {}
        for e in asked:
            if e.id in predictions:
                ok, why = check_entry(e, predictions[e.id], reader)
                per_id[e.id] = ok
                if not ok:
                    errors[e.id] = why
        n = len(per_id)
        result["categories"][name] = {
            "accuracy": sum(per_id.values()) / n if n else 0.0, "n": n,
            "missing": len(asked) - n, "per_id": per_id, "errors": errors}
    cats = result["categories"].values()
    scored = sum(c["n"] for c in cats)
    result["overall"] = {
        "accuracy": sum(sum(c["per_id"].values()) for c in cats) / scored if scored else 0.0,
        "macro_accuracy": sum(c["accuracy"] for c in cats) / len(cats) if cats else 0.0,
        "n": scored, "categories": len(cats),
        "unmatched_predictions": len(set(predictions) - known)}
    return result


def format_bfcl(result: dict[str, Any]) -> str:
    """A markdown table: category, n, accuracy."""
    lines = ["| category | n | accuracy |", "|---|---:|---:|"]
    for name, c in result["categories"].items():
        lines.append(f"| {name} | {c['n']} | {c['accuracy']:.3f} |")
    o = result["overall"]
    lines.append(f"| **overall** (macro {o['macro_accuracy']:.3f}) | {o['n']} | {o['accuracy']:.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running a model

def bfcl_samples(categories: list[str], limit: int | None = None):
    """Turn samples for the categories' entries (the first `limit` of each), with their ids."""
    samples, ids = [], []
    for name in categories:
        entries = load_bfcl_category(name)[:limit] if limit else load_bfcl_category(name)
        for e in entries:
            # The entry's own action is the last one; earlier assistant turns are its context.
            samples.append(conversation_to_turns(bfcl_entry_to_conversation(e))[-1])
            ids.append(e.id)
    return samples, ids


def predictions_path(out: str | Path) -> Path:
    """Where run_bfcl writes the predictions of results file `out`: runs/bfcl.json ->
    runs/bfcl.predictions.jsonl, so runs in one folder keep their own."""
    return side_file(out, "predictions.jsonl")


def run_bfcl(model: Any, categories: list[str], *, out: str | Path, tokenizer: Any = None,
             backend: str = "hf", endpoint: str | None = None, batch_size: int = 16,
             max_new_tokens: int = 256, limit: int | None = None, generator: Any = None,
             parse: Parse = "native") -> dict[str, Any]:
    """Generate for each entry of the categories (the first `limit` of each), write the
    predictions ({"id": BFCL id, "output"}) to `predictions_path(out)`, score with BFCL's
    checker (outputs read as `parse` says), write `out`; returns the result."""
    import time

    from thinkact.evaluate.generation import make_generator
    from thinkact.evaluate.runner import generate_all, generation_timing
    from thinkact.schema import write_jsonl

    out = Path(out)
    samples, ids = bfcl_samples(categories, limit)
    if generator is None:
        generator = make_generator(backend, model, tokenizer=tokenizer, endpoint=endpoint,
                                   batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   concurrency=batch_size)
    start = time.perf_counter()
    outputs = generate_all(generator, samples, "BFCL")
    seconds = time.perf_counter() - start
    write_jsonl(predictions_path(out), ({"id": i, "output": o} for i, o in zip(ids, outputs)))
    result = score_bfcl(dict(zip(ids, outputs)), categories, limit=limit, parse=parse,
                        tokenizer=getattr(generator, "tokenizer", None))
    result["generation"] = {"samples": len(samples), "seconds": round(seconds, 3),
                            "samples_per_s": round(len(samples) / max(seconds, 1e-9), 3),
                            **generation_timing(generator)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def score_bfcl_file(pred: str | Path, categories: list[str] | None, *, out: str | Path,
                    limit: int | None = None, parse: Parse = "native", tokenizer: Any = None) -> dict[str, Any]:
    result = score_bfcl(read_bfcl_predictions(pred), categories, limit=limit, parse=parse, tokenizer=tokenizer)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
