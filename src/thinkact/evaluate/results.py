"""The results of a run folder, or of several seeds' run folders, with bootstrap intervals.

A run folder (`thinkact pipeline --out RUN_DIR`) holds eval/<stage>/<split>/scores.json, one
per evaluation, each with per-turn records. `run_results` turns them into the rows of
results.json: each evaluation's metrics (as scores.json has them), a 95% interval for each
from a bootstrap over conversations (thinkact.evaluate.stats), the sample sizes, and paired
comparisons of GRPO and the cold start against base SFT, and of GRPO against the cold start it
starts from (what RL bought). `seed_results` does the same over the
run folders of several training seeds (RUN_DIR/seed-<k>/): the mean over the seeds, the
interval of that mean, each seed's values, and each seed's own rows. `grpo_summary` reads
GRPO's start and end from its training log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thinkact.evaluate import stats
from thinkact.rundir import EvalFiles, RunDir
from thinkact.schema import DataError, read_log

STAGE_ORDER = ("vanilla", "sft", "coldstart", "grpo")
SPLIT_ORDER = ("test", "ood")
COMPARE = (("grpo", "sft"), ("coldstart", "sft"), ("grpo", "coldstart"))
# Stages whose model does not depend on the training seed: evaluated once in a multi-seed run.
SEED_FREE = ("vanilla",)
RECORD_KEYS = ("conversation_id", "kind", "decision_correct", "format_valid", "reasoning_words")
# An ablation's (thinkact.ablate) rows for the run it starts from; no variant takes these names.
REFERENCES = {"sft": "run/sft", "grpo": "run/grpo"}


def _order(names, preferred) -> list[str]:
    return [n for n in preferred if n in names] + sorted(set(names) - set(preferred))


def evaluations(run_dir: str | Path) -> dict[tuple[str, str], Path]:
    """(stage, split) -> eval folder with a scores.json, in stage then split order."""
    found = RunDir(run_dir).evaluations()
    stages = _order({k[0] for k in found}, STAGE_ORDER)
    splits = _order({k[1] for k in found}, SPLIT_ORDER)
    return {(st, sp): found[(st, sp)] for st in stages for sp in splits if (st, sp) in found}


def read_scores(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An evaluation's metrics and per-turn records. A scores.json written before per-turn
    records carried every field is rescored from its gold.jsonl and predictions.jsonl with the
    settings it was scored with (nothing is written)."""
    files = EvalFiles.in_folder(folder)
    path = files.scores
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
        metrics, samples = scores["metrics"], scores.get("samples") or {}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"not a scores file ({exc})", file=path) from None
    records = list(samples.values())
    if records and all(all(k in r for k in RECORD_KEYS) for r in records):
        return metrics, records
    from thinkact.rewards import RewardWeights
    from thinkact.scoring import score_files

    gold, pred = files.gold, files.predictions
    if not (gold.is_file() and pred.is_file()):
        raise DataError("per-turn records lack conversation ids and there is no gold.jsonl and "
                        "predictions.jsonl beside it to rescore", file=path)
    settings = scores.get("settings") or {}
    kwargs = {k: settings[k] for k in ("think", "answer_method", "budget", "reply_threshold") if k in settings}
    kwargs["parse"] = settings.get("parse", "strict")  # scores from before native reading read strictly
    if "weights" in settings:
        kwargs["weights"] = RewardWeights.model_validate(settings["weights"])
    again = score_files(gold, pred, **kwargs)
    return again["metrics"], list(again["samples"].values())


def _interval_row(stage: str, split: str, metrics: dict[str, Any], agg: dict[str, Any]) -> dict[str, Any]:
    return {"stage": stage, "split": split, "metrics": metrics,
            "intervals": {m: v["ci"] for m, v in agg["metrics"].items()}, "n": agg["n"]}


def _gains(comparisons: list[dict[str, Any]]) -> dict[str, float]:
    return {c["split"]: c["relative"] for c in comparisons
            if (c["a"], c["b"]) == ("grpo", "sft") and c["relative"] is not None}


