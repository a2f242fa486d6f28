"""`thinkact report` on a synthetic run folder: table, plots and a self-contained HTML page."""

import json
import math
import random
import re

import pytest
from conftest import make_samples
from typer.testing import CliRunner

from thinkact.cli import app
from thinkact.evaluate.report import build_report
from thinkact.grammar import render
from thinkact.schema import Target, write_jsonl
from thinkact.scoring import score_files

STAGES = ("vanilla", "sft", "coldstart", "grpo")


def stage_output(stage: str, sample, rng: random.Random) -> str:
    """Plausible outputs: vanilla babbles, later stages are right more often and think."""
    t = sample.target
    if stage == "vanilla":
        return rng.choice(["Hello! <script>alert(1)</script> How can I help?", "", '<tool_call>\n{"name": '])
    right = rng.random() < {"sft": 0.6, "coldstart": 0.7, "grpo": 0.9}[stage]
    if not right:
        t = Target(kind="reply", content="Could you give me your order id?") if t.kind == "tool_call" else \
            Target(kind="tool_call", tool_calls=[c for m in sample.context for c in m.tool_calls])
    reasoning = None if stage == "sft" else f"The user wrote about {sample.context[0].content[-6:-1]} & <order>."
    return render(t.model_copy(update={"reasoning": reasoning}), think=stage != "sft")


