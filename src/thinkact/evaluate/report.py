"""`thinkact report RUN_DIR`: what each stage bought, in a table, plots and one HTML page.

Reads a pipeline run folder (results.json or eval/<stage>/<split>/scores.json, the stages'
train_log.jsonl, eval predictions and gold turns), or a multi-seed results folder (results.json
over RUN_DIR/seed-<k>/ run folders; training curves and sample turns from the first seed's),
and writes into RUN_DIR/report/:

    table.md, table.json      stage-by-split table of the headline metrics, each with its 95%
                              bootstrap interval over conversations, and the sample sizes
    grpo_rewards.png          reward components (and the composite) over GRPO steps
    reasoning_length.png      reasoning length over training steps
    stage_comparison.png      one bar chart per metric, stages side by side per split, with
                              the intervals as error bars
    training_loss.png         loss over steps for each trained stage
    report.html               self-contained: table, plots (base64), a seeded sample of turns
                              with context, reference and each stage's output and rewards
                              (templates/report.html.jinja, rendered with autoescape)

Parts whose inputs are missing (a run without GRPO, say) are skipped, not faked.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import jinja2

from thinkact import grammar
from thinkact.rewards import COMPONENTS
from thinkact.rundir import RunDir
from thinkact.schema import DataError, Target, TurnSample, iter_jsonl_dicts, read_log, read_turns, write_atomic

STAGES = ("vanilla", "sft", "coldstart", "grpo")
SPLITS = ("test", "ood")
METRICS = ("turn_accuracy", "decision_accuracy", "tool_name_accuracy", "exact_call_accuracy",
           "argument_f1", "reply_similarity", "format_validity", "mean_reward",
           "conversation_accuracy", "mean_reasoning_length")
LABELS = {"turn_accuracy": "turn acc.", "decision_accuracy": "decision acc.",
          "tool_name_accuracy": "tool name acc.", "exact_call_accuracy": "exact call acc.",
          "argument_f1": "argument F1", "reply_similarity": "reply similarity",
          "format_validity": "format validity", "mean_reward": "mean reward",
          "conversation_accuracy": "conversation acc.", "mean_reasoning_length": "reasoning words"}
STAGE_COLORS = {"vanilla": "#9aa5b1", "sft": "#4c78a8", "coldstart": "#f58518", "grpo": "#54a24b"}
COMPONENT_COLORS = {"format": "#4c78a8", "decision": "#f58518", "tool": "#54a24b",
                    "answer": "#e45756", "efficiency": "#b279a2"}


def _ordered(names: set[str], preferred: tuple[str, ...]) -> list[str]:
    return [n for n in preferred if n in names] + sorted(names - set(preferred))


# --------------------------------------------------------------------------- reading the run

def _load_results(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        rows = results["rows"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"not a results file with 'rows' ({exc})", file=path) from None
    for i, r in enumerate(rows):
        for key in ("stage", "split", "metrics"):
            if key not in r:
                raise DataError("missing", file=path, field=f"rows.{i}.{key}")
    return results


def read_results(run_dir: Path) -> dict[str, Any]:
    """What results.json holds (rows with intervals, comparisons, GRPO summary). Where it has
    no intervals (written before they existed) or is not there yet (a run still going), the
    rows are computed from the evaluations in the folder: eval/<stage>/<split>/scores.json of a
    run folder, or those of its seed-<k>/ run folders."""
    from thinkact.evaluate.results import evaluations, run_results, seed_results, seed_runs

    path = RunDir(run_dir).results
    results = _load_results(path) if path.is_file() else None
    if results is not None and all("intervals" in r for r in results["rows"]):
        return results
    try:
        if evaluations(run_dir):
            fresh = run_results(run_dir)
        elif seed_runs(run_dir):
            fresh = seed_results(run_dir)
        else:
            fresh = None
    except DataError:
        if results is None:
            raise
        fresh = None  # the evaluations cannot be read again: the file's rows as they are
    if fresh is not None:
        return {**(results or {}), **fresh}
    if results is not None:
        return results
    raise DataError("no results.json and no eval/<stage>/<split>/scores.json: nothing to report", file=run_dir)


def read_rows(run_dir: Path) -> list[dict[str, Any]]:
    """[{"stage", "split", "metrics", "intervals", "n"}]: the rows of read_results."""
    return read_results(run_dir)["rows"]


def source_run(run_dir: Path) -> Path:
    """The run folder with training logs and predictions: the folder itself, or for a
    multi-seed results folder its first seed's run folder."""
    run = RunDir(run_dir)
    if run.is_run():
        return run_dir
    runs = run.seeds()
    return next(iter(runs.values())).path if runs else run_dir


