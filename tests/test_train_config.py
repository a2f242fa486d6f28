import pytest
import yaml

from thinkact.schema import DataError
from thinkact.train.config import (STAGES, ColdstartSettings, GRPOSettings, PipelineConfig, SFTSettings,
                                   StageConfig, dump_config, export_stage_configs, load_pipeline_config,
                                   load_stage_config, pipeline_stage_config, preset_names, stage_config,
                                   trainer_kwargs, warmup_kwargs)


def write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_misspelt_key_names_file_line_key_and_suggestion(tmp_path):
    p = write(tmp_path, "stage: grpo\nmodel: m\ndata: d.jsonl\nout: o\ntrain:\n  think: true\n  thinks: 4\n")
    with pytest.raises(DataError) as err:
        load_stage_config(p, "grpo")
    e = err.value
    assert e.file == str(p) and e.line == 7 and e.field == "train.thinks"
    assert "unknown key" in str(e) and "did you mean 'think'" in str(e)


def test_unknown_trl_key_names_file_line_key_and_suggestion(tmp_path):
    p = write(tmp_path, "stage: grpo\nmodel: m\ndata: d.jsonl\nout: o\ntrain:\n  trl:\n    max_steps: 3\n"
                        "    num_generation: 4\n")
    with pytest.raises(DataError) as err:
        load_stage_config(p, "grpo")
    e = err.value
    assert e.file == str(p) and e.line == 8 and e.field == "train.trl.num_generation"
    assert e.reason == "unknown key 'num_generation': not a field of trl.GRPOConfig (did you mean 'num_generations'?)"
    # in a pipeline config, under a stage whose TRL class lacks the key (a GRPOConfig field in SFT)
    p = write(tmp_path, "sft:\n  think: false\n  trl:\n    learning_rate: 1.0e-4\n    num_generations: 4\n")
    with pytest.raises(DataError, match=r"line 5, field 'sft.trl.num_generations': unknown key "
                                        r"'num_generations': not a field of trl.SFTConfig"):
        load_pipeline_config(p)
    # what thinkact sets from its own settings is named as such
    p = write(tmp_path, "grpo:\n  trl:\n    seed: 3\n")
    with pytest.raises(DataError, match=r"line 3, field 'grpo.trl.seed': thinkact sets 'seed' from the stage's `seed`"):
        load_pipeline_config(p)


def test_a_trl_setting_outside_trl_is_pointed_there(tmp_path):
    for key, meant in (("num_generations", "num_generations"), ("batch_size", "per_device_train_batch_size"),
                       ("max_grad_nrom", "max_grad_norm")):
        p = write(tmp_path, f"grpo:\n  think: true\n  {key}: 1\n")
        with pytest.raises(DataError) as err:
            load_pipeline_config(p)
        assert (err.value.line, err.value.field) == (3, f"grpo.{key}")
        assert err.value.reason == (f"unknown key (did you mean 'trl.{meant}'? settings of trl.GRPOConfig go "
                                    "under `trl:`)")


def test_bad_value_is_reported_before_any_model_loads(tmp_path):
    p = write(tmp_path, "grpo:\n  reward:\n    weights:\n      tool: -1\n")
    with pytest.raises(DataError) as err:
        load_pipeline_config(p)
    assert err.value.field == "grpo.reward.weights.tool" and err.value.line == 4
    # a TRL key's value is checked against the type of the TRL field
    p = write(tmp_path, "sft:\n  trl:\n    learning_rate: fast\n")
    with pytest.raises(DataError, match=r"line 3, field 'sft.trl.learning_rate': Input should be a valid number.*"
                                        r"\(got 'fast'\)"):
        load_pipeline_config(p)
    p = write(tmp_path, "grpo:\n  trl:\n    num_generations: 4.5\n")
    with pytest.raises(DataError, match=r"line 3, field 'grpo.trl.num_generations': Input should be a valid integer"):
        load_pipeline_config(p)
    # YAML reads 1e-5 (no dot) as a string; as the TRL field is a float, it is the number
    p = write(tmp_path, "sft:\n  trl:\n    learning_rate: 1e-5\n    logging_steps: 1\n")
    trl = load_pipeline_config(p).sft.trl
    assert trl["learning_rate"] == 1e-5 and type(trl["logging_steps"]) is int  # as written where no conversion


