"""`thinkact ablate`: GRPO variants from a finished pipeline run, each evaluated on test and ood.

A variant is a small YAML overlay on the run's GRPO settings (thinkact/recipes/ablations/, or
any file a user writes):

    description: without the tool reward       one line for the table
    start: coldstart                           the model GRPO starts from: coldstart (default) or sft
    grpo:                                      keys merged over the run's `grpo` settings
      reward: {weights: {tool: 0}}
    scale_weights: {tool: 2}                   reward weights multiplied by these factors
    seed_offset: 1                             the run's GRPO seed plus this

Everything else (steps, seed, data, evaluation) is the run's own, so a variant differs from the
run's GRPO only where its overlay says.

Into an ablation folder (thinkact.rundir.AblationDir; default RUN_DIR/ablate/): each variant's
GRPO stage (resumable, see train.stage), its evaluation on every split, and the table
(ablate.json, ablate.md): per variant and split, metrics with 95% bootstrap intervals over
conversations, and turn accuracy paired against the run's GRPO and base SFT.

Each variant is kept once finished; a killed ablation resumes where it stopped; a variant
whose overlay changed is refused (the stage's rule) unless `overwrite`.
"""

from __future__ import annotations

import json
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console

from thinkact.evaluate.results import REFERENCES, ablation_markdown
from thinkact.pipeline import eval_subset, evaluate_stage, open_run, read_timings
from thinkact.rundir import AblationDir, RunDir
from thinkact.schema import DataError, read_turns, write_atomic
from thinkact.train.config import (GRPOSettings, PipelineConfig, StageConfig, _error_loc, _validation_error,
                                   merge_config, upgrade_saved)

DEFAULT_VARIANTS = ("full", "other-seed", "no-format", "no-decision", "no-tool", "no-answer", "no-efficiency",
                    "tool-x2", "answer-x2", "binary", "no-think", "no-coldstart")


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    description: str = ""
    start: Literal["coldstart", "sft"] = "coldstart"
    grpo: dict[str, Any] = Field(default_factory=dict)
    scale_weights: dict[Literal["format", "decision", "tool", "answer", "efficiency"], float] = \
        Field(default_factory=dict)
    seed_offset: int = 0


def variant_names() -> list[str]:
    folder = resources.files("thinkact") / "recipes" / "ablations"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_variant(name: str) -> Variant:
    """A shipped variant by name, or a YAML file (its name is the file's stem)."""
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise DataError("no such variant file", file=path)
    else:
        path = Path(str(resources.files("thinkact") / "recipes" / "ablations" / f"{name}.yaml"))
        if not path.is_file():
            raise DataError(f"unknown variant '{name}'; shipped variants: {', '.join(variant_names())}, "
                            "or give a YAML file")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"invalid YAML ({exc})", file=path) from None
    if not isinstance(data, dict):
        raise DataError("a variant is a mapping of keys", file=path)
    try:
        variant = Variant.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, Variant, path, text) from None
    variant.name = path.stem
    if variant.name in REFERENCES.values():
        raise DataError(f"'{variant.name}' is the name of one of the run's own rows", file=path)
    return variant


def variant_settings(cfg: PipelineConfig, variant: Variant) -> GRPOSettings:
    """The run's GRPO settings with the variant's overlay on them."""
    data = merge_config(cfg.grpo.model_dump(mode="json"), variant.grpo)
    data["seed"] = data.get("seed", cfg.grpo.seed) + variant.seed_offset
    weights = data.setdefault("reward", {}).setdefault("weights", {})
    for component, factor in variant.scale_weights.items():
        weights[component] = weights.get(component, getattr(cfg.grpo.reward.weights, component)) * factor
    try:
        return GRPOSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, _error_loc(err)))
        raise DataError(f"variant '{variant.name}': {err['msg']}", field=f"grpo.{where}" if where else None) from None


def _start_model(run: RunDir, start: str) -> Path:
    if not run.stage_done(start):
        raise DataError(f"the run has no finished {start} model; finish the pipeline first "
                        "(thinkact pipeline --out RUN_DIR resumes it)", file=run.stage_model(start))
    return run.stage_model(start)


def read_run(run: RunDir) -> PipelineConfig:
    saved = run.config
    if not saved.is_file():
        if any(r.config.is_file() for r in run.seeds().values()):
            raise DataError("a run of several seeds: ablate one of them (RUN_DIR/seed-<k>)", file=run.path)
        raise DataError(f"not a pipeline run folder (no {saved.name})", file=run.path)
    try:
        # the config as the pipeline saved it, in the current form whichever version wrote it
        return PipelineConfig.model_validate(upgrade_saved(yaml.safe_load(saved.read_text(encoding="utf-8")) or {}))
    except ValidationError as exc:
        raise _validation_error(exc, PipelineConfig, saved, saved.read_text(encoding="utf-8")) from None


def seconds_per_variant(run: RunDir) -> float | None:
    """What one variant should take: the run's own GRPO training and its evaluation."""
    times = read_timings(run)
    per = sum(v for k, v in times.items() if k == "train/grpo" or k.startswith("eval/grpo/"))
    return per or None