def grpo_summaries(run_dir: Path) -> dict[str, Any]:
    """results.json's GRPO summaries, from the training logs the plots are drawn from (a log
    can have grown since results.json was written: a run going on, or resumed)."""
    from thinkact.evaluate.results import grpo_summary

    runs = RunDir(run_dir).seeds()
    if runs:
        per_seed = {str(k): grpo_summary(run.stage_log("grpo")) for k, run in runs.items()}
        per_seed = {k: g for k, g in per_seed.items() if g}
        return {"grpo_per_seed": per_seed} if per_seed else {}
    summary = grpo_summary(RunDir(run_dir).stage_log("grpo"))
    return {"grpo": summary} if summary else {}


def series(log: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in log if isinstance(r.get(key), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


# --------------------------------------------------------------------------- table

def _cell(metric: str, value: Any, ci: list[float] | None = None) -> str:
    """`0.829 [0.78, 0.87]`: the value and its interval (reasoning words: one decimal)."""
    from thinkact.evaluate.results import fmt_interval

    return fmt_interval(value, ci, 1 if metric == "mean_reasoning_length" else 3)


def build_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows ordered by split then stage, headline metrics only, each with its interval (`ci`)
    and the sample sizes (turns, conversations, seeds)."""
    stages = _ordered({r["stage"] for r in rows}, STAGES)
    splits = _ordered({r["split"] for r in rows}, SPLITS)
    key = {(r["stage"], r["split"]): r for r in rows}
    metrics = [m for m in METRICS if any(m in r["metrics"] for r in rows)]
    out = []
    for split in splits:
        for stage in stages:
            if (stage, split) in key:
                r = key[(stage, split)]
                m, n, intervals = r["metrics"], r.get("n") or {}, r.get("intervals") or {}
                out.append({"stage": stage, "split": split, **{k: m.get(k) for k in metrics},
                            "ci": {k: intervals[k] for k in metrics if intervals.get(k)},
                            "n_samples": n.get("turns", m.get("n_samples")),
                            "n_conversations": n.get("conversations", m.get("n_conversations")),
                            "n_seeds": n.get("seeds", len(r.get("seeds") or []) or 1)})
    return {"metrics": metrics, "rows": out}


def table_markdown(table: dict[str, Any]) -> str:
    metrics = table["metrics"]
    lines = ["| split | stage | " + " | ".join(LABELS.get(m, m) for m in metrics) + " | turns | conv. | seeds |",
             "|---|---|" + "---:|" * (len(metrics) + 3)]
    for r in table["rows"]:
        cells = [_cell(m, r.get(m), r.get("ci", {}).get(m)) for m in metrics]
        sizes = [r.get("n_samples"), r.get("n_conversations"), r.get("n_seeds")]
        lines.append(f"| {r['split']} | {r['stage']} | " + " | ".join(cells) + " | "
                     + " | ".join("" if v is None else str(v) for v in sizes) + " |")
    return "\n".join(lines) + "\n"


def table_note(table: dict[str, Any], results: dict[str, Any] | None = None) -> str:
    """What the brackets are, and the comparisons, as markdown lines under the table."""
    from thinkact.evaluate.results import comparison_line

    results = results or {}
    boot = results.get("bootstrap") or {}
    lines = []
    if any(r.get("ci") for r in table["rows"]):
        lines.append(f"Brackets: {round(100 * boot.get('level', 0.95))}% bootstrap interval over conversations "
                     f"({boot.get('resamples', 'n')} resamples of the conversations, seed {boot.get('seed', 0)}"
                     + ("; with several seeds, the interval of the mean over the seeds" if any(
                         (r.get("n_seeds") or 1) > 1 for r in table["rows"]) else "") + ").")
    lines += [f"- {comparison_line(c)}" for c in results.get("comparisons", [])]
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


# --------------------------------------------------------------------------- plots

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})
    return plt


def _smooth(ys: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, y in enumerate(ys):
        total += y
        if i >= window:
            total -= ys[i - window]
        out.append(total / min(i + 1, window))
    return out


def _line(ax, xs, ys, color, label, width=1.6):
    """Raw points faint and a moving average on top when there are many steps."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if len(xs) > 25:
        ax.plot(xs, ys, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(xs, _smooth(ys, max(3, len(xs) // 20)), color=color, linewidth=width, label=label)
    else:
        ax.plot(xs, ys, color=color, linewidth=width, marker="o", markersize=3, label=label)


def plot_grpo_rewards(log: list[dict[str, Any]], path: Path) -> bool:
    comps = [(c, series(log, f"rewards/{c}/mean")) for c in COMPONENTS]
    comps = [(c, s) for c, s in comps if s[0]]
    total = series(log, "reward")
    if not comps and not total[0]:
        return False
    zero = series(log, "frac_reward_zero_std")
    plt = _plt()
    if zero[0]:
        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    else:
        fig, ax = plt.subplots(figsize=(9, 4))
    for c, (xs, ys) in comps:
        _line(ax, xs, ys, COMPONENT_COLORS.get(c, None), c)
    if total[0]:
        _line(ax, *total, "#222222", "composite", width=2.4)
    ax.set_ylabel("mean reward")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("GRPO: reward components over steps")
    # Beside the axes, not on them: inside, it hid the end of the curves, the part that matters.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if zero[0]:
        _line(ax2, *zero, "#7f7f7f", "groups with no signal")
        ax2.set_ylabel("zero-std groups")
        ax2.set_ylim(-0.03, 1.03)
        ax2.set_xlabel("step")
    else:
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_reasoning_length(logs: dict[str, list[dict[str, Any]]], path: Path) -> bool:
    lines = {s: series(log, "reasoning_length") for s, log in logs.items()}
    lines = {s: v for s, v in lines.items() if v[0]}
    if not lines:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for stage, (xs, ys) in lines.items():
        _line(ax, xs, ys, STAGE_COLORS.get(stage), stage)
    ax.set_xlabel("step")
    ax.set_ylabel("words of reasoning (mean)")
    ax.set_title("Reasoning length over training steps")
    ax.set_ylim(0, max(1.0, max(max(ys) for _, ys in lines.values())) * 1.1)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_training_loss(logs: dict[str, list[dict[str, Any]]], path: Path) -> bool:
    lines = {s: series(log, "loss") for s, log in logs.items()}
    lines = {s: v for s, v in lines.items() if v[0]}
    if not lines:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(lines), figsize=(3.2 * len(lines) + 1, 3.2), squeeze=False)
    for ax, (stage, (xs, ys)) in zip(axes[0], lines.items()):
        _line(ax, xs, ys, STAGE_COLORS.get(stage), stage)
        ax.set_title(f"{stage}: loss")
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_stage_comparison(table: dict[str, Any], path: Path) -> bool:
    metrics = table["metrics"]
    rows = table["rows"]
    if not rows or not metrics:
        return False
    stages = _ordered({r["stage"] for r in rows}, STAGES)
    splits = _ordered({r["split"] for r in rows}, SPLITS)
    value = {(r["stage"], r["split"]): r for r in rows}
    plt = _plt()
    cols = 3 if len(metrics) > 4 else len(metrics)
    nrows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 2.9 * nrows + 0.6), squeeze=False)
    width = 0.8 / len(stages)
    for ax, metric in zip(axes.flat, metrics):
        for j, stage in enumerate(stages):
            xs, ys, lo, hi = [], [], [], []
            for i, split in enumerate(splits):
                row = value.get((stage, split), {})
                v = row.get(metric)
                if v is not None:
                    ci = row.get("ci", {}).get(metric) or [v, v]
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(v)
                    lo.append(max(v - ci[0], 0.0))
                    hi.append(max(ci[1] - v, 0.0))
            color = STAGE_COLORS.get(stage, f"C{j}")
            ax.bar(xs, ys, width * 0.92, color=color, label=stage)
            if any(lo) or any(hi):  # 95% intervals
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="#333333", elinewidth=0.9, capsize=2)
            fmt = "%.0f" if metric == "mean_reasoning_length" else "%.2f"
            for x, y, up in zip(xs, ys, hi):  # the value above its bar, clear of the error bar
                ax.annotate(fmt % y, (x, y + up), xytext=(0, 1.5), textcoords="offset points",
                            ha="center", va="bottom", fontsize=6.5)
        ax.set_xticks(range(len(splits)), splits)
        ax.set_title(LABELS.get(metric, metric))
        ax.grid(axis="x", visible=False)
        if metric != "mean_reasoning_length":
            ax.set_ylim(0, 1.12)
        else:
            top = max(max((value.get((st, sp), {}).get("ci", {}).get(metric) or [0, 0])[1],
                          value.get((st, sp), {}).get(metric) or 0) for st in stages for sp in splits)
            ax.set_ylim(0, max(1.0, top) * 1.15)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(stages), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.9 * nrows + 0.6)))
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_ablation(ablation: dict[str, Any], path: Path) -> bool:
    """Turn accuracy per ablation variant (dot) with its 95% interval (line), one panel per
    split side by side; the run's GRPO as a dashed line, its SFT as a dotted one."""
    rows = {(r["variant"], r["split"]): r for r in ablation.get("rows") or []}
    splits = _ordered({k[1] for k in rows}, SPLITS)
    names = [n for n in ablation.get("variants") or {} if any((n, s) in rows for s in splits)]
    if not names or not splits:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 0.32 * len(names) + 1.4),
                             sharey=True, squeeze=False)
    for ax, split in zip(axes[0], splits):
        for ref, style in (("run/grpo", "--"), ("run/sft", ":")):
            r = rows.get((ref, split))
            if r and r["metrics"].get("turn_accuracy") is not None:
                ax.axvline(r["metrics"]["turn_accuracy"], color="#555555", linestyle=style, linewidth=1,
                           label=ref)
        for y, name in enumerate(names):
            r = rows.get((name, split))
            v = r and r["metrics"].get("turn_accuracy")
            if v is None:
                continue
            ci = r["intervals"].get("turn_accuracy") or [v, v]
            ax.plot(ci, [y, y], color="C0", linewidth=1.6)
            ax.plot([v], [y], "o", color="C0", markersize=4.5)
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(f"{split}: turn accuracy")
        ax.grid(axis="y", visible=False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- sample browser

def read_outputs(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {o["id"]: o.get("output", "") for _, o in iter_jsonl_dicts(path) if isinstance(o.get("id"), str)}


def gold_samples(run_dir: Path, split: str, stages: list[str]) -> list[TurnSample]:
    run = RunDir(run_dir)
    for path in [run.data.turns(split)] + [run.eval(s, split).gold for s in stages]:
        if path.is_file():
            return read_turns(path)
    return []


def pick_samples(run_dir: Path, stages: list[str], splits: list[str], n: int,
                 seed: int) -> list[tuple[str, TurnSample, dict[str, dict[str, Any]]]]:
    """n seeded turns spread evenly over the splits (a small split's share goes to the others),
    each with every stage's output and scores."""
    run = RunDir(run_dir)
    pools = []
    for split in splits:
        per_stage = {}
        for stage in stages:
            files = run.eval(stage, split)
            outs = read_outputs(files.predictions)
            scores = {}
            if files.scores.is_file():
                scores = json.loads(files.scores.read_text(encoding="utf-8")).get("samples", {})
            if outs:
                per_stage[stage] = (outs, scores)
        gold = [s for s in gold_samples(run_dir, split, stages)
                if any(s.id in outs for outs, _ in per_stage.values())]
        pools.append((split, gold, per_stage))
    quota = [0] * len(pools)
    for _ in range(n):  # one at a time to the split with the fewest picked that has turns left
        open_ = [i for i, (_, gold, _) in enumerate(pools) if quota[i] < len(gold)]
        if not open_:
            break
        quota[min(open_, key=lambda i: quota[i])] += 1
    rng = random.Random(seed)
    picked = []
    for (split, gold, per_stage), k in zip(pools, quota):
        for s in sorted(rng.sample(gold, k), key=lambda s: s.id):
            views = {st: {"output": outs[s.id], **scores.get(s.id, {})}
                     for st, (outs, scores) in per_stage.items() if s.id in outs}
            picked.append((split, s, views))
    return picked


# --------------------------------------------------------------------------- HTML

# The page is templates/report.html.jinja (and its report.css), autoescaped: what follows turns
# the run's figures into plain values for it, and never builds markup.
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("thinkact.evaluate", "templates"), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _figure(path: Path, caption: str) -> dict[str, str]:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"alt": path.stem, "src": f"data:image/png;base64,{data}", "caption": caption}


def _calls_text(calls) -> str:
    """One line per call: name(arguments as JSON)."""
    return "\n".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in calls)


