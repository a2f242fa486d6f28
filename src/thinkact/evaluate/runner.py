"""Evaluate a model on turn samples: generate one action per sample, write the predictions,
score them with the same code as `thinkact score`.

    evaluate_model(model_dir, samples, out_dir=Path("eval/sft/test"))

writes `predictions.jsonl` ({"id", "output"} per sample) and `scores.json` (exactly what
`thinkact score --gold <samples> --pred predictions.jsonl` writes) into `out_dir`, and returns
the scores. The training pipeline calls it for each stage and split.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from thinkact.evaluate.generation import make_generator
from thinkact.schema import TurnSample, write_jsonl

PREDICTIONS = "predictions.jsonl"
GOLD = "gold.jsonl"
SCORES = "scores.json"
GENERATION = "generation.json"  # timing: samples, seconds, samples/s


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())


def generate_all(generator: Any, samples: list[TurnSample], description: str = "generating") -> list[str]:
    """Outputs for all samples, in order, with a progress bar and a samples/s rate."""
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(description, total=len(samples), rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            done = bar.tasks[task].completed
            bar.update(task, rate=f"{done / max(time.perf_counter() - start, 1e-9):.1f}/s")

        return generator.generate(samples, advance)


def write_predictions(path: str | Path, samples: list[TurnSample], outputs: list[str]) -> Path:
    if len(samples) != len(outputs):
        raise ValueError(f"{len(samples)} samples but {len(outputs)} outputs")
    path = Path(path)
    write_jsonl(path, ({"id": s.id, "output": o} for s, o in zip(samples, outputs)))
    return path


def evaluate_model(model_or_path: Any, samples: list[TurnSample], *, out_dir: str | Path,
                   think: str = "optional", batch_size: int = 16, max_new_tokens: int = 256,
                   tokenizer: Any = None, backend: str = "hf", endpoint: str | None = None,
                   results_path: str | Path | None = None, generator: Any = None,
                   weights: Any = None, answer_method: str = "f1", budget: int = 64) -> dict[str, Any]:
    """Generate, write predictions and gold beside them, score; returns the scores dict
    ({"metrics": {...}, "samples": {id: {...}}}), also written to `results_path`
    (default `out_dir/scores.json`). Generation timing goes to `out_dir/generation.json`.

    `model_or_path` is a model folder, a loaded model (then pass `tokenizer`), or for the
    openai back-end the model name the endpoint serves. A ready `generator` skips loading.
    `think`, `weights`, `answer_method` and `budget` are the scoring settings (see
    `thinkact.scoring.score_files`).
    """
    from thinkact.scoring import score_files

    if not samples:
        raise ValueError("no turn samples to evaluate")
    out_dir = Path(out_dir)  # created once there are outputs: a failed start leaves no empty folder
    if generator is None:
        generator = make_generator(backend, model_or_path, tokenizer=tokenizer, endpoint=endpoint,
                                   batch_size=batch_size, max_new_tokens=max_new_tokens)
    start = time.perf_counter()
    outputs = generate_all(generator, samples, "generating")
    seconds = time.perf_counter() - start
    pred = write_predictions(out_dir / PREDICTIONS, samples, outputs)
    # The exact samples scored, so `thinkact score --gold gold.jsonl --pred predictions.jsonl`
    # reproduces the numbers even for a subset of a larger file.
    gold = out_dir / GOLD
    write_jsonl(gold, samples)
    results_path = Path(results_path) if results_path is not None else out_dir / SCORES
    scores = score_files(gold, pred, out=results_path, think=think, weights=weights,
                         answer_method=answer_method, budget=budget)
    timing = {"samples": len(samples), "seconds": round(seconds, 3), "backend": backend,
              "samples_per_s": round(len(samples) / max(seconds, 1e-9), 3)}
    (out_dir / GENERATION).write_text(json.dumps(timing, indent=2) + "\n", encoding="utf-8")
    return scores
