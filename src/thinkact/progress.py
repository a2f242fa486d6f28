"""Progress bars that also show up in log files.

rich redraws a progress bar in place on a terminal; where output goes to a file (a job run in
the background, a batch scheduler's log) it prints the bar once, when the work is done, so a
ten-minute training stage or evaluation logs nothing until its end. This `Progress` prints the
current line every `every` seconds there instead: the same columns, one line per report.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich import progress as rp

# Seconds between the lines written to a non-terminal (THINKACT_PROGRESS_EVERY overrides).
EVERY = float(os.environ.get("THINKACT_PROGRESS_EVERY", "30"))


class Progress(rp.Progress):
    """rich's `Progress`, which prints its current state every `every` seconds where the
    console is not interactive."""

    def __init__(self, *columns: Any, every: float | None = None, **kwargs: Any):
        super().__init__(*columns, **kwargs)
        self.every = EVERY if every is None else every
        self._last = time.monotonic()

    def update(self, task_id: rp.TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._report()

    def advance(self, task_id: rp.TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._report()

    def _report(self) -> None:
        console = self.console
        if self.disable or self.live.transient or console.is_interactive or console.is_jupyter:
            return
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        unfinished = [t for t in self.tasks if t.visible and not t.finished]
        if unfinished:  # the finished state is printed by rich itself, at the end
            console.print(self.make_tasks_table(unfinished))