def run_results(run_dir: str | Path, splits: list[str] | None = None, *,
                resamples: int = stats.RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Rows (metrics, intervals, sizes) and comparisons of one run folder's evaluations."""
    run_dir = Path(run_dir)
    found = {k: v for k, v in evaluations(run_dir).items() if splits is None or k[1] in splits}
    read = {k: read_scores(folder) for k, folder in found.items()}
    agg = stats.aggregate({k: [records] for k, (_, records) in read.items()}, compare=COMPARE,
                          resamples=resamples, seed=seed)
    by = {(r["stage"], r["split"]): r for r in agg["rows"]}
    rows = [_interval_row(st, sp, read[(st, sp)][0], by[(st, sp)]) for st, sp in read]
    return {"rows": rows, "comparisons": agg["comparisons"], "grpo_vs_sft_turn_accuracy": _gains(agg["comparisons"]),
            "bootstrap": agg["bootstrap"]}


def seed_runs(run_dir: str | Path) -> dict[int, Path]:
    """The seed run folders of a multi-seed run folder: seed -> RUN_DIR/seed-<seed>."""
    return {k: run.path for k, run in RunDir(run_dir).seeds().items()}


def seed_results(run_dir: str | Path, runs: dict[int, Path] | None = None, splits: list[str] | None = None, *,
                 resamples: int = stats.RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Rows over the seeds' run folders (default: RUN_DIR/seed-<k>/): for each (stage, split),
    every metric's mean over the seeds that evaluated it with the interval of that mean, each
    seed's values, the sizes; comparisons paired over the same conversations and resamples.
    A stage that does not depend on the seed (vanilla) counts once. `seed_rows` keeps each
    seed's own rows, intervals from its run alone."""
    runs = dict(runs) if runs is not None else seed_runs(run_dir)
    per_seed = {k: {key: read_scores(folder) for key, folder in evaluations(path).items()
                    if splits is None or key[1] in splits} for k, path in runs.items()}
    keys = [(st, sp) for st in _order({k[0] for r in per_seed.values() for k in r}, STAGE_ORDER)
            for sp in _order({k[1] for r in per_seed.values() for k in r}, SPLIT_ORDER)
            if any((st, sp) in r for r in per_seed.values())]
    if not keys:
        raise DataError("no evaluations in any seed run folder (seed-<k>/eval/<stage>/<split>/scores.json)",
                        file=run_dir)
    seeds_of = {key: [k for k in runs if key in per_seed[k]] for key in keys}
    for key in keys:
        if key[0] in SEED_FREE:
            seeds_of[key] = seeds_of[key][:1]
    agg = stats.aggregate({key: [per_seed[k][key][1] for k in seeds_of[key]] for key in keys},
                          compare=COMPARE, resamples=resamples, seed=seed)
    by = {(r["stage"], r["split"]): r for r in agg["rows"]}
    rows = []
    for key in keys:
        first = per_seed[seeds_of[key][0]][key][0]
        means = {m: v["mean"] for m, v in by[key]["metrics"].items()}
        metrics = {**{m: v for m, v in first.items() if m.startswith("n_")}, **means}
        row = _interval_row(*key, metrics, by[key])
        row["seeds"] = seeds_of[key]
        row["per_seed"] = {m: v["per_seed"] for m, v in by[key]["metrics"].items()}
        rows.append(row)
    seed_rows = []
    for k, path in runs.items():
        if per_seed[k]:
            one = run_results(path, splits, resamples=resamples, seed=seed)
            seed_rows += [{"seed": k, **r} for r in one["rows"]]
    return {"seeds": list(runs), "runs": {str(k): p.name for k, p in runs.items()}, "rows": rows,
            "comparisons": agg["comparisons"], "grpo_vs_sft_turn_accuracy": _gains(agg["comparisons"]),
            "bootstrap": agg["bootstrap"], "seed_rows": seed_rows}


# --------------------------------------------------------------------------- training

def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def grpo_summary(log_path: Path, window: int = 5) -> dict[str, Any]:
    """Reward at the start and end of GRPO (mean of the first / last `window` logged steps,
    fewer when there are fewer than two windows' worth, so the two never share a step), the
    share of groups without learning signal, and reasoning length over training."""
    rows = [r for r in read_log(log_path) if isinstance(r.get("reward"), (int, float))]
    if not rows:
        return {}

    def ends(key: str) -> tuple[float | None, float | None, int]:
        xs = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        n = max(1, min(window, len(xs) // 2))
        return _mean(xs[:n]), _mean(xs[-n:]), n

    first, last, n = ends("reward")
    think_first, think_last, _ = ends("reasoning_length")
    return {"steps": rows[-1]["step"], "window": n, "reward_first": first, "reward_last": last,
            "frac_reward_zero_std": _mean([r["frac_reward_zero_std"] for r in rows
                                           if isinstance(r.get("frac_reward_zero_std"), (int, float))]),
            "reasoning_length_first": think_first, "reasoning_length_last": think_last}


# --------------------------------------------------------------------------- text

def fmt_interval(value: float | None, ci: list[float] | None, digits: int = 3) -> str:
    """`0.829 [0.78, 0.87]`: the value, then the interval one digit shorter."""
    if value is None:
        return "–"
    if not ci:
        return f"{value:.{digits}f}"
    d = max(digits - 1, 1)
    return f"{value:.{digits}f} [{ci[0]:.{d}f}, {ci[1]:.{d}f}]"


def comparison_line(c: dict[str, Any]) -> str:
    """One comparison as a sentence with its interval and sample sizes."""
    names = {"grpo": "GRPO", "sft": "base SFT", "coldstart": "cold start", "vanilla": "vanilla"}
    metric = c["metric"].replace("_", " ")
    rel, ci, n = c.get("relative"), c.get("relative_ci"), c.get("n") or {}
    if rel is None:
        value = "no value (base is 0)"
    else:
        value = f"{rel:+.1%} relative" + (f", 95% CI [{ci[0]:+.1%}, {ci[1]:+.1%}]" if ci else "")
    seeds = n.get("seeds", 1)
    # The interval resamples conversations for these trained models; how much a retrained model
    # moves is in the seeds' own values, shown beside it.
    each = [x for x in c.get("per_seed_relative") or [] if x is not None]
    per_seed = f"; per seed {', '.join(f'{x:+.1%}' for x in each)}" if seeds > 1 and each else ""
    return (f"{names.get(c['a'], c['a'])} vs {names.get(c['b'], c['b'])}, {metric} on {c['split']}: {value} "
            f"(paired bootstrap over {n.get('conversations', '?')} conversations, {n.get('turns', '?')} turns, "
            f"{seeds} seed{'s' if seeds != 1 else ''}{per_seed})")


def _pct(c: dict[str, Any] | None) -> str:
    if not c or c.get("difference") is None:
        return "–"
    ci = c.get("difference_ci")
    sig = " *" if ci and (ci[0] > 0 or ci[1] < 0) else ""
    return (f"{100 * c['difference']:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]{sig}" if ci
            else f"{100 * c['difference']:+.1f}")


def ablation_markdown(results: dict[str, Any]) -> str:
    """The table: one line per row, per split turn accuracy with its interval and the paired
    difference (points of accuracy) against the run's GRPO; * where the interval excludes 0."""
    splits = [s for s in ("test", "ood") if any(r["split"] == s for r in results["rows"])]
    by = {(r["variant"], r["split"]): r for r in results["rows"]}
    comp = {(c["a"], c["b"], c["split"]): c for c in results["comparisons"]}
    names = [n for n in (REFERENCES["sft"], REFERENCES["grpo"], *results["variants"]) if any(
        (n, s) in by for s in splits)]
    head = "| variant | what changes |" + "".join(f" {s} turn acc. | {s} vs run GRPO (points) |" for s in splits)
    lines = [head, "|---|---|" + "---:|---:|" * len(splits)]
    for n in names:
        desc = results["variants"].get(n, {}).get("description") or {
            REFERENCES["sft"]: "the run's base SFT", REFERENCES["grpo"]: "the run's GRPO"}.get(n, "")
        cells = []
        for s in splits:
            r = by.get((n, s))
            cells.append(fmt_interval(r["metrics"].get("turn_accuracy"), r["intervals"].get("turn_accuracy"))
                         if r else "–")
            cells.append(_pct(comp.get((n, REFERENCES["grpo"], s))) if n in results["variants"] else "")
        lines.append(f"| {n} | {desc} | " + " | ".join(cells) + " |")
    sizes = {s: by[(names[0], s)]["n"] for s in splits if names and (names[0], s) in by}
    boot = results.get("bootstrap") or {}
    note = ("\nTurn accuracy with its 95% bootstrap interval over conversations "
            f"({boot.get('resamples', '?')} resamples); the difference to the run's GRPO in points of "
            "turn accuracy, paired over the same conversations; * where its interval excludes 0. "
            + "; ".join(f"{s}: {n['turns']} turns in {n['conversations']} conversations" for s, n in sizes.items())
            + ".\n")
    return "\n".join(lines) + "\n" + note
