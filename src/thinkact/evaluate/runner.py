"""Evaluate a model on turn samples: generate one action per sample, write the predictions,
score them with the same code as `thinkact score`.

    evaluate_model(model_dir, samples, out="eval/sft/test")

writes `predictions.jsonl` ({"id", "output"} per sample), `gold.jsonl` (the samples scored) and
`scores.json` (exactly what `thinkact score --gold gold.jsonl --pred predictions.jsonl` writes)
into the folder, and returns the scores. The pipeline calls it for each stage and split.
`out=EvalFiles.beside("runs/x.json")` writes the scores to runs/x.json and names the other files
after it (runs/x.predictions.jsonl, ...), as `thinkact eval --out runs/x.json` does, so
evaluations into one folder keep their own files.

With an endpoint (the openai back-end) each prediction is appended to the predictions file as it
arrives, so a killed run loses nothing, and running the same evaluation again asks only for the
samples not in it yet. Samples the endpoint gave no answer for are listed with the reason in the
errors file (errors.jsonl); they are scored as missing predictions and asked for again by the
next run.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from thinkact.evaluate.generation import OpenAIGenerator, make_generator
from thinkact.progress import Progress
from thinkact.rundir import EvalFiles
from thinkact.schema import DataError, TurnSample, iter_jsonl_dicts, json_line, write_atomic, write_jsonl

# As schema writes files: a lone surrogate (an endpoint's JSON may escape one) written as its
# JSON escape, which has a UTF-8 encoding.
OPEN_TEXT = {"encoding": "utf-8", "errors": "backslashreplace"}


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())


@contextmanager
def progress(total: int, description: str, done: int = 0) -> Iterator[Callable[[int], None]]:
    """A progress bar starting at `done` of `total`; yields advance(n), which also shows the
    rate of the samples generated here."""
    start = time.perf_counter()
    new = 0
    with progress_bar() as bar:
        task = bar.add_task(description, total=total, completed=done, rate="")

        def advance(n: int) -> None:
            nonlocal new
            new += n
            bar.update(task, advance=n, rate=f"{new / max(time.perf_counter() - start, 1e-9):.1f}/s")

        yield advance


def generate_all(generator: Any, samples: list[TurnSample], description: str = "generating") -> list[str]:
    """Outputs for all samples, in order, with a progress bar and a samples/s rate."""
    with progress(len(samples), description) as advance:
        return generator.generate(samples, advance)


def generation_timing(generator: Any) -> dict[str, Any]:
    """Where a local back-end's time went (HFGenerator: prefill against decoding), rounded."""
    timing = getattr(generator, "timing", None)
    if not isinstance(timing, dict):
        return {}
    out = {k: round(v, 3) if isinstance(v, float) else v for k, v in timing.items()}
    out["new_tokens"] = getattr(generator, "new_tokens", None)
    return out


def write_predictions(path: str | Path, samples: list[TurnSample], outputs: list[str]) -> Path:
    if len(samples) != len(outputs):
        raise ValueError(f"{len(samples)} samples but {len(outputs)} outputs")
    path = Path(path)
    write_jsonl(path, ({"id": s.id, "output": o} for s, o in zip(samples, outputs)))
    return path