def make_run_dir(root, n=24, grpo=True, seed=0):
    rng = random.Random(seed)
    splits = {"test": make_samples(n), "ood": [s.model_copy(update={"id": "ood-" + s.id,
                                                                  "conversation_id": "ood-" + s.conversation_id})
                                             for s in make_samples(n // 2)]}
    rows = []
    for split, samples in splits.items():
        write_jsonl(root / "data" / f"turns_{split}.jsonl", samples)
        for stage in STAGES if grpo else STAGES[:3]:
            folder = root / "eval" / stage / split
            write_jsonl(folder / "predictions.jsonl",
                        [{"id": s.id, "output": stage_output(stage, s, rng)} for s in samples])
            scores = score_files(root / "data" / f"turns_{split}.jsonl", folder / "predictions.jsonl",
                                 out=folder / "scores.json")
            rows.append({"stage": stage, "split": split, "metrics": scores["metrics"]})
    (root / "results.json").write_text(json.dumps({"rows": rows, "grpo_vs_sft_turn_accuracy": {"test": 0.015},
                                                   "grpo": {"steps": 60, "reward_first": 0.55, "reward_last": 0.81}}))
    for stage, steps in (("sft", 40), ("coldstart", 12)):
        log = [{"step": i, "epoch": i / steps, "loss": 3 * math.exp(-i / 10) + 0.1 * rng.random()}
               for i in range(1, steps + 1)]
        write_jsonl(root / "stages" / stage / "train_log.jsonl", log + [{"step": steps, "train_loss": 1.0}])
    if grpo:
        log = []
        for i in range(1, 61):
            p = 1 - math.exp(-i / 20)
            comps = {"format": 0.7 + 0.3 * p, "decision": 0.5 + 0.4 * p, "tool": 0.2 + 0.6 * p,
                     "answer": 0.3 + 0.3 * p, "efficiency": 1 - 0.2 * p}
            comps = {k: min(1.0, v + 0.05 * (rng.random() - 0.5)) for k, v in comps.items()}
            log.append({"step": i, "epoch": i / 60, "loss": 0.01 * rng.random(), "reward": sum(comps.values()) / 5,
                        **{f"rewards/{k}/mean": v for k, v in comps.items()},
                        "frac_reward_zero_std": 0.6 * (1 - p), "reasoning_length": 40 - 15 * p + 3 * rng.random(),
                        "completions/mean_length": 80 - 20 * p})
        path = root / "stages" / "grpo" / "train_log.jsonl"
        write_jsonl(path, log)
        with path.open("a") as fh:
            fh.write('{"step": 61, "rew')  # a line cut short by a kill
    return rows


def test_report_from_synthetic_run(tmp_path):
    rows = make_run_dir(tmp_path)
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "report"

    table = json.loads((out / "table.json").read_text())
    assert [(x["split"], x["stage"]) for x in table["rows"]] == [(sp, st) for sp in ("test", "ood") for st in STAGES]
    want = {(x["stage"], x["split"]): x["metrics"] for x in rows}
    for x in table["rows"]:
        assert x["turn_accuracy"] == want[(x["stage"], x["split"])]["turn_accuracy"]
    md = (out / "table.md").read_text().splitlines()
    assert md[0].startswith("| split | stage | turn acc.") and md[0].endswith("| turns | conv. | seeds |")
    assert all(line.startswith("|") for line in md[:10]) and md[10] == ""
    assert re.search(r"^\| test \| sft \| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \|.* \| 24 \| 24 \| 1 \|$", md[3])
    assert md[11].startswith("Brackets: 95% bootstrap interval over conversations (2000 resamples")

    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["grpo_rewards.png", "reasoning_length.png", "stage_comparison.png", "training_loss.png"]
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing external
    assert "<script" not in page and "<link" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # model text is escaped
    # results.json was written without intervals: they are computed from the eval folders
    assert all(x["ci"]["turn_accuracy"][0] <= x["turn_accuracy"] <= x["ci"]["turn_accuracy"][1] for x in table["rows"])
    acc = {(x["stage"], x["split"]): x["turn_accuracy"] for x in table["rows"]}
    gain = acc[("grpo", "test")] / acc[("sft", "test")] - 1
    assert f"GRPO vs base SFT, turn accuracy on test: {gain:+.1%} relative, 95% CI [" in page
    assert "(paired bootstrap over 24 conversations, 24 turns, 1 seed)" in page
    # GRPO's start and end are read from its log, as plotted, not from results.json's figures
    rewards = [json.loads(line)["reward"] for line in
               (tmp_path / "stages" / "grpo" / "train_log.jsonl").read_text().splitlines()[:-1]]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert (f"GRPO mean reward: {first:.3f} at the start, {last:.3f} at the end "
            "(60 steps; means of the first and last 5 logged steps)") in page
    samples = re.findall(r'<details class="sample">', page)
    assert len(samples) == 30
    assert page.count('<span class="id">ood-') == 12  # all of the small split, the rest from test
    assert page.count('<div class="stage">') == 30 * 4


def test_names_from_the_run_are_escaped_in_the_page(tmp_path):
    """A sample id, a stage (model) name and an ablation variant that hold markup come out as
    text: the page is rendered with autoescape, nothing in it runs."""
    run = tmp_path / "run"
    make_run_dir(run)
    evil = "<script>alert(1)</script>"
    for path in [run / "data" / "turns_test.jsonl", *run.glob("eval/*/test/*")]:
        path.write_text(path.read_text().replace('"c0#0"', json.dumps(evil)))
    results = json.loads((run / "results.json").read_text())
    row = {**results["rows"][0], "stage": "<script>stage()</script>", "intervals": {}}
    results["rows"] = [{**r, "intervals": {}} for r in results["rows"]] + [row]
    (run / "results.json").write_text(json.dumps(results))
    n = {"turns": 24, "conversations": 24}
    (run / "ablate").mkdir()
    (run / "ablate" / "ablate.json").write_text(json.dumps({
        "variants": {"<script>v()</script>": {"description": "<img src=x onerror=alert(2)>", "start": "sft"}},
        "rows": [{"variant": v, "split": "test", "metrics": {"turn_accuracy": 0.5},
                  "intervals": {"turn_accuracy": [0.4, 0.6]}, "n": n} for v in ("run/grpo", "<script>v()</script>")],
        "comparisons": [], "bootstrap": {"resamples": 10}}))

    page = (build_report(run, n_samples=100) / "report.html").read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert '<span class="id">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in page
    assert '<td class="l">&lt;script&gt;stage()&lt;/script&gt;</td>' in page
    assert '<td class="l">&lt;script&gt;v()&lt;/script&gt;</td>' in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_report_is_seeded_and_skips_missing_parts(tmp_path):
    make_run_dir(tmp_path, grpo=False)
    a = build_report(tmp_path, tmp_path / "a", n_samples=10, seed=3)
    b = build_report(tmp_path, tmp_path / "b", n_samples=10, seed=3)
    ids = lambda d: re.findall(r'<span class="id">([^<]+)<', (d / "report.html").read_text())  # noqa: E731
    assert ids(a) == ids(b) and len(ids(a)) == 10
    assert not (a / "grpo_rewards.png").exists() and not (a / "reasoning_length.png").exists()
    assert (a / "stage_comparison.png").exists()


def test_report_without_results_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 1 and "nothing to report" in r.output
    assert not (tmp_path / "report").exists()  # a failed report leaves no empty folder behind
    r = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r" / "here")])
    assert r.exit_code == 1 and not (tmp_path / "r").exists()


def grpo_log(path, rewards):
    write_jsonl(path, [{"step": i + 1, "reward": r, "rewards/format/mean": r, "reasoning_length": 10.0 * (i + 1)}
                       for i, r in enumerate(rewards)])


def test_grpo_start_and_end_do_not_share_steps(tmp_path):
    """With fewer logged steps than two windows, the start and end figures are the two halves
    (at least the first and last step), so they describe the curve."""
    from thinkact.evaluate.results import grpo_summary

    log = tmp_path / "log.jsonl"
    grpo_log(log, [0.47, 0.15])
    g = grpo_summary(log)
    assert (g["reward_first"], g["reward_last"], g["window"]) == (0.47, 0.15, 1)
    assert (g["reasoning_length_first"], g["reasoning_length_last"]) == (10.0, 20.0)
    grpo_log(log, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    g = grpo_summary(log)
    assert g["window"] == 3 and g["reward_first"] == pytest.approx(0.2) and g["reward_last"] == pytest.approx(0.6)
    grpo_log(log, [i / 100 for i in range(20)])
    g = grpo_summary(log)
    assert g["window"] == 5 and g["reward_first"] == pytest.approx(0.02) and g["reward_last"] == pytest.approx(0.17)

    # a report on a run whose results.json holds overlapping figures shows the log's
    make_run_dir(tmp_path / "run")
    grpo_log(tmp_path / "run" / "stages" / "grpo" / "train_log.jsonl", [0.47, 0.15])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    results["grpo"] = {"steps": 2, "reward_first": 0.313, "reward_last": 0.313}
    (tmp_path / "run" / "results.json").write_text(json.dumps(results))
    page = (build_report(tmp_path / "run") / "report.html").read_text()
    assert "GRPO mean reward: 0.470 at the start, 0.150 at the end (2 steps; first and last logged step)" in page


def test_grpo_reward_legend_is_off_the_curves(tmp_path, monkeypatch):
    import matplotlib.figure

    from thinkact.evaluate.report import plot_grpo_rewards

    boxes = []
    real = matplotlib.figure.Figure.savefig

    def save(fig, *args, **kwargs):  # the legend, the reward axes and the figure, as drawn
        renderer = fig.canvas.get_renderer()
        boxes.append((fig.axes[0].get_legend().get_window_extent(renderer),
                      fig.axes[0].get_window_extent(renderer), fig.bbox))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", save)
    log = [{"step": i, "reward": r, "frac_reward_zero_std": 0.5, **{f"rewards/{c}/mean": r for c in
           ("format", "decision", "tool", "answer", "efficiency")}} for i, r in ((1, 0.47), (2, 0.15))]
    assert plot_grpo_rewards(log, tmp_path / "g.png")
    legend, axes, figure = boxes[0]
    assert not legend.overlaps(axes)
    assert figure.x0 <= legend.x0 and legend.x1 <= figure.x1  # and not cut off


def test_report_of_a_multi_seed_folder_shows_means_intervals_and_seeds(tmp_path, monkeypatch):
    """RUN_DIR/seed-<k>/ run folders (here without RUN_DIR/results.json, as while the run is
    going): the table has each metric's mean over the seeds with its interval, the plot error
    bars, and training curves and samples come from the first seed's folder."""
    import matplotlib.axes

    from thinkact.evaluate.results import seed_results

    for k in (0, 1, 2):
        make_run_dir(tmp_path / f"seed-{k}", n=30, seed=k)
    bars = []
    real = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda self, *a, **kw: bars.append(a) or real(self, *a, **kw))
    out = build_report(tmp_path)
    assert bars  # error bars drawn
    table = json.loads((out / "table.json").read_text())
    want = {(r["stage"], r["split"]): r for r in seed_results(tmp_path)["rows"]}
    assert len(table["rows"]) == len(want) == 8
    for x in table["rows"]:
        r = want[(x["stage"], x["split"])]
        per_seed = r["per_seed"]["turn_accuracy"]
        assert x["turn_accuracy"] == pytest.approx(sum(per_seed) / len(per_seed))
        assert x["ci"]["turn_accuracy"][0] <= x["turn_accuracy"] <= x["ci"]["turn_accuracy"][1]
        assert x["n_seeds"] == (1 if x["stage"] == "vanilla" else 3)
        assert x["n_conversations"] == (30 if x["split"] == "test" else 15)
    md = (out / "table.md").read_text()
    assert re.search(r"^\| test \| grpo \| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \|.* \| 30 \| 30 \| 3 \|$", md, re.M)
    assert "with several seeds, the interval of the mean over the seeds" in md
    assert re.search(r"\(paired bootstrap over 30 conversations, 30 turns, 3 seeds; per seed [-+]\d", md)
    page = (out / "report.html").read_text()
    assert "seed-0, one of the 3 seed runs" in page and page.count("data:image/png;base64,") == 4
    assert len(re.findall(r'<details class="sample">', page)) == 30


def test_scores_written_before_per_turn_records_are_rescored(tmp_path):
    """A run folder whose scores.json samples hold only reward, components, turn_correct and
    problems: the intervals come from rescoring gold.jsonl and predictions.jsonl, the same as
    from full records."""
    from thinkact.evaluate.results import run_results

    make_run_dir(tmp_path)
    for folder in tmp_path.glob("eval/*/*"):
        gold = (tmp_path / "data" / f"turns_{folder.name}.jsonl").read_text().splitlines()
        write_jsonl(folder / "gold.jsonl", [json.loads(line) for line in gold])
    full = run_results(tmp_path)
    for path in tmp_path.glob("eval/*/*/scores.json"):
        scores = json.loads(path.read_text())
        scores["samples"] = {k: {f: v[f] for f in ("reward", "components", "turn_correct", "problems")}
                             for k, v in scores["samples"].items()}
        path.write_text(json.dumps(scores))
    assert run_results(tmp_path) == full


def test_a_comparison_over_seeds_shows_each_seeds_value():
    from thinkact.evaluate.results import comparison_line

    c = {"a": "grpo", "b": "coldstart", "split": "test", "metric": "turn_accuracy", "relative": 0.027,
         "relative_ci": [0.008, 0.046], "per_seed_relative": [0.062, 0.072, -0.057],
         "n": {"conversations": 300, "turns": 1576, "seeds": 3}}
    assert comparison_line(c) == ("GRPO vs cold start, turn accuracy on test: +2.7% relative, 95% CI [+0.8%, +4.6%] "
                                  "(paired bootstrap over 300 conversations, 1576 turns, 3 seeds; "
                                  "per seed +6.2%, +7.2%, -5.7%)")
    one = {**c, "per_seed_relative": [0.062], "n": {**c["n"], "seeds": 1}}
    assert comparison_line(one).endswith("1576 turns, 1 seed)")