def _reward(value: Any) -> str | None:
    return f"{value:.2f}" if isinstance(value, (int, float)) else None


def _action(target: Target | None, raw: str) -> dict[str, Any]:
    """An action as shown: its reasoning, what it is and its text; the raw text where it does not parse."""
    if target is None:
        return {"raw": raw if raw.strip() else "(empty output)"}
    label, body = ("tool call", _calls_text(target.tool_calls)) if target.kind == "tool_call" else (
        "reply", target.content)
    return {"reasoning": target.reasoning, "label": label, "body": body}


def _stage_view(stage: str, view: dict[str, Any]) -> dict[str, Any]:
    parsed = grammar.parse(view["output"])
    comps = view.get("components") or {}
    return {"name": stage, "correct": view.get("turn_correct"), "reward": _reward(view.get("reward")),
            "action": _action(parsed.to_target(), view["output"]),
            "components": {k: "–" if v is None else f"{v:.2f}" for k, v in comps.items()},
            "problems": view.get("problems") or parsed.problems}


def _sample_view(split: str, sample: TurnSample, views: dict[str, dict[str, Any]]) -> dict[str, Any]:
    last = next((m.content for m in reversed(sample.context) if m.role == "user"), "")
    tools = ", ".join(t.get("name", t.get("function", {}).get("name", "?")) for t in sample.tools)
    return {
        "id": sample.id, "split": split, "kind": "call" if sample.target.kind == "tool_call" else "reply",
        "badges": [{"stage": st, "ok": bool(v.get("turn_correct")), "reward": _reward(v.get("reward"))}
                   for st, v in views.items()],
        "snippet": last if len(last) <= 90 else last[:87] + "...",
        "tools": tools or "none", "system": sample.system,
        "context": [{"role": m.role, "label": m.role + (f" · {m.name}" if m.role == "tool" and m.name else ""),
                     "body": _calls_text(m.tool_calls) if m.tool_calls else m.content} for m in sample.context],
        "reference": _action(sample.target, ""),
        "stages": [_stage_view(st, v) for st, v in views.items()],
    }