def read_finished(path: str | Path, samples: list[TurnSample], model: str) -> dict[str, str]:
    """Predictions an earlier run wrote to `path` (id -> output), to be kept, not asked for
    again. A last line cut short by a killed run is dropped. A line from another model, or for
    a sample not being evaluated, is an error naming it: the file belongs to another evaluation."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):  # the run was killed while writing this line
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
    known = {s.id for s in samples}
    other = "predictions of another evaluation: use another --out, or remove the file"
    done: dict[str, str] = {}
    for line, obj in iter_jsonl_dicts(path):
        pid, output = obj.get("id"), obj.get("output")
        if pid not in known:
            raise DataError(f"id {pid!r} is not among the samples evaluated ({other})", file=path,
                            line=line, field="id")
        if pid in done:
            raise DataError(f"duplicate id {pid!r}", file=path, line=line, field="id")
        if not isinstance(output, str):
            raise DataError("'output' must be the raw model text (a string)", file=path, line=line,
                            field="output")
        if obj.get("model") != model:
            raise DataError(f"written for model {obj.get('model')!r}, not {model!r} ({other})",
                            file=path, line=line, field="model")
        done[pid] = output
    return done


def generate_resumable(generator: OpenAIGenerator, samples: list[TurnSample], files: EvalFiles) -> dict[str, int]:
    """Ask the endpoint for the samples not yet in the predictions file, appending each
    prediction as it arrives (and each failure to the errors file), then rewrite the file in the
    samples' order. Returns counts: samples kept from before, requested, failed."""
    pred, errors = files.predictions, files.errors
    done = read_finished(pred, samples, generator.model)
    pred.parent.mkdir(parents=True, exist_ok=True)  # predictions are appended as they arrive
    kept = len(done)
    todo = [s for s in samples if s.id not in done]
    failed = 0
    try:
        with progress(len(samples), "generating", done=kept) as advance, \
                pred.open("a", **OPEN_TEXT) as out, errors.open("w", **OPEN_TEXT) as err:
            for i, output, error in generator.results(todo):
                sid = todo[i].id
                if output is not None:
                    done[sid] = output
                    out.write(json_line({"id": sid, "output": output, "model": generator.model}))
                    out.flush()
                else:
                    failed += 1
                    err.write(json_line({"id": sid, "error": error}))
                    err.flush()
                advance(1)
    finally:
        if not failed:  # no stale errors from an earlier run left beside the predictions
            errors.unlink(missing_ok=True)
    # In the samples' order, so the finished file does not depend on which answer came first;
    # written atomically, so a kill now leaves the appended file whole.
    write_jsonl(pred, ({"id": s.id, "output": done[s.id], "model": generator.model}
                       for s in samples if s.id in done))
    return {"kept": kept, "requested": len(todo), "failed": failed}


def evaluate_model(model_or_path: Any, samples: list[TurnSample], *, out: str | Path | EvalFiles,
                   think: str = "optional", batch_size: int = 16, max_new_tokens: int = 256,
                   tokenizer: Any = None, backend: str = "hf", endpoint: str | None = None,
                   concurrency: int = 8, timeout: float = 300.0, attempts: int = 5,
                   generator: Any = None, weights: Any = None, answer_method: str = "f1",
                   budget: int = 64, parse: str = "native") -> dict[str, Any]:
    """Generate, write predictions and gold, score; returns the scores dict
    ({"metrics": {...}, "samples": {id: {...}}}), also written to the scores file. `out`: a
    folder (scores.json, predictions.jsonl, gold.jsonl, generation.json with the generation
    timing in it) or the EvalFiles to write.

    `model_or_path` is a model folder, a loaded model (then pass `tokenizer`), or for the
    openai back-end the model name the endpoint serves (`concurrency`, `timeout` and
    `attempts` are its settings; it resumes, see the module). A ready `generator` skips loading.
    `think`, `weights`, `answer_method`, `budget` and `parse` (native or strict reading of the
    outputs) are the scoring settings (see `thinkact.scoring.score_files`); native reading uses
    the generator's tokenizer, when it has one, for the chat template's response parser.
    """
    from thinkact.scoring import score_files

    if not samples:
        raise ValueError("no turn samples to evaluate")
    # Folders are created once there are outputs: a failed start leaves no empty folder.
    files = out if isinstance(out, EvalFiles) else EvalFiles.in_folder(out)
    if generator is None:
        generator = make_generator(backend, model_or_path, tokenizer=tokenizer, endpoint=endpoint,
                                   batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   concurrency=concurrency, timeout=timeout, attempts=attempts)
    pred = files.predictions
    start = time.perf_counter()
    if isinstance(generator, OpenAIGenerator):
        counts = generate_resumable(generator, samples, files)
        generated = counts["requested"] - counts["failed"]
    else:
        counts = {}
        generated = len(samples)
        write_predictions(pred, samples, generate_all(generator, samples, "generating"))
    seconds = time.perf_counter() - start
    # The exact samples scored, so `thinkact score --gold gold.jsonl --pred predictions.jsonl`
    # reproduces the numbers even for a subset of a larger file.
    gold = files.gold
    write_jsonl(gold, samples)
    scores = score_files(gold, pred, out=files.scores, think=think, weights=weights,
                         answer_method=answer_method, budget=budget, parse=parse,
                         tokenizer=getattr(generator, "tokenizer", None))
    timing = {"samples": len(samples), "seconds": round(seconds, 3), "backend": backend,
              "samples_per_s": round(generated / max(seconds, 1e-9), 3), **counts,
              **generation_timing(generator)}
    write_atomic(files.generation, json.dumps(timing, indent=2) + "\n")
    return scores
