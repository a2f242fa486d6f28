from pathlib import Path

import pytest
import yaml

from thinkact.schema import DataError
from thinkact.train.config import (GRPOSettings, PipelineConfig, SFTSettings, StageConfig, dump_config,
                                   load_pipeline_config, load_stage_config, preset_names, stage_config,
                                   trainer_kwargs, warmup_kwargs)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_misspelt_key_names_file_line_key_and_suggestion(tmp_path):
    p = write(tmp_path, "stage: grpo\nmodel: m\ndata: d.jsonl\nout: o\ntrain:\n  max_steps: 3\n  num_generation: 4\n")
    with pytest.raises(DataError) as err:
        load_stage_config(p, "grpo")
    e = err.value
    assert e.file == str(p) and e.line == 7 and e.field == "train.num_generation"
    assert "unknown key" in str(e) and "num_generations" in str(e)


def test_bad_value_is_reported_before_any_model_loads(tmp_path):
    p = write(tmp_path, "grpo:\n  reward:\n    weights:\n      tool: -1\n")
    with pytest.raises(DataError) as err:
        load_pipeline_config(p)
    assert err.value.field == "grpo.reward.weights.tool" and err.value.line == 4
    p = write(tmp_path, "sft:\n  learning_rate: fast\n")
    with pytest.raises(DataError, match="line 2.*sft.learning_rate"):
        load_pipeline_config(p)


def test_key_of_another_stage_is_rejected(tmp_path):
    # num_generations is a GRPO setting: an SFT file must not accept it
    p = write(tmp_path, "model: m\ndata: d\nout: o\ntrain:\n  num_generations: 4\n")
    with pytest.raises(DataError, match="train.num_generations"):
        load_stage_config(p, "sft")
    p = write(tmp_path, "stage: grpo\nmodel: m\ndata: d\nout: o\n")
    with pytest.raises(DataError, match="configures stage 'grpo', not 'sft'"):
        load_stage_config(p, "sft")


def test_group_size_must_divide_the_batch():
    with pytest.raises(ValueError, match="multiple of num_generations"):
        GRPOSettings(batch_size=6, num_generations=4)
    assert GRPOSettings(batch_size=2, grad_accum=2, num_generations=4).num_generations == 4


def test_invalid_yaml_and_non_mapping(tmp_path):
    with pytest.raises(DataError, match="invalid YAML"):
        load_pipeline_config(write(tmp_path, "sft: [1, 2\n"))
    with pytest.raises(DataError, match="mapping"):
        load_pipeline_config(write(tmp_path, "- 1\n"))
    with pytest.raises(DataError, match="unknown preset 'nope'"):
        load_pipeline_config(preset="nope")


def test_presets_load_and_stage_settings_have_stage_defaults():
    assert {"quickstart", "smollm2", "paper", "tiny"} <= set(preset_names())
    for name in preset_names():
        cfg = load_pipeline_config(preset=name)
        assert cfg.preset == name
        assert cfg.sft.think is False and cfg.coldstart.think is True and cfg.grpo.think is True
    assert load_pipeline_config(preset="paper").model.name == "Qwen/Qwen3-1.7B"


def test_stage_yaml_files_match_their_preset():
    """configs/<preset>/<stage>.yaml carry the same settings as the preset the pipeline runs."""
    files = sorted(CONFIGS.glob("*/*.yaml"))
    stage_files = [f for f in files if f.stem in ("sft", "coldstart", "grpo")]
    assert len(stage_files) >= 9
    for f in stage_files:
        cfg = load_stage_config(f, f.stem)
        preset = load_pipeline_config(preset=f.parent.name)
        assert cfg.train == getattr(preset, f.stem), f


def test_resolved_config_round_trips():
    cfg = stage_config(load_pipeline_config(preset="quickstart"), "grpo", model="m", data="d", out="o")
    again = StageConfig.model_validate(yaml.safe_load(dump_config(cfg)))
    assert again == cfg and isinstance(again.train, GRPOSettings)
    assert PipelineConfig.model_validate(yaml.safe_load(dump_config(PipelineConfig()))) == PipelineConfig()