def _progress(console: Console, done: int, total: int, name: str, left: float | None) -> None:
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    line = Table.grid(padding=(0, 1))
    line.add_row(f"variant {done + 1}/{total}", ProgressBar(total=total, completed=done, width=30),
                 f"about {left / 60:.0f} min left" if left is not None else "")
    console.rule(name)
    console.print(line)


def run_ablation(run: str | Path, variants: list[str] | None = None, out: str | Path | None = None, *,
                 overwrite: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) the GRPO variants of a finished pipeline run; returns what ablate.json holds."""
    from thinkact.train.stage import quiet_libraries, train_stage

    console = console or Console()
    run = RunDir(run)
    cfg = read_run(run)
    out = AblationDir(out) if out is not None else run.ablation
    chosen = [load_variant(v) for v in (variants or DEFAULT_VARIANTS)]
    names = [v.name for v in chosen]
    if len(set(names)) != len(names):
        raise DataError(f"a variant is named twice: {names}")
    resolved = {v.name: variant_settings(cfg, v) for v in chosen}
    starts = {v.name: _start_model(run, v.start) for v in chosen}
    quiet_libraries()
    # The ablation folder records the run it came from; another run's ablation is refused.
    open_run(cfg, out.path, overwrite=False)
    splits = {s: eval_subset(read_turns(run.data.turns(s)), cfg.eval.max_samples, cfg.data.seed)
              for s in cfg.eval.splits if run.data.turns(s).is_file()}

    per_variant = seconds_per_variant(run)
    console.print(f"{len(chosen)} GRPO variants of {run.path}: about "
                  f"{per_variant * len(chosen) / 60:.0f} min (the run's GRPO and its evaluation took "
                  f"{per_variant:.0f} s)" if per_variant else f"{len(chosen)} GRPO variants of {run.path}",
                  highlight=False)
    start_time = time.perf_counter()
    for i, v in enumerate(chosen):
        left = per_variant * (len(chosen) - i) if per_variant else None
        if i and per_variant:  # once variants have run, their own pace is the better guess
            left = (time.perf_counter() - start_time) / i * (len(chosen) - i)
        _progress(console, i, len(chosen), f"{v.name}: {v.description}", left)
        if overwrite:
            shutil.rmtree(out.variant(v.name), ignore_errors=True)
            shutil.rmtree(out.eval_dir(v.name), ignore_errors=True)
        sc = StageConfig(stage="grpo", model=str(starts[v.name]), data=str(run.data.turns("train")),
                         out=str(out.variant_stage(v.name)), train=resolved[v.name])
        model = train_stage(sc, console=console)
        think = "required" if resolved[v.name].think else "off"
        evaluate_stage(cfg, v.name, str(model), splits, out.path, think=think)
        write_atomic(out.variant_file(v.name), yaml.safe_dump(
            {"name": v.name, "description": v.description, "start": v.start,
             "grpo": resolved[v.name].model_dump(mode="json")}, sort_keys=False))
    shutil.rmtree(out.tmp, ignore_errors=True)
    results = ablation_results(run.path, out.path, chosen)
    write_atomic(out.results, json.dumps(results, indent=2) + "\n")
    write_atomic(out.results_md, ablation_markdown(results))
    console.rule("ablation")
    console.print(ablation_markdown(results), markup=False, highlight=False)
    return results


# --------------------------------------------------------------------------- results


def ablation_results(run: str | Path, out: str | Path, variants: list[Variant], *,
                     seed: int = 0) -> dict[str, Any]:
    """Rows for the run's SFT and GRPO and every variant evaluated so far (metrics with
    intervals), and each variant's turn accuracy paired against the run's GRPO and SFT."""
    from thinkact.evaluate import stats
    from thinkact.evaluate.results import evaluations, read_scores

    # Variants finished earlier in this folder (another --variants list) stay in the table.
    chosen = {v.name for v in variants}
    for name, saved in AblationDir(out).finished_variants().items():
        if name not in chosen:
            meta = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
            variants = [*variants, Variant(name=name, description=meta.get("description", ""),
                                           start=meta.get("start", "coldstart"))]
    found = {(REFERENCES[st], sp): f for (st, sp), f in evaluations(run).items() if st in REFERENCES}
    found.update({k: f for k, f in evaluations(out).items() if k[0] in {v.name for v in variants}})
    read = {k: read_scores(f) for k, f in found.items()}
    compare = [(v.name, ref) for v in variants for ref in (REFERENCES["grpo"], REFERENCES["sft"])]
    agg = stats.aggregate({k: [records] for k, (_, records) in read.items()}, compare=compare, seed=seed)
    by = {(r["stage"], r["split"]): r for r in agg["rows"]}
    rows = [{"variant": st, "split": sp, "metrics": read[(st, sp)][0],
             "intervals": {m: v["ci"] for m, v in by[(st, sp)]["metrics"].items()}, "n": by[(st, sp)]["n"]}
            for st, sp in read]
    return {"run": str(run), "variants": {v.name: {"description": v.description, "start": v.start}
                                          for v in variants},
            "rows": rows, "comparisons": agg["comparisons"], "bootstrap": agg["bootstrap"]}