def _table_view(table: dict[str, Any]) -> dict[str, Any]:
    metrics = table["metrics"]
    # The best value of each metric on each split, bold where it stands out (not all tied).
    seen: dict[tuple[str, str], list[float]] = {}
    for r in table["rows"]:
        for m in metrics:
            if r.get(m) is not None and m != "mean_reasoning_length":
                seen.setdefault((r["split"], m), []).append(r[m])
    best = {k: max(vs) for k, vs in seen.items() if max(vs) > min(vs)}
    rows, last = [], None
    for r in table["rows"]:
        rows.append({"split": r["split"], "stage": r["stage"], "split_start": last is not None and r["split"] != last,
                     "cells": [{"text": _cell(m, r.get(m), r.get("ci", {}).get(m)),
                                "best": r.get(m) is not None and best.get((r["split"], m)) == r.get(m)}
                               for m in metrics],
                     "sizes": ["" if r.get(k) is None else r[k] for k in ("n_samples", "n_conversations", "n_seeds")]})
        last = r["split"]
    return {"labels": [LABELS.get(m, m) for m in metrics], "rows": rows}


def _ablation_view(ablation: dict[str, Any], plot: Path | None) -> dict[str, Any]:
    from thinkact.evaluate.results import ablation_markdown

    text = ablation_markdown(ablation)  # the table and its note, as ablate.md has them
    lines = [l for l in text.splitlines() if l.startswith("|")]
    cells = [[c.strip() for c in l.strip("|").split("|")] for l in lines]
    return {"head": cells[0], "rows": cells[2:], "note": text.split("\n\n", 1)[-1].strip(),
            "figure": _figure(plot, CAPTIONS["ablation.png"]) if plot else None}