def test_key_of_another_stage_is_rejected(tmp_path):
    # max_prompt_length is a GRPO setting: an SFT file must not accept it
    p = write(tmp_path, "model: m\ndata: d\nout: o\ntrain:\n  max_prompt_length: 4\n")
    with pytest.raises(DataError, match="train.max_prompt_length"):
        load_stage_config(p, "sft")
    p = write(tmp_path, "stage: grpo\nmodel: m\ndata: d\nout: o\n")
    with pytest.raises(DataError, match="configures stage 'grpo', not 'sft'"):
        load_stage_config(p, "sft")


def test_group_size_must_divide_the_batch(tmp_path):
    with pytest.raises(ValueError, match=r"per_device_train_batch_size x gradient_accumulation_steps \(6 x 1\) "
                                         r"counts completions and must be a multiple of num_generations \(4\)"):
        GRPOSettings(trl={"per_device_train_batch_size": 6, "num_generations": 4})
    ok = GRPOSettings(trl={"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "num_generations": 4})
    assert ok.trl_value("num_generations") == 4
    with pytest.raises(ValueError, match=r"generation_batch_size \(12\)"):
        GRPOSettings(trl={"generation_batch_size": 12, "num_generations": 8})
    with pytest.raises(ValueError, match="at least 2"):
        GRPOSettings(trl={"num_generations": 1})
    # TRL's defaults where the config is silent: 8 completions, groups of 8
    assert GRPOSettings().trl_value("per_device_train_batch_size") == 8
    p = write(tmp_path, "grpo:\n  trl:\n    per_device_train_batch_size: 12\n")
    with pytest.raises(DataError, match="field 'grpo': Value error, per_device_train_batch_size"):
        load_pipeline_config(p)


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
    paper = load_pipeline_config(preset="paper")
    assert paper.model.name == "Qwen/Qwen3-1.7B"
    assert paper.grpo.trl["beta"] == 0.001 and paper.grpo.trl["report_to"] == ["tensorboard"]
    # thinkact's own choices for a key the preset leaves out, TRL's for the rest
    assert paper.grpo.trl["lr_scheduler_type"] == "cosine" and paper.coldstart.trl["save_total_limit"] == 1
    assert ColdstartSettings().trl["learning_rate"] == 5e-5 and SFTSettings().trl["learning_rate"] == 1e-4
    assert SFTSettings().trl_value("max_length") == 1024 and "max_length" not in SFTSettings().trl


def _runs(cfg):
    """(config, run folder, seed) for each run a pipeline config makes."""
    return [(cfg.for_seed(k), f"runs/x/seed-{k}", k) for k in cfg.seeds] if cfg.seeds else [(cfg, "runs/x", None)]


@pytest.mark.parametrize("name", preset_names())
def test_each_recipe_stage_is_a_valid_stage_config(name, tmp_path, monkeypatch):
    """A preset's stage sections are the stage configs `thinkact train <stage> --preset` runs: they
    round-trip through a file, chain each stage's model to the one before, and make a TRL config."""
    import torch
    from trl import GRPOConfig, SFTConfig

    from thinkact.train.grpo import grpo_args, reward_funcs
    from thinkact.train.sft import sft_kwargs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = load_pipeline_config(preset=name)
    for one, run, seed in _runs(cfg):
        for stage in STAGES:
            sc = pipeline_stage_config(cfg, stage, "runs/x", seed)
            assert sc.train == getattr(one, stage) and sc.out == f"{run}/stages/{stage}"
            assert sc.model == {"sft": one.model.name, "coldstart": f"{run}/stages/sft/model",
                                "grpo": f"{run}/stages/coldstart/model"}[stage]
            path = write(tmp_path, dump_config(sc), f"{stage}.yaml")
            assert load_stage_config(path, stage) == sc
            s = sc.train
            args = grpo_args(s, str(tmp_path), reward_funcs(s)[1]) if stage == "grpo" else \
                SFTConfig(**sft_kwargs(s, str(tmp_path)))
            assert isinstance(args, GRPOConfig if stage == "grpo" else SFTConfig)
            assert args.learning_rate == s.trl["learning_rate"] and args.seed == s.seed
    if cfg.seeds:
        with pytest.raises(DataError, match="name one of them"):
            pipeline_stage_config(cfg, "sft", "runs/x")
    else:
        with pytest.raises(DataError, match="no seeds"):
            pipeline_stage_config(cfg, "sft", "runs/x", seed=1)


def test_config_export_writes_the_stages_train_preset_runs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from thinkact.cli import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["config", "export", "quickstart", "--out", "stages"])
    assert r.exit_code == 0, r.output
    cfg = load_pipeline_config(preset="quickstart")
    for stage in STAGES:
        exported = load_stage_config(tmp_path / "stages" / f"{stage}.yaml", stage)
        assert exported == pipeline_stage_config(cfg, stage, "runs/quickstart")
        # `train --preset` and `train --config <exported>` resolve the same config
        by_file = CliRunner().invoke(app, ["train", stage, "--config", f"stages/{stage}.yaml", "--check"])
        by_name = CliRunner().invoke(app, ["train", stage, "--preset", "quickstart", "--check"])
        assert by_file.exit_code == by_name.exit_code == 0
        assert by_file.stdout.split("\n", 1)[1] == by_name.stdout.split("\n", 1)[1]
    coldstart = exported = load_stage_config(tmp_path / "stages" / "coldstart.yaml")
    assert coldstart.mix_data == "runs/quickstart/data/turns_train.jsonl"  # replay draws from the training turns
    # a pipeline file is exported too, to its own run folder; a seeded config needs its seed
    mine = write(tmp_path, "base: quickstart\ngrpo:\n  trl:\n    temperature: 0.7\n", "mine.yaml")
    export_stage_configs(mine, tmp_path / "mine")
    grpo = load_stage_config(tmp_path / "mine" / "grpo.yaml")
    assert grpo.train.trl["temperature"] == 0.7 and grpo.out == "runs/mine/stages/grpo"
    r = CliRunner().invoke(app, ["config", "export", "results", "--out", "r"])
    assert r.exit_code == 1 and "field 'seed'" in r.output
    r = CliRunner().invoke(app, ["config", "export", "results", "--out", "r", "--seed", "2", "--run", "runs/res"])
    assert r.exit_code == 0 and load_stage_config(tmp_path / "r" / "sft.yaml").out == "runs/res/seed-2/stages/sft"
    r = CliRunner().invoke(app, ["train", "sft", "--preset", "quickstart", "--config", "stages/sft.yaml"])
    assert r.exit_code == 1 and "one of them" in r.output


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
    assert kw["bf16"] is False and ckpt is False and kw["use_cpu"] is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    kw = trainer_kwargs(GRPOSettings(), "out")
    assert kw["bf16"] is True and kw.get("activation_checkpointing", kw.get("gradient_checkpointing")) is True
    kw = trainer_kwargs(GRPOSettings(trl={"bf16": False, "fp16": True, "activation_checkpointing": False}), "out")
    assert kw["bf16"] is False and kw["fp16"] is True and kw["activation_checkpointing"] is False


def test_trl_keys_reach_the_trl_config_over_thinkacts_defaults(tmp_path, monkeypatch):
    """Keys thinkact never had a setting for reach the TRL config the stage builds; the file's
    keys win over thinkact's defaults, thinkact's own settings over nothing."""
    import torch

    from thinkact.train.grpo import grpo_args, reward_funcs
    from thinkact.train.sft import sft_kwargs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from trl import SFTConfig

    p = write(tmp_path, "stage: sft\nmodel: m\ndata: d\nout: o\ntrain:\n  seed: 7\n  trl:\n    max_grad_norm: 0.5\n"
                        "    adam_beta2: 0.95\n    lr_scheduler_type: linear\n    gradient_checkpointing: true\n")
    s = load_stage_config(p, "sft").train
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):  # the older name, still read
        args = SFTConfig(**sft_kwargs(s, str(tmp_path)))
    assert (args.max_grad_norm, args.adam_beta2) == (0.5, 0.95)
    assert args.lr_scheduler_type == "linear" and args.activation_checkpointing is True  # the file's, not the CPU's
    assert args.learning_rate == 1e-4 and args.logging_steps == 5  # thinkact's SFT defaults
    assert args.seed == args.data_seed == 7 and args.output_dir == str(tmp_path) and args.completion_only_loss
    g = GRPOSettings(trl={"top_k": 5, "adam_beta2": 0.9, "per_device_train_batch_size": 4, "num_generations": 4})
    args = grpo_args(g, str(tmp_path), reward_funcs(g)[1])
    assert (args.top_k, args.adam_beta2, args.num_generations, args.max_completion_length) == (5, 0.9, 4, 256)
    assert args.use_vllm is False and len(args.reward_weights) == 5
    # a copy with other keys is checked as a file's are
    assert g.with_trl(temperature=0.5).trl["temperature"] == 0.5 and g.with_trl().trl == g.trl
    with pytest.raises(ValueError, match="unknown key 'temprature'"):
        g.with_trl(temprature=0.5)


