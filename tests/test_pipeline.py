"""The pipeline end to end on a tiny model: killed with SIGKILL after its first stage, run again,
it finishes without redoing finished work; a changed config is refused; presets dry-run."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from thinkact.schema import DataError
from thinkact.train.config import StageConfig, dump_config, load_pipeline_config, pipeline_stage_config
from thinkact.pipeline import run_pipeline

pytestmark = pytest.mark.slow


def pipeline_cmd(out, model):
    return [sys.executable, "-m", "thinkact.cli", "pipeline", "--preset", "tiny", "--model", str(model),
            "--out", str(out)]


def test_killed_pipeline_resumes_and_loses_no_work(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(pipeline_cmd(out, tiny_model_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    sft_done = out / "stages" / "sft" / "model" / "config.yaml"
    deadline = time.time() + 300
    while not sft_done.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert sft_done.exists(), proc.stderr.read().decode()[-3000:] if proc.poll() is not None else "timeout"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()
    sft_weights = out / "stages" / "sft" / "model" / "model.safetensors"
    stamps = {p: p.stat().st_mtime_ns for p in [sft_weights, *out.glob("eval/vanilla/*/scores.json")]}
    assert len(stamps) == 3  # the vanilla model was evaluated on test and ood before SFT
    sft_log = (out / "stages" / "sft" / "train_log.jsonl").read_text()

    again = subprocess.run(pipeline_cmd(out, tiny_model_dir), capture_output=True, text=True, env=env,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    for path, stamp in stamps.items():
        assert path.stat().st_mtime_ns == stamp, f"{path} was redone"
    assert (out / "stages" / "sft" / "train_log.jsonl").read_text() == sft_log
    results = json.loads((out / "results.json").read_text())
    assert {(r["stage"], r["split"]) for r in results["rows"]} == {
        (s, p) for s in ("vanilla", "sft", "coldstart", "grpo") for p in ("test", "ood")}
    assert all("turn_accuracy" in r["metrics"] for r in results["rows"])
    assert "| grpo |" in (out / "results.md").read_text()
    # each stage ran the stage config `thinkact train <stage> --preset tiny --run OUT` would
    cfg = load_pipeline_config(preset="tiny")
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": str(tiny_model_dir)})})
    for stage in ("sft", "coldstart", "grpo"):
        saved = yaml.safe_load((out / "stages" / stage / "model" / "config.yaml").read_text())
        assert StageConfig.model_validate(saved) == pipeline_stage_config(cfg, stage, out), stage
    grpo_log = [json.loads(l) for l in (out / "stages" / "grpo" / "train_log.jsonl").read_text().splitlines()]
    assert any("rewards/decision/mean" in r for r in grpo_log)
    assert results["grpo"]["steps"] == 2 and results["grpo"]["reward_first"] is not None

    # a finished run is not redone, and a run with other settings is refused
    third = subprocess.run(pipeline_cmd(out, tiny_model_dir), capture_output=True, text=True, env=env, timeout=300)
    assert third.returncode == 0 and sft_weights.stat().st_mtime_ns == stamps[sft_weights]
    other = subprocess.run(pipeline_cmd(out, tiny_model_dir)[:-2] + ["--preset", "quickstart", "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert other.returncode != 0
    # (preset given twice: typer keeps the last one)


def test_changed_config_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    cfg = load_pipeline_config(preset="tiny")
    changed = cfg.model_copy(update={"sft": cfg.sft.with_trl(max_steps=99)})
    (out / "run_config.yaml").write_text(dump_config(changed))
    with pytest.raises(DataError, match=r"another config \(sft.trl.max_steps: 99 -> 4\)"):
        run_pipeline(cfg, out)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a thinkact run"):
        run_pipeline(cfg, tmp_path / "other")


def test_stage_evaluation_runs_where_models_run(tmp_path, tiny_model_dir, monkeypatch):
    """Each stage's model is evaluated on the device thinkact.models' rule picks."""
    from conftest import make_samples

    from thinkact import models
    from thinkact.evaluate import runner
    from thinkact.train.config import PipelineConfig
    from thinkact.pipeline import evaluate_stage

    devices = []

    def evaluate_model(model, samples, *, out, **kwargs):
        devices.append(next(model.parameters()).device.type)
        out.mkdir(parents=True)
        (out / "scores.json").write_text("{}")

    monkeypatch.setattr(models, "device", lambda: "meta")
    monkeypatch.setattr(runner, "evaluate_model", evaluate_model)
    evaluate_stage(PipelineConfig(), "sft", str(tiny_model_dir), {"test": make_samples(2)}, tmp_path)
    assert devices == ["meta"] and (tmp_path / "eval" / "sft" / "test" / "scores.json").is_file()


def test_paper_preset_dry_run(tmp_path):
    """The paper preset's settings, run with a tiny local model and the bundled data."""
    out = tmp_path / "paper"
    results = run_pipeline(load_pipeline_config(preset="paper"), out, dry_run=True)
    assert len(results["rows"]) == 8
    saved = (out / "stages" / "grpo" / "model" / "config.yaml").read_text()
    assert "beta: 0.001" in saved and "epsilon_high: 0.28" in saved and "loss_type: dapo" in saved
    assert not list(out.glob("stages/*/checkpoint-*"))
    assert list(out.glob("stages/grpo/runs/*/events.out.tfevents.*"))  # the preset reports to tensorboard