CAPTIONS = {
    "stage_comparison.png": "Headline metrics per stage, on each split (higher is better except reasoning words); "
                            "error bars: 95% bootstrap intervals over conversations.",
    "grpo_rewards.png": "Mean of each reward component and of the composite per GRPO step; below, the share of "
                        "groups whose completions all got the same reward (no learning signal).",
    "reasoning_length.png": "Mean words of reasoning in the completions of each logged step.",
    "training_loss.png": "Training loss per logged step.",
    "ablation.png": "Turn accuracy of each GRPO variant (dot) with its 95% bootstrap interval over "
                    "conversations; dashed: the run's GRPO, dotted: its base SFT.",
}


def headline(results: dict[str, Any]) -> list[str]:
    """One-line findings: the paired comparisons with their intervals (else the relative gain
    of GRPO over SFT), reward and reasoning length at the start and end of GRPO, when present."""
    from thinkact.evaluate.results import comparison_line

    lines = [comparison_line(c) for c in results.get("comparisons") or []]
    if not lines:
        lines = [f"GRPO vs SFT turn accuracy on {split}: {gain * 100:+.1f}% relative"
                 for split, gain in (results.get("grpo_vs_sft_turn_accuracy") or {}).items()
                 if isinstance(gain, (int, float))]
    summaries = {"": results.get("grpo") or {}}
    summaries.update({f" (seed {k})": g for k, g in (results.get("grpo_per_seed") or {}).items()})
    for tag, g in summaries.items():
        if isinstance(g.get("reward_first"), (int, float)) and isinstance(g.get("reward_last"), (int, float)):
            over = ""  # how many logged steps each figure averages, where the summary says
            if g.get("window") == 1:
                over = "; first and last logged step"
            elif isinstance(g.get("window"), int):
                over = f"; means of the first and last {g['window']} logged steps"
            lines.append(f"GRPO{tag} mean reward: {g['reward_first']:.3f} at the start, {g['reward_last']:.3f} "
                         f"at the end ({g.get('steps', '?')} steps{over})")
        if isinstance(g.get("reasoning_length_first"), (int, float)) and isinstance(
                g.get("reasoning_length_last"), (int, float)):
            lines.append(f"GRPO{tag} reasoning length: {g['reasoning_length_first']:.1f} words at the start, "
                         f"{g['reasoning_length_last']:.1f} at the end")
    return lines


