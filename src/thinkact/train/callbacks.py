"""Trainer callbacks: every logged step to train_log.jsonl, and a rich progress bar."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from thinkact.progress import Progress
from thinkact.schema import json_line, read_log, write_jsonl

# Shown beside the bar when present in a step's logs, in this order.
SHOWN = (("loss", "loss"), ("reward", "reward"), ("frac_reward_zero_std", "zero-std"),
         ("reasoning_length", "think words"))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    return value


def trim_log(path: Path, last_step: int) -> None:
    """Keep the log lines up to `last_step` (a resumed run repeats the steps after its
    checkpoint) and drop a line cut short by a kill."""
    if path.exists():
        write_jsonl(path, (row for row in read_log(path) if row["step"] <= last_step))


class JsonlLogger(TrainerCallback):
    """One JSON object per log event: {"step", "epoch", every key the trainer logged}."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": state.epoch,
               **{k: _clean(v) for k, v in logs.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json_line(row))


class RichProgress(TrainerCallback):
    """A progress bar per training run, with the latest loss / reward beside it."""

    def __init__(self, label: str, console: Any = None):
        self.label = label
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step,
                                           label=self.label, info="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not logs:
            return
        info = "  ".join(f"{name} {logs[key]:.3g}" for key, name in SHOWN
                         if isinstance(logs.get(key), (int, float)))
        if info:
            self.progress.update(self.task, info=info)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()
            self.progress = None