def test_seeds_run_one_folder_each_sharing_data_and_vanilla(tmp_path, tiny_model_dir):
    """Two seeds of the tiny pipeline: seed-<k>/ run folders whose stages are seeded k, the data
    and the vanilla evaluation made once, results over both seeds with intervals."""
    cfg = load_pipeline_config(preset="tiny")
    cfg = cfg.model_copy(update={"seeds": [0, 1], "model": cfg.model.model_copy(update={"name": str(tiny_model_dir)}),
                                 "sft": cfg.sft.with_trl(max_steps=2),
                                 "eval": cfg.eval.model_copy(update={"splits": ["test"]})})
    out = tmp_path / "run"
    results = run_pipeline(cfg, out)
    one, two = out / "seed-0", out / "seed-1"
    for run in (one, two):
        assert (run / "results.json").is_file() and (run / "stages" / "grpo" / "model" / "config.yaml").is_file()
    saved = yaml.safe_load((two / "stages" / "grpo" / "model" / "config.yaml").read_text())
    assert saved["train"]["seed"] == 1
    assert StageConfig.model_validate(saved) == pipeline_stage_config(cfg, "grpo", out, seed=1)
    assert (two / "data" / "turns_test.jsonl").read_bytes() == (one / "data" / "turns_test.jsonl").read_bytes()
    assert (two / "eval" / "vanilla" / "test" / "scores.json").read_bytes() == \
        (one / "eval" / "vanilla" / "test" / "scores.json").read_bytes()
    times = json.loads((two / "timings.json").read_text())
    assert "data" not in times and not any(k.startswith("eval/vanilla") for k in times) and "train/sft" in times

    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results)) and saved["seeds"] == [0, 1]
    rows = {(r["stage"], r["split"]): r for r in saved["rows"]}
    assert len(rows) == 4 and rows[("vanilla", "test")]["n"]["seeds"] == 1 and rows[("grpo", "test")]["n"]["seeds"] == 2
    grpo = rows[("grpo", "test")]
    assert len(grpo["per_seed"]["turn_accuracy"]) == 2 and grpo["n"]["turns"] == grpo["metrics"]["n_samples"]
    lo, hi = grpo["intervals"]["mean_reward"]
    assert lo <= grpo["metrics"]["mean_reward"] <= hi
    assert grpo["metrics"]["mean_reward"] == pytest.approx(sum(grpo["per_seed"]["mean_reward"]) / 2)
    assert [(c["a"], c["b"], c["split"], c["n"]["seeds"]) for c in saved["comparisons"]] == [
        ("grpo", "sft", "test", 2), ("coldstart", "sft", "test", 2), ("grpo", "coldstart", "test", 2)]
    assert len(saved["seed_rows"]) == 8 and set(saved["grpo_per_seed"]) == {"0", "1"}
    assert "seed-1/train/grpo" in saved["timings"]
    assert re.search(r"^\| test \| grpo \| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \|.*\| 2 \|$",
                     (out / "results.md").read_text(), re.M)

    with pytest.raises(DataError, match="another config"):
        run_pipeline(cfg.model_copy(update={"seeds": [0, 2]}), out)