def render_html(run_dir: Path, table: dict[str, Any], plots: list[Path], samples,
                results: dict[str, Any] | None = None, source: Path | None = None,
                ablation: dict[str, Any] | None = None, ablation_plot: Path | None = None) -> str:
    """The page: the table, the findings, the plots (embedded), the ablation when there is one,
    and the sample turns, filled into the template."""
    results = results or {}
    boot = results.get("bootstrap") or {}
    explain = None
    if any(r.get("ci") for r in table["rows"]):
        explain = {"level": round(100 * boot.get("level", 0.95)), "resamples": boot.get("resamples", "")}
    elsewhere = None
    if source is not None and source != run_dir:
        elsewhere = {"name": source.name, "seeds": len(results.get("seeds") or [])}
    return TEMPLATES.get_template("report.html.jinja").render(
        name=run_dir.name, path=str(run_dir.resolve()), bootstrap=explain, table=_table_view(table),
        notes=headline(results), elsewhere=elsewhere,
        figures=[_figure(p, CAPTIONS.get(p.name, p.stem)) for p in plots],
        ablation=_ablation_view(ablation, ablation_plot) if ablation is not None else None,
        samples=[_sample_view(*s) for s in samples])


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, *, n_samples: int = 30,
                 seed: int = 0) -> Path:
    """Write the table, plots and report.html for a run folder or a multi-seed results folder;
    returns the report folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError("not a folder", file=run_dir)
    out = Path(out_dir) if out_dir is not None else RunDir(run_dir).report
    results = {**read_results(run_dir), **grpo_summaries(run_dir)}
    out.mkdir(parents=True, exist_ok=True)  # only now: a folder that is not a run gets no report folder
    rows = results["rows"]
    table = build_table(rows)
    write_atomic(out / "table.json", json.dumps(table, indent=2) + "\n")
    write_atomic(out / "table.md", table_markdown(table) + table_note(table, results))

    source = source_run(run_dir)
    logs = {s: read_log(RunDir(source).stage_log(s)) for s in STAGES[1:]}
    logs = {s: log for s, log in logs.items() if log}
    plots = []
    for name, ok in (("stage_comparison.png", lambda p: plot_stage_comparison(table, p)),
                     ("grpo_rewards.png", lambda p: plot_grpo_rewards(logs.get("grpo", []), p)),
                     ("reasoning_length.png", lambda p: plot_reasoning_length(logs, p)),
                     ("training_loss.png", lambda p: plot_training_loss(logs, p))):
        if ok(out / name):
            plots.append(out / name)

    stages = _ordered({r["stage"] for r in rows} | RunDir(source).evaluated_stages(), STAGES)
    splits = _ordered({r["split"] for r in rows}, SPLITS)
    samples = pick_samples(source, stages, splits, n_samples, seed)
    ablation, ablation_plot = None, None
    ablation_file = RunDir(run_dir).ablation.results  # thinkact ablate's default folder
    if ablation_file.is_file():
        ablation = json.loads(ablation_file.read_text(encoding="utf-8"))
        ablation_plot = out / "ablation.png"
        if not plot_ablation(ablation, ablation_plot):
            ablation_plot = None
    write_atomic(out / "report.html", render_html(run_dir, table, plots, samples, results, source,
                                                  ablation, ablation_plot))
    return out