def test_check_runs_trls_own_checks(tmp_path):
    from typer.testing import CliRunner

    from thinkact.cli import app

    # each key is a GRPOConfig field, but TRL takes one of the two
    p = write(tmp_path, "stage: grpo\nmodel: m\ndata: d\nout: o\ntrain:\n  think: true\n  trl:\n"
                        "    generation_batch_size: 16\n    steps_per_generation: 2\n")
    r = CliRunner().invoke(app, ["train", "grpo", "-c", str(p), "--check"])
    assert r.exit_code == 1
    assert r.output.startswith(f"error: {p}, line 7, field 'train.trl': trl.GRPOConfig refuses these settings: "
                               "'generation_batch_size' and 'steps_per_generation' can not be both configured")
    p = write(tmp_path, "stage: sft\nmodel: m\ndata: d\nout: o\ntrain:\n  trl: {adam_beta2: 0.99}\n")
    r = CliRunner().invoke(app, ["train", "sft", "-c", str(p), "--check"])
    assert r.exit_code == 0 and "adam_beta2: 0.99" in r.output


def test_warmup_share_is_that_share_of_the_steps(tmp_path):
    from transformers import TrainingArguments

    def warmup_steps(warmup: float, total: int) -> int:
        kwargs = trainer_kwargs(SFTSettings(trl={"warmup_steps": warmup}), tmp_path)
        return TrainingArguments(**kwargs).get_warmup_steps(total)

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
    assert trainer_kwargs(GRPOSettings(trl={"report_to": ["tensorboard"]}), "out")["report_to"] == ["tensorboard"]
    for report_to in (["wandb"], "wandb"):
        with pytest.raises(DataError, match="pip install wandb") as err:
            trainer_kwargs(GRPOSettings(trl={"report_to": report_to}), "out")
        assert err.value.field == "trl.report_to"


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
    write(tmp_path, "sft:\n  trl:\n    learning_rate: 0.5\n    num_train_epochs: 2\n"
                    "data:\n  sizes: {train: 10, test: 4}\n", "base.yaml")
    child = write(tmp_path, "base: base.yaml\nsft:\n  trl:\n    num_train_epochs: 3\ndata:\n  sizes: {test: 8}\n"
                            "seeds: [1, 2]\n")
    cfg = load_pipeline_config(child)
    assert (cfg.sft.trl["learning_rate"], cfg.sft.trl["num_train_epochs"]) == (0.5, 3)
    assert cfg.data.sizes == {"train": 10, "test": 8} and cfg.seeds == [1, 2]
    write(tmp_path, "sft:\n  trl:\n    learning_rate: 0.25\n    num_train_epochs: 2\n", "base.yaml")  # the base changes
    assert load_pipeline_config(child).sft.trl["learning_rate"] == 0.25
    # a bad TRL key is reported in the file that wrote it, the base or the file over it
    write(tmp_path, "sft:\n  trl:\n    learning_rate: 0.25\n    max_grad_nrom: 2\n", "base.yaml")
    with pytest.raises(DataError, match=r"base\.yaml, line 4, field 'sft.trl.max_grad_nrom'.*'max_grad_norm'"):
        load_pipeline_config(child)
    write(tmp_path, "sft:\n  trl:\n    learning_rate: 0.25\n", "base.yaml")
    over = write(tmp_path, "base: base.yaml\nsft:\n  trl:\n    num_train_epochs: 3\n    adam_beta3: 2\n", "over.yaml")
    with pytest.raises(DataError, match=r"over\.yaml, line 5, field 'sft.trl.adam_beta3'"):
        load_pipeline_config(over)
    # a preset by name as base, and a bad key is reported in the file that wrote it
    named = write(tmp_path, "base: quickstart\ngrpo:\n  num_generation: 4\n", "named.yaml")
    with pytest.raises(DataError, match=r"named\.yaml, line 3, field 'grpo.num_generation'.*trl.num_generations"):
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

    stage = export_stage_configs("quickstart", tmp_path / "stages")[0]
    r = CliRunner().invoke(app, ["pipeline", "--config", str(stage), "--out", str(tmp_path / "run"), "--check"])
    assert r.exit_code == 1
    assert r.output.startswith(f"error: {stage}: this is a stage config (for thinkact train sft); pipeline configs "
                               "look like")
    # a pipeline config whose base is a stage config names the stage file
    over = write(tmp_path, f"base: {stage}\nsft:\n  think: false\n")
    with pytest.raises(DataError, match="this is a stage config") as err:
        load_pipeline_config(over)
    assert err.value.file == str(stage)

    for pipeline in (write(tmp_path, "model:\n  name: quickstart\nsft:\n  think: false\n"),
                     write(tmp_path, "base: quickstart\n"), write(tmp_path, "data:\n  source: bench\n")):
        r = CliRunner().invoke(app, ["train", "sft", "-c", str(pipeline), "--check"])
        assert r.exit_code == 1
        assert r.output.startswith(f"error: {pipeline}: this is a pipeline config (for thinkact pipeline --config; "
                                   "`thinkact config export` writes its stages as stage configs)")
    assert not (tmp_path / "run").exists()


