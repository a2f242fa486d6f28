"""`thinkact pipeline` with several training seeds (a config's `seeds`, e.g. the `results` preset):
one complete run per seed, then the results over the seeds with bootstrap intervals.

    RUN_DIR/run_config.yaml         the resolved config, seeds included (a rerun with another is refused)
    RUN_DIR/seed-<k>/               a complete pipeline run folder (thinkact.pipeline) whose
                                    stages are all seeded k; resumable on its own, reportable on its own
    RUN_DIR/results.json            rows over the seeds: each metric's mean, the 95% bootstrap
                                    interval over conversations of that mean, each seed's value and
                                    the sample sizes; paired comparisons (GRPO and cold start against
                                    base SFT); each seed's own rows (seed_rows) and GRPO summary
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

from thinkact.train.config import PipelineConfig


def seed_dir(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def collect_seed_results(out: Path, seeds: list[int], splits: list[str] | None = None) -> dict[str, Any]:
    """What RUN_DIR/results.json holds, from the seeds' run folders."""
    from thinkact.evaluate.results import seed_results
    from thinkact.evaluate.results import grpo_summary

    runs = {k: seed_dir(out, k) for k in seeds if seed_dir(out, k).is_dir()}
    results = seed_results(out, runs, splits)
    timings = {}
    for k, path in runs.items():
        if (path / "timings.json").is_file():
            timings.update({f"{path.name}/{step}": t
                            for step, t in json.loads((path / "timings.json").read_text()).items()})
    grpo = {str(k): grpo_summary(path / "stages" / "grpo" / "train_log.jsonl") for k, path in runs.items()}
    return {**results, "grpo_per_seed": {k: g for k, g in grpo.items() if g}, "timings": timings}


def run_seeds(cfg: PipelineConfig, out: str | Path, *, overwrite: bool = False, dry_run: bool = False,
              console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) one pipeline per seed of `cfg.seeds` into RUN_DIR/seed-<k>/, then write
    the results over the seeds; returns what RUN_DIR/results.json holds."""
    from thinkact.schema import write_atomic
    from thinkact.pipeline import open_run, print_summary, run_pipeline, write_results

    if not cfg.seeds:
        raise ValueError("run_seeds needs a config with seeds")
    console = console or Console()
    out = Path(out)
    open_run(cfg, out, overwrite)
    first = None
    for k in cfg.seeds:
        console.rule(f"seed {k} ({cfg.seeds.index(k) + 1} of {len(cfg.seeds)}) -> {seed_dir(out, k)}")
        run_pipeline(cfg.for_seed(k), seed_dir(out, k), dry_run=dry_run, console=console, share_from=first)
        first = first or seed_dir(out, k)

    results = collect_seed_results(out, cfg.seeds, list(cfg.eval.splits))
    write_results(out, results)
    write_atomic(out / "timings.json", json.dumps(results["timings"], indent=2) + "\n")
    console.rule(f"summary over seeds {', '.join(map(str, cfg.seeds))}")
    print_summary(console, out, results)
    return results
