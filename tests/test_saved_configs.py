"""Configs an earlier thinkact saved in the flat form (TRL's settings beside thinkact's own) are
read back in the current form; a file a user writes in that form is still refused."""

import pytest
import yaml

from thinkact.ablate import read_run
from thinkact.pipeline import open_run
from thinkact.rundir import RunDir
from thinkact.schema import DataError
from thinkact.train.config import (PipelineConfig, StageConfig, comparable, load_pipeline_config,
                                   upgrade_saved, upgrade_saved_stage)
from thinkact.train.stage import check_resumable

# runs/q2/run_config.yaml as the flat-form thinkact wrote it (the quickstart preset), trimmed
OLD_RUN = """
preset: quickstart
model: {name: quickstart, chat_template: compact_tools}
data: {source: bench, seed: 0, sizes: {train: 900, test: 40, ood: 40}, coldstart_reasoning: facts}
sft:
  learning_rate: 0.001
  epochs: 4.0
  max_steps: -1
  batch_size: 4
  grad_accum: 1
  lr_scheduler: cosine
  warmup: 0.05
  weight_decay: 0.0
  max_length: 1024
  logging_steps: 5
  save_steps: 50
  save_total_limit: 1
  seed: 0
  bf16: null
  gradient_checkpointing: null
  lora: null
  report_to: []
  think: false
  group_by_length: true
  merge_turns: true
coldstart:
  learning_rate: 0.001
  epochs: 3.0
  batch_size: 8
  warmup: 0.0
  max_length: 1152
  logging_steps: 5
  save_steps: 25
  replay: 300
  reasoning_sentences: null
grpo:
  learning_rate: 0.0001
  epochs: 1.0
  max_steps: 40
  batch_size: 32
  grad_accum: 1
  warmup: 0.0
  max_length: 1024
  logging_steps: 1
  save_steps: 10
  bf16: null
  report_to: []
  num_generations: 8
  beta: 0.0
  epsilon_high: null
  loss_type: dapo
  temperature: 1.0
  max_completion_length: 96
  mask_truncated_completions: true
  max_prompt_length: 1024
  use_vllm: null
  vllm_mode: colocate
  shared_prefix: true
  reward: {budget: 48}
eval: {batch_size: 64, max_new_tokens: 128}
seeds: null
"""


def test_old_saved_pipeline_config_upgrades_to_the_current_form():
    up = upgrade_saved(yaml.safe_load(OLD_RUN))
    cfg = PipelineConfig.model_validate(up)
    grpo = cfg.grpo.trl
    assert grpo["num_generations"] == 8 and grpo["per_device_train_batch_size"] == 32
    assert grpo["num_train_epochs"] == 1.0 and grpo["max_steps"] == 40 and grpo["gradient_accumulation_steps"] == 1
    assert "max_length" not in grpo  # not a GRPOConfig field: left out
    assert not {"bf16", "use_vllm", "epsilon_high"} & grpo.keys()  # None: thinkact decides
    assert cfg.grpo.max_prompt_length == 1024 and cfg.grpo.reward.budget == 48 and cfg.grpo.shared_prefix
    assert cfg.sft.trl["num_train_epochs"] == 4.0 and cfg.sft.trl["lr_scheduler_type"] == "cosine"
    assert cfg.sft.trl["warmup_steps"] == 0.05 and cfg.sft.trl["max_length"] == 1024
    assert cfg.sft.merge_turns and cfg.sft.lora is None
    assert cfg.coldstart.trl["per_device_train_batch_size"] == 8 and cfg.coldstart.replay == 300
    assert cfg.coldstart.reasoning_sentences is None


def test_upgrading_twice_is_upgrading_once_and_the_current_form_passes_unchanged():
    once = upgrade_saved(yaml.safe_load(OLD_RUN))
    assert upgrade_saved(once) == once
    current = load_pipeline_config(preset="quickstart").model_dump(mode="json")
    assert upgrade_saved(current) == current
    stage = {"stage": "grpo", "model": "m", "data": "d", "out": "o", "train": yaml.safe_load(OLD_RUN)["grpo"]}
    assert upgrade_saved_stage(upgrade_saved_stage(stage)) == upgrade_saved_stage(stage)


def test_old_saved_config_compares_equal_to_the_preset_it_came_from():
    old = PipelineConfig.model_validate(upgrade_saved(yaml.safe_load(OLD_RUN)))
    assert comparable(old) == comparable(load_pipeline_config(preset="quickstart"))
    assert comparable(old) != comparable(load_pipeline_config(preset="quickstart").model_copy(
        update={"grpo": old.grpo.with_trl(beta=0.04)}))


def test_a_run_folder_saved_in_the_old_form_resumes_with_its_preset(tmp_path):
    RunDir(tmp_path).config.write_text(OLD_RUN)
    open_run(load_pipeline_config(preset="quickstart"), tmp_path, overwrite=False)
    RunDir(tmp_path).config.write_text(OLD_RUN.replace("num_generations: 8", "num_generations: 4"))
    with pytest.raises(DataError, match=r"grpo.trl.num_generations: 4 -> 8"):
        open_run(load_pipeline_config(preset="quickstart"), tmp_path, overwrite=False)


def test_a_stage_saved_in_the_old_form_resumes(tmp_path):
    train = yaml.safe_load(OLD_RUN)["grpo"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"stage": "grpo", "model": "m", "data": "d", "out": str(tmp_path), "train": train}))
    cfg = StageConfig(stage="grpo", model="m", data="d", out=str(tmp_path),
                      train=load_pipeline_config(preset="quickstart").grpo)
    check_resumable(cfg)
    with pytest.raises(DataError, match="started with other settings"):
        check_resumable(cfg.model_copy(update={"train": cfg.train.with_trl(temperature=0.7)}))


def test_ablate_reads_an_old_run_folders_config(tmp_path):
    RunDir(tmp_path).config.write_text(OLD_RUN)
    cfg = read_run(RunDir(tmp_path))
    assert cfg.grpo.trl["num_generations"] == 8 and cfg.grpo.trl["per_device_train_batch_size"] == 32


def test_a_user_file_in_the_flat_form_is_still_refused_with_the_trl_hint(tmp_path):
    p = tmp_path / "flat.yaml"
    p.write_text("grpo:\n  batch_size: 32\n")
    with pytest.raises(DataError) as err:
        load_pipeline_config(p)
    assert err.value.field == "grpo.batch_size"
    assert "did you mean 'trl.per_device_train_batch_size'" in err.value.reason