def test_cpu_gets_no_bf16_and_no_checkpointing(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    kw = trainer_kwargs(GRPOSettings(), "out")
    ckpt = kw.get("activation_checkpointing", kw.get("gradient_checkpointing"))
    assert kw["bf16"] is False and kw["fp16"] is False and ckpt is False and kw["use_cpu"] is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    kw = trainer_kwargs(GRPOSettings(), "out")
    assert kw["bf16"] is True and kw.get("activation_checkpointing", kw.get("gradient_checkpointing")) is True
    kw = trainer_kwargs(GRPOSettings(bf16=False, gradient_checkpointing=False), "out")
    assert kw["bf16"] is False


def test_warmup_share_is_that_share_of_the_steps(tmp_path):
    from transformers import TrainingArguments

    def warmup_steps(warmup: float, total: int) -> int:
        return TrainingArguments(**trainer_kwargs(SFTSettings(warmup=warmup), tmp_path)).get_warmup_steps(total)

    assert warmup_steps(0.05, 200) == 10 and warmup_steps(0.05, 30) == 2  # a share rounds up
    assert warmup_steps(3, 200) == 3 and warmup_steps(0, 200) == 0  # >= 1: that many steps


def test_warmup_share_goes_to_warmup_ratio_where_warmup_steps_counts_steps(monkeypatch):
    from dataclasses import dataclass

    import transformers

    @dataclass
    class TrainingArguments:  # transformers 4's fields
        warmup_steps: int = 0
        warmup_ratio: float = 0.0

    monkeypatch.setattr(transformers, "TrainingArguments", TrainingArguments)
    assert warmup_kwargs(0.05) == {"warmup_ratio": 0.05}
    assert warmup_kwargs(3) == {"warmup_steps": 3}


def test_missing_reporting_package_is_named_before_training(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert trainer_kwargs(GRPOSettings(report_to=["tensorboard"]), "out")["report_to"] == ["tensorboard"]
    with pytest.raises(DataError, match="pip install wandb") as err:
        trainer_kwargs(GRPOSettings(report_to=["wandb"]), "out")
    assert err.value.field == "train.report_to"


def test_results_preset_follows_the_quickstart_with_its_own_sizes_eval_and_seeds():
    quick, results = load_pipeline_config(preset="quickstart"), load_pipeline_config(preset="results")
    assert results.preset == "results" and results.seeds == [0, 1, 2]
    for part in ("model", "sft", "coldstart", "grpo"):
        assert getattr(results, part) == getattr(quick, part), part
    assert results.data.seed == 0 and results.data.sizes == {**quick.data.sizes, "test": 300, "ood": 300}
    assert results.data.sizes["train"] == quick.data.sizes["train"]
    assert results.eval.max_samples is None and results.eval.splits == ["test", "ood"]
    assert (results.eval.batch_size, results.eval.max_new_tokens) == (quick.eval.batch_size, quick.eval.max_new_tokens)
    one = results.for_seed(2)
    assert one.seeds is None and one.sft.seed == one.coldstart.seed == one.grpo.seed == 2
    assert one.sft.model_copy(update={"seed": 0}) == quick.sft and one.data == results.data


def test_base_config_is_merged_key_by_key_and_follows_its_base(tmp_path):
    write(tmp_path, "sft:\n  learning_rate: 0.5\n  epochs: 2\ndata:\n  sizes: {train: 10, test: 4}\n", "base.yaml")
    child = write(tmp_path, "base: base.yaml\nsft:\n  epochs: 3\ndata:\n  sizes: {test: 8}\nseeds: [1, 2]\n")
    cfg = load_pipeline_config(child)
    assert (cfg.sft.learning_rate, cfg.sft.epochs) == (0.5, 3)
    assert cfg.data.sizes == {"train": 10, "test": 8} and cfg.seeds == [1, 2]
    write(tmp_path, "sft:\n  learning_rate: 0.25\n  epochs: 2\n", "base.yaml")  # the base changes
    assert load_pipeline_config(child).sft.learning_rate == 0.25
    # a preset by name as base, and a bad key is reported in the file that wrote it
    named = write(tmp_path, "base: quickstart\ngrpo:\n  num_generation: 4\n", "named.yaml")
    with pytest.raises(DataError, match=r"named\.yaml, line 3, field 'grpo.num_generation'"):
        load_pipeline_config(named)
    write(tmp_path, "base: cfg.yaml\n", "loop.yaml")
    write(tmp_path, "base: loop.yaml\n")
    with pytest.raises(DataError, match="loop"):
        load_pipeline_config(tmp_path / "cfg.yaml")
    with pytest.raises(DataError, match="unknown preset 'nope'"):
        load_pipeline_config(write(tmp_path, "base: nope\n", "nope.yaml"))
    with pytest.raises(DataError, match="distinct"):
        load_pipeline_config(write(tmp_path, "seeds: [1, 1]\n", "seeds.yaml"))


def test_a_config_of_the_other_kind_is_named_as_such(tmp_path):
    from typer.testing import CliRunner

    from thinkact.cli import app

    stage = CONFIGS / "quickstart" / "sft.yaml"
    r = CliRunner().invoke(app, ["pipeline", "--config", str(stage), "--out", str(tmp_path / "run"), "--check"])
    assert r.exit_code == 1
    assert r.output.startswith(f"error: {stage}: this is a stage config (for thinkact train sft); pipeline configs "
                               "look like")
    # a pipeline config whose base is a stage config names the stage file
    over = write(tmp_path, f"base: {stage}\nsft:\n  epochs: 1\n")
    with pytest.raises(DataError, match="this is a stage config") as err:
        load_pipeline_config(over)
    assert err.value.file == str(stage)

    for pipeline in (write(tmp_path, "model:\n  name: quickstart\nsft:\n  epochs: 2\n"),
                     write(tmp_path, "base: quickstart\n"), write(tmp_path, "data:\n  source: bench\n")):
        r = CliRunner().invoke(app, ["train", "sft", "-c", str(pipeline), "--check"])
        assert r.exit_code == 1
        assert r.output.startswith(f"error: {pipeline}: this is a pipeline config (for thinkact pipeline --config); "
                                   "stage configs look like")
    assert not (tmp_path / "run").exists()


def test_check_warns_of_missing_inputs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from thinkact.cli import app

    monkeypatch.chdir(tmp_path)  # the shipped configs' paths are relative to where thinkact runs
    cfg = CONFIGS / "quickstart" / "coldstart.yaml"
    r = CliRunner().invoke(app, ["train", "coldstart", "-c", str(cfg), "--check"])
    assert r.exit_code == 0 and f"{cfg}: valid coldstart config" in r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {cfg}, line 7, field 'data': no such file: runs/quickstart/data/coldstart.jsonl",
        f"warning: {cfg}, line 8, field 'mix_data': no such file: runs/quickstart/data/turns_train.jsonl",
        f"warning: {cfg}, line 6, field 'model': no such folder: runs/quickstart-by-hand/stages/sft/model"]

    # once the inputs are there: no warning; a preset model name or a hub id is not looked up
    for path in ("runs/quickstart/data/coldstart.jsonl", "runs/quickstart/data/turns_train.jsonl"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}\n")
    (tmp_path / "runs/quickstart-by-hand/stages/sft/model").mkdir(parents=True)
    r = CliRunner().invoke(app, ["train", "coldstart", "-c", str(cfg), "--check"])
    assert r.exit_code == 0 and "warning" not in r.output
    for model in ("quickstart", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        p = write(tmp_path, f"stage: sft\nmodel: {model}\ndata: runs/quickstart/data/turns_train.jsonl\n"
                            "out: o\nchat_template: nowhere/t.jinja\n")
        r = CliRunner().invoke(app, ["train", "sft", "-c", str(p), "--check"])
        assert [line for line in r.output.splitlines() if line.startswith("warning:")] == [
            f"warning: {p}, line 5, field 'chat_template': no such file: nowhere/t.jinja"]
