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

Parts whose inputs are missing (a run without GRPO, say) are skipped, not faked.
"""

from __future__ import annotations

import base64
import html
import json
import random
from pathlib import Path
from typing import Any

from thinkact import grammar
from thinkact.rewards import COMPONENTS
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

    path = run_dir / "results.json"
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
    from thinkact.evaluate.results import seed_runs

    if (run_dir / "eval").is_dir() or (run_dir / "stages").is_dir():
        return run_dir
    runs = seed_runs(run_dir)
    return next(iter(runs.values())) if runs else run_dir


def grpo_summaries(run_dir: Path) -> dict[str, Any]:
    """results.json's GRPO summaries, from the training logs the plots are drawn from (a log
    can have grown since results.json was written: a run going on, or resumed)."""
    from thinkact.evaluate.results import seed_runs
    from thinkact.evaluate.results import grpo_summary

    runs = seed_runs(run_dir)
    if runs:
        per_seed = {str(k): grpo_summary(p / "stages" / "grpo" / "train_log.jsonl") for k, p in runs.items()}
        per_seed = {k: g for k, g in per_seed.items() if g}
        return {"grpo_per_seed": per_seed} if per_seed else {}
    summary = grpo_summary(run_dir / "stages" / "grpo" / "train_log.jsonl")
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


def ablation_html(ablation: dict[str, Any], plot: Path | None) -> str:
    from thinkact.evaluate.results import ablation_markdown

    text = ablation_markdown(ablation)  # the table and its note, as ablate.md has them
    lines = [l for l in text.splitlines() if l.startswith("|")]
    cells = [[c.strip() for c in l.strip("|").split("|")] for l in lines]
    head = "".join(f"<th>{_e(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f'<td{" class=l" if i < 2 else ""}>{_e(c)}</td>' for i, c in enumerate(row))
                   + "</tr>" for row in cells[2:])
    figure = f"<figure>{_img(plot)}<figcaption>{_e(CAPTIONS['ablation.png'])}</figcaption></figure>" if plot else ""
    note = text.split("\n\n", 1)[-1].strip()
    return (f"<h2>What each reward component buys (thinkact ablate)</h2>"
            f'<div class="tablewrap"><table><tr>{head}</tr>{body}</table></div><p class="sub">{_e(note)}</p>{figure}')


# --------------------------------------------------------------------------- sample browser

def read_outputs(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {o["id"]: o.get("output", "") for _, o in iter_jsonl_dicts(path) if isinstance(o.get("id"), str)}


def gold_samples(run_dir: Path, split: str, stages: list[str]) -> list[TurnSample]:
    for path in [run_dir / "data" / f"turns_{split}.jsonl"] + [
            run_dir / "eval" / s / split / "gold.jsonl" for s in stages]:
        if path.is_file():
            return read_turns(path)
    return []


def pick_samples(run_dir: Path, stages: list[str], splits: list[str], n: int,
                 seed: int) -> list[tuple[str, TurnSample, dict[str, dict[str, Any]]]]:
    """n seeded turns spread evenly over the splits (a small split's share goes to the others),
    each with every stage's output and scores."""
    pools = []
    for split in splits:
        per_stage = {}
        for stage in stages:
            folder = run_dir / "eval" / stage / split
            outs = read_outputs(folder / "predictions.jsonl")
            scores = {}
            if (folder / "scores.json").is_file():
                scores = json.loads((folder / "scores.json").read_text(encoding="utf-8")).get("samples", {})
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

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 10px;border-bottom:2px solid #e4e7eb;padding-bottom:4px}
.sub{color:#616e7c;margin:0 0 18px;font-size:13px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;text-align:right;white-space:nowrap}
th{background:#f0f4f8;font-weight:600;white-space:normal;vertical-align:bottom;font-size:12px;min-width:56px}
td.l,th.l{text-align:left}td.best{font-weight:700;color:#0b6e4f}
tr.split-start td{border-top:2px solid #cbd2d9}
.tablewrap{overflow-x:auto;border:1px solid #e4e7eb;border-radius:6px}
figure{margin:14px 0;background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:10px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:#616e7c;font-size:12px;margin-top:6px}
details.sample{background:#fff;border:1px solid #e4e7eb;border-radius:6px;margin:8px 0}
details.sample>summary{cursor:pointer;padding:8px 12px;font-size:13px;display:flex;gap:8px;
  align-items:center;flex-wrap:wrap}
details.sample>summary::-webkit-details-marker{display:none}details.sample>summary{list-style:none}
details.sample>summary::before{content:'\\25B8';color:#7b8794}details.sample[open]>summary::before{content:'\\25BE'}
details.sample[open]>summary{border-bottom:1px solid #e4e7eb;background:#f8fafc}
.body{padding:10px 14px;display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:14px}
.col h3{font-size:13px;margin:4px 0 6px;color:#3e4c59;text-transform:uppercase;letter-spacing:.04em}
.msg{border-left:3px solid #cbd2d9;padding:4px 8px;margin:4px 0;background:#f8fafc;font-size:12.5px}
.msg .role{font-size:11px;font-weight:700;color:#616e7c;text-transform:uppercase}
.msg.user{border-color:#4c78a8}.msg.assistant{border-color:#54a24b}.msg.tool{border-color:#b279a2}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;font-size:12px;
  font-family:ui-monospace,Menlo,Consolas,monospace}
.think{background:#fff8e6;border-left:3px solid #f5b301;padding:4px 8px;margin:4px 0;font-size:12px;color:#5c4400}
.stage{border:1px solid #e4e7eb;border-radius:6px;padding:6px 9px;margin:0 0 8px}
.stage h4{margin:0 0 4px;font-size:13px;display:flex;justify-content:space-between}
.badge{display:inline-block;font-size:11px;padding:1px 7px;border-radius:10px;background:#e4e7eb;color:#323f4b}
.ok{background:#d7f5e3;color:#0b6e4f}.bad{background:#fde2e1;color:#a61b1b}
.kind{background:#e0e8f9;color:#243b53}.snip{color:#7b8794;font-size:12px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;flex:1;min-width:0}.id{font-family:ui-monospace,monospace;font-weight:600}
.comps{font-size:11.5px;color:#52606d;margin-top:4px}.comps span{margin-right:10px}
.notes{font-size:13px;margin:10px 0 0 0;padding-left:20px}
.problems{color:#a61b1b;font-size:11.5px;margin:3px 0 0 16px;padding:0}
details.sys>summary{cursor:pointer;font-size:12px;color:#616e7c}
@media (max-width:820px){.body{grid-template-columns:1fr}}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def _calls_text(calls) -> str:
    """One line per call: name(arguments as JSON)."""
    return "\n".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in calls)


def _message_html(m) -> str:
    body = _calls_text(m.tool_calls) if m.tool_calls else m.content
    role = m.role + (f" · {m.name}" if m.role == "tool" and m.name else "")
    return f'<div class="msg {_e(m.role)}"><div class="role">{_e(role)}</div><pre>{_e(body)}</pre></div>'


def _action_html(target: Target | None, raw: str) -> str:
    if target is None:
        return f'<pre>{_e(raw) if raw.strip() else "(empty output)"}</pre>'
    think = f'<div class="think"><pre>{_e(target.reasoning)}</pre></div>' if target.reasoning else ""
    label, body = ("tool call", _calls_text(target.tool_calls)) if target.kind == "tool_call" else (
        "reply", target.content)
    return think + f'<div class="msg assistant"><div class="role">{label}</div><pre>{_e(body)}</pre></div>'


def _stage_html(stage: str, view: dict[str, Any]) -> str:
    parsed = grammar.parse(view["output"])
    target = parsed.to_target()
    correct = view.get("turn_correct")
    badge = "" if correct is None else (
        '<span class="badge ok">right</span>' if correct else '<span class="badge bad">wrong</span>')
    reward = view.get("reward")
    head = f'<h4><span>{_e(stage)}</span><span>{badge} ' + (
        f'<span class="badge">reward {reward:.2f}</span>' if isinstance(reward, (int, float)) else "") + "</span></h4>"
    comps = view.get("components") or {}
    comp_html = "".join(f"<span>{_e(k)} {'–' if v is None else f'{v:.2f}'}</span>" for k, v in comps.items())
    problems = view.get("problems") or parsed.problems
    prob_html = "".join(f"<li>{_e(p)}</li>" for p in problems)
    prob_html = f'<ul class="problems">{prob_html}</ul>' if prob_html else ""
    return (f'<div class="stage">{head}{_action_html(target, view["output"])}'
            f'<div class="comps">{comp_html}</div>{prob_html}</div>')


def _sample_html(split: str, sample: TurnSample, views: dict[str, dict[str, Any]]) -> str:
    kind = "call" if sample.target.kind == "tool_call" else "reply"
    badges = " ".join(
        f'<span class="badge {"ok" if v.get("turn_correct") else "bad"}">{_e(st)}'
        + (f' {v["reward"]:.2f}' if isinstance(v.get("reward"), (int, float)) else "") + "</span>"
        for st, v in views.items())
    last = next((m.content for m in reversed(sample.context) if m.role == "user"), "")
    snippet = last if len(last) <= 90 else last[:87] + "..."
    summary = (f'<summary><span class="id">{_e(sample.id)}</span><span class="badge">{_e(split)}</span>'
               f'<span class="badge kind">{kind}</span>{badges}<span class="snip">{_e(snippet)}</span></summary>')
    tools = ", ".join(t.get("name", t.get("function", {}).get("name", "?")) for t in sample.tools)
    system = (f'<details class="sys"><summary>system prompt · tools: {_e(tools) or "none"}</summary>'
              f'<pre>{_e(sample.system)}</pre></details>')
    context = system + "".join(_message_html(m) for m in sample.context)
    reference = _action_html(sample.target, "")
    stages = "".join(_stage_html(st, v) for st, v in views.items())
    return (f'<details class="sample">{summary}<div class="body">'
            f'<div class="col"><h3>Context</h3>{context}</div>'
            f'<div class="col"><h3>Reference</h3>{reference}<h3>Stage outputs</h3>{stages}</div>'
            f"</div></details>")


def _table_html(table: dict[str, Any]) -> str:
    metrics = table["metrics"]
    # The best value of each metric on each split, bold where it stands out (not all tied).
    seen: dict[tuple[str, str], list[float]] = {}
    for r in table["rows"]:
        for m in metrics:
            if r.get(m) is not None and m != "mean_reasoning_length":
                seen.setdefault((r["split"], m), []).append(r[m])
    best = {k: max(vs) for k, vs in seen.items() if max(vs) > min(vs)}
    head = ('<tr><th class="l">split</th><th class="l">stage</th>'
            + "".join(f"<th>{_e(LABELS.get(m, m))}</th>" for m in metrics)
            + "<th>turns</th><th>conv.</th><th>seeds</th></tr>")
    body, last = [], None
    for r in table["rows"]:
        cls = ' class="split-start"' if last is not None and r["split"] != last else ""
        last = r["split"]
        cells = "".join(
            f'<td{" class=best" if r.get(m) is not None and best.get((r["split"], m)) == r.get(m) else ""}>'
            f"{_e(_cell(m, r.get(m), r.get('ci', {}).get(m)))}</td>" for m in metrics)
        sizes = "".join(f"<td>{_e('' if r.get(k) is None else r[k])}</td>"
                        for k in ("n_samples", "n_conversations", "n_seeds"))
        body.append(f'<tr{cls}><td class="l">{_e(r["split"])}</td><td class="l">{_e(r["stage"])}</td>'
                    f"{cells}{sizes}</tr>")
    return f'<div class="tablewrap"><table>{head}{"".join(body)}</table></div>'


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
                extra: str = "") -> str:
    figures = "".join(f"<figure>{_img(p)}<figcaption>{_e(CAPTIONS.get(p.name, p.stem))}</figcaption></figure>"
                      for p in plots)
    browser = "".join(_sample_html(*s) for s in samples) or "<p>No predictions found.</p>"
    results = results or {}
    notes = "".join(f"<li>{_e(line)}</li>" for line in headline(results))
    notes = f'<ul class="notes">{notes}</ul>' if notes else ""
    boot = results.get("bootstrap") or {}
    explain = ""
    if any(r.get("ci") for r in table["rows"]):
        explain = (f'<p class="sub">In brackets: {round(100 * boot.get("level", 0.95))}% bootstrap interval over '
                   f'conversations ({boot.get("resamples", "")} resamples); with several seeds, each value is the '
                   f"mean over the seeds and the interval that of the mean.</p>")
    elsewhere = ""
    if source is not None and source != run_dir:
        elsewhere = (f'<p class="sub">Training curves and sample turns: {_e(source.name)}, one of the '
                     f"{_e(len(results.get('seeds') or []))} seed runs.</p>")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>thinkact report: {_e(run_dir.name)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>thinkact report</h1><p class=\"sub\">{_e(run_dir.resolve())}</p>"
            f"<h2>Results by stage and split</h2>{explain}{_table_html(table)}{notes}"
            f"<h2>Plots</h2>{elsewhere}{figures or '<p>No plots: no training logs or results.</p>'}{extra}"
            f"<h2>Sample turns ({len(samples)})</h2>"
            f"<p class=\"sub\">A seeded sample of evaluation turns: the context, the reference action and each "
            f"stage's output with its reasoning, reward and reward components. Click a turn to open it.</p>"
            f"{browser}</main></body></html>\n")


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, *, n_samples: int = 30,
                 seed: int = 0) -> Path:
    """Write the table, plots and report.html for a run folder or a multi-seed results folder;
    returns the report folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError("not a folder", file=run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    results = {**read_results(run_dir), **grpo_summaries(run_dir)}
    out.mkdir(parents=True, exist_ok=True)  # only now: a folder that is not a run gets no report folder
    rows = results["rows"]
    table = build_table(rows)
    write_atomic(out / "table.json", json.dumps(table, indent=2) + "\n")
    write_atomic(out / "table.md", table_markdown(table) + table_note(table, results))

    source = source_run(run_dir)
    logs = {s: read_log(source / "stages" / s / "train_log.jsonl") for s in STAGES[1:]}
    logs = {s: log for s, log in logs.items() if log}
    plots = []
    for name, ok in (("stage_comparison.png", lambda p: plot_stage_comparison(table, p)),
                     ("grpo_rewards.png", lambda p: plot_grpo_rewards(logs.get("grpo", []), p)),
                     ("reasoning_length.png", lambda p: plot_reasoning_length(logs, p)),
                     ("training_loss.png", lambda p: plot_training_loss(logs, p))):
        if ok(out / name):
            plots.append(out / name)

    stages = _ordered({r["stage"] for r in rows} | {p.name for p in (source / "eval").glob("*")
                                                     if p.is_dir()}, STAGES)
    splits = _ordered({r["split"] for r in rows}, SPLITS)
    samples = pick_samples(source, stages, splits, n_samples, seed)
    extra = ""
    ablation_file = run_dir / "ablate" / "ablate.json"  # thinkact ablate's default folder
    if ablation_file.is_file():
        ablation = json.loads(ablation_file.read_text(encoding="utf-8"))
        plot = out / "ablation.png"
        extra = ablation_html(ablation, plot if plot_ablation(ablation, plot) else None)
    write_atomic(out / "report.html", render_html(run_dir, table, plots, samples, results, source, extra))
    return out
