"""`thinkact pipeline` with several training seeds (a config's `seeds`, e.g. the `results` preset):
one complete run per seed, then the results over the seeds with bootstrap intervals.

    RUN_DIR/run_config.yaml         the resolved config, seeds included (a rerun with another is refused)
    RUN_DIR/seed-<k>/               a complete pipeline run folder (thinkact.pipeline) whose
                                    stages are all seeded k; resumable on its own, reportable on its own
    RUN_DIR/results.json            rows over the seeds: each metric's mean, the 95% bootstrap
                                    interval over conversations of that mean, each seed's value and
                                    the sample sizes; paired comparisons (GRPO and cold start against
                                    base SFT, GRPO against the cold start); each seed's own rows
                                    (seed_rows) and GRPO summary
    RUN_DIR/results.md              the table, intervals in brackets, and the comparisons
    RUN_DIR/timings.json            wall seconds of each seed's steps, `seed-<k>/<step>`

The data and the vanilla model's evaluation do not depend on the training seed: the first seed's
run makes them and the other runs copy them. Seeds run one after the other; a killed run started
again with the same arguments skips finished seeds and resumes the one it was in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from thinkact.rundir import RunDir
from thinkact.train.config import PipelineConfig


def collect_seed_results(out: str | Path, seeds: list[int], splits: list[str] | None = None) -> dict[str, Any]:
    """What RUN_DIR/results.json holds, from the seeds' run folders."""
    from thinkact.evaluate.results import grpo_summary, seed_results
    from thinkact.pipeline import read_timings

    runs = {k: RunDir(out).seed(k) for k in seeds}
    runs = {k: run for k, run in runs.items() if run.path.is_dir()}
    results = seed_results(out, {k: run.path for k, run in runs.items()}, splits)
    timings = {f"{run.path.name}/{step}": t for run in runs.values() for step, t in read_timings(run).items()}
    grpo = {str(k): grpo_summary(run.stage_log("grpo")) for k, run in runs.items()}
    return {**results, "grpo_per_seed": {k: g for k, g in grpo.items() if g}, "timings": timings}


def run_seeds(cfg: PipelineConfig, out: str | Path, *, overwrite: bool = False, dry_run: bool = False,
              console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) one pipeline per seed of `cfg.seeds` into RUN_DIR/seed-<k>/, then write
    the results over the seeds; returns what RUN_DIR/results.json holds."""
    from thinkact.pipeline import open_run, print_summary, run_pipeline, write_results
    from thinkact.schema import write_atomic

    if not cfg.seeds:
        raise ValueError("run_seeds needs a config with seeds")
    console = console or Console()
    run = RunDir(out)
    open_run(cfg, run.path, overwrite)
    first = None
    for k in cfg.seeds:
        folder = run.seed(k).path
        console.rule(f"seed {k} ({cfg.seeds.index(k) + 1} of {len(cfg.seeds)}) -> {folder}")
        run_pipeline(cfg.for_seed(k), folder, dry_run=dry_run, console=console, share_from=first)
        first = first or folder

    results = collect_seed_results(run.path, cfg.seeds, list(cfg.eval.splits))
    write_results(run.path, results)
    write_atomic(run.timings, json.dumps(results["timings"], indent=2) + "\n")
    console.rule(f"summary over seeds {', '.join(map(str, cfg.seeds))}")
    print_summary(console, run.path, results)
    return results