def test_check_warns_of_missing_inputs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from thinkact.cli import app

    monkeypatch.chdir(tmp_path)  # the run folder's paths are relative to where thinkact runs
    cfg = export_stage_configs("quickstart", "stages")[1]
    r = CliRunner().invoke(app, ["train", "coldstart", "-c", str(cfg), "--check"])
    assert r.exit_code == 0 and f"{cfg}: valid coldstart config" in r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {cfg}, line 6, field 'data': no such file: runs/quickstart/data/coldstart.jsonl",
        f"warning: {cfg}, line 8, field 'mix_data': no such file: runs/quickstart/data/turns_train.jsonl",
        f"warning: {cfg}, line 4, field 'model': no such folder: runs/quickstart/stages/sft/model"]
    r = CliRunner().invoke(app, ["train", "coldstart", "--preset", "quickstart", "--check"])
    assert r.exit_code == 0 and "preset quickstart, run folder runs/quickstart: valid coldstart config" in r.output
    assert [line for line in r.output.splitlines() if line.startswith("warning:")] == [
        "warning: field 'data': no such file: runs/quickstart/data/coldstart.jsonl",
        "warning: field 'mix_data': no such file: runs/quickstart/data/turns_train.jsonl",
        "warning: field 'model': no such folder: runs/quickstart/stages/sft/model"]

    # once the inputs are there: no warning; a preset model name or a hub id is not looked up
    for path in ("runs/quickstart/data/coldstart.jsonl", "runs/quickstart/data/turns_train.jsonl"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}\n")
    (tmp_path / "runs/quickstart/stages/sft/model").mkdir(parents=True)
    r = CliRunner().invoke(app, ["train", "coldstart", "-c", str(cfg), "--check"])
    assert r.exit_code == 0 and "warning" not in r.output
    for model in ("quickstart", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        p = write(tmp_path, f"stage: sft\nmodel: {model}\ndata: runs/quickstart/data/turns_train.jsonl\n"
                            "out: o\nchat_template: nowhere/t.jinja\n")
        r = CliRunner().invoke(app, ["train", "sft", "-c", str(p), "--check"])
        assert [line for line in r.output.splitlines() if line.startswith("warning:")] == [
            f"warning: {p}, line 5, field 'chat_template': no such file: nowhere/t.jinja"]
