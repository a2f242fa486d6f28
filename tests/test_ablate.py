"""`thinkact ablate`: variants resolve to the run's GRPO settings changed only where their
overlay says; on a tiny finished run, a killed ablation resumes without redoing finished
variants, a changed overlay is refused, and the table holds every variant with intervals."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from thinkact.schema import DataError, read_turns
from thinkact.ablate import (DEFAULT_VARIANTS, ablation_results, load_variant, run_ablation, variant_names,
                             variant_settings)
from thinkact.train.config import dump_config, load_pipeline_config, stage_config
from thinkact.pipeline import _diff, eval_subset, evaluate_stage, open_run, prepare_data


def _changes(variant: str) -> dict[str, tuple]:
    cfg = load_pipeline_config(preset="quickstart")
    base = cfg.grpo.model_dump(mode="json")
    new = variant_settings(cfg, load_variant(variant)).model_dump(mode="json")
    return {line.split(":")[0]: line for line in _diff(base, new)}


@pytest.mark.parametrize("variant", DEFAULT_VARIANTS)
def test_a_variant_changes_the_runs_grpo_only_where_its_overlay_says(variant):
    expected = {"full": set(), "no-coldstart": set(), "no-think": {"think"}, "binary": {"reward.kind"},
                "other-seed": {"seed"},
                "tool-x2": {"reward.weights.tool"}, "answer-x2": {"reward.weights.answer"}}.get(
        variant, {f"reward.weights.{variant[3:]}"})
    changes = _changes(variant)
    assert set(changes) == expected
    if variant.startswith("no-") and variant[3:] in ("format", "decision", "tool", "answer", "efficiency"):
        assert changes[f"reward.weights.{variant[3:]}"].endswith("-> 0.0")
    if variant == "other-seed":
        assert changes["seed"] == "seed: 0 -> 1"
    if variant == "tool-x2":
        assert changes["reward.weights.tool"] == "reward.weights.tool: 0.5 -> 1.0"
    start = load_variant(variant).start
    assert start == ("sft" if variant in ("no-think", "no-coldstart") else "coldstart")


def test_every_shipped_variant_is_a_default_and_scaling_follows_the_runs_weights(tmp_path):
    assert set(variant_names()) == set(DEFAULT_VARIANTS)
    cfg = load_pipeline_config(preset="quickstart")
    heavy = cfg.model_copy(update={"grpo": cfg.grpo.model_copy(update={
        "reward": cfg.grpo.reward.model_copy(update={"weights": cfg.grpo.reward.weights.model_copy(
            update={"tool": 0.8})})})})
    assert variant_settings(heavy, load_variant("tool-x2")).reward.weights.tool == pytest.approx(1.6)
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: x\ngrpo:\n  reward: {wieghts: {tool: 0}}\n")
    with pytest.raises(DataError, match="wieghts"):
        variant_settings(cfg, load_variant(str(bad)))
    # an overlay's TRL keys are merged into the run's, key by key, and checked as a config's are
    hotter = tmp_path / "hotter.yaml"
    hotter.write_text("description: x\ngrpo:\n  trl: {temperature: 1.2, top_k: 20}\n")
    settings = variant_settings(cfg, load_variant(str(hotter)))
    assert settings.trl == {**cfg.grpo.trl, "temperature": 1.2, "top_k": 20}
    hotter.write_text("description: x\ngrpo:\n  trl: {temprature: 1.2}\n")
    with pytest.raises(DataError, match="variant 'hotter': unknown key 'temprature'.*'temperature'") as err:
        variant_settings(cfg, load_variant(str(hotter)))
    assert err.value.field == "grpo.trl.temprature"
    typo = tmp_path / "typo.yaml"
    typo.write_text("description: x\nstart: coldstart\nscale: {tool: 2}\n")
    with pytest.raises(DataError, match=r"typo\.yaml.*line 3.*unknown key"):
        load_variant(str(typo))
    with pytest.raises(DataError, match="unknown variant 'no-such'"):
        load_variant("no-such")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir):
    """A run folder as the tiny pipeline leaves it, built without training: its data, the tiny
    model as the SFT and cold-start models, and evaluations of base SFT and GRPO."""
    cfg = load_pipeline_config(preset="tiny")
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": str(tiny_model_dir)})})
    out = tmp_path_factory.mktemp("ablate") / "run"
    open_run(cfg, out, overwrite=False)
    files = prepare_data(cfg, out / "data")
    for stage in ("sft", "coldstart", "grpo"):
        model = out / "stages" / stage / "model"
        shutil.copytree(tiny_model_dir, model)
        sc = stage_config(cfg, stage, model=str(tiny_model_dir), data=str(files["turns_train"]),
                          out=str(out / "stages" / stage))
        (model / "config.yaml").write_text(dump_config(sc))
    splits = {s: eval_subset(read_turns(files[f"turns_{s}"]), cfg.eval.max_samples, cfg.data.seed)
              for s in ("test", "ood")}
    for stage in ("sft", "grpo"):
        evaluate_stage(cfg, stage, str(out / "stages" / stage / "model"), splits, out)
    return out


@pytest.mark.slow
def test_killed_ablation_resumes_refuses_a_changed_overlay_and_tabulates(finished_run, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("description: binary, tool weight 0.2\ngrpo:\n  reward: {kind: binary, weights: {tool: 0.2}}\n")
    out = finished_run / "ablate"  # the default folder, which `thinkact report` reads
    cmd = [sys.executable, "-m", "thinkact.cli", "ablate", str(finished_run),
           "-v", "no-think", "-v", str(mine)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    first = out / "no-think" / "grpo" / "model" / "model.safetensors"
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.exists(), proc.stderr.read().decode()[-3000:] if proc.poll() is not None else "timeout"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "ablate.json").exists()
    stamp = first.stat().st_mtime_ns

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert first.stat().st_mtime_ns == stamp  # the finished variant was kept, not redone
    results = json.loads((out / "ablate.json").read_text())
    rows = {(r["variant"], r["split"]): r for r in results["rows"]}
    assert set(rows) == {(v, s) for v in ("run/sft", "run/grpo", "no-think", "mine") for s in ("test", "ood")}
    for r in rows.values():
        lo, hi = r["intervals"]["turn_accuracy"]
        assert lo <= r["metrics"]["turn_accuracy"] <= hi
    # the control is scored with thinking off, the others with thinking required
    assert json.loads((out / "eval" / "no-think" / "test" / "scores.json").read_text())["settings"]["think"] == "off"
    assert json.loads((out / "eval" / "mine" / "test" / "scores.json").read_text())["settings"]["think"] == "required"
    assert {(c["a"], c["b"]) for c in results["comparisons"]} == {
        (v, ref) for v in ("no-think", "mine") for ref in ("run/grpo", "run/sft")}
    log = [json.loads(l) for l in (out / "mine" / "grpo" / "train_log.jsonl").read_text().splitlines()]
    assert any("rewards/binary/mean" in r for r in log)
    table = (out / "ablate.md").read_text()
    assert "| mine | binary, tool weight 0.2 |" in table and "| run/grpo |" in table
    import yaml
    assert yaml.safe_load((out / "mine" / "variant.yaml").read_text())["grpo"]["reward"]["weights"]["tool"] == 0.2

    # a later call for one variant keeps the others finished in the folder in its table
    again = ablation_results(finished_run, out, [load_variant("no-think")])
    assert set(again["variants"]) == {"no-think", "mine"}
    assert again["variants"]["mine"]["description"] == "binary, tool weight 0.2"

    from thinkact.evaluate.report import build_report
    report = build_report(finished_run, tmp_path / "report")
    assert (report / "ablation.png").stat().st_size > 1000
    html = (report / "report.html").read_text()
    assert "What each reward component buys" in html and '<td class="l">mine</td>' in html

    mine.write_text("description: binary, tool weight 0.3\ngrpo:\n  reward: {kind: binary, weights: {tool: 0.3}}\n")
    with pytest.raises(DataError, match="other settings"):
        run_ablation(finished_run, [str(mine)])
