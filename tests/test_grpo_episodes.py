"""Episode GRPO: sampling with reused keys and values, the rollout TRL gets, and the stage."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from thinkact.bench.simulator import sample_goals
from thinkact.cli import app
from thinkact.models import load_for_inference, load_model_and_tokenizer
from thinkact.schema import DataError
from thinkact.train.config import (GRPOEpisodesSettings, StageConfig, load_pipeline_config, load_stage_config,
                                   pipeline_stage_config)
from thinkact.train.grpo_episodes import EpisodeRollout
from thinkact.train.sampler import EpisodeSampler, KVStore, sample_next
from thinkact.train.stage import train_stage


def test_sampling_follows_temperature_and_nucleus():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]] * 2000)
    gen = torch.Generator().manual_seed(0)
    tokens, logps = sample_next(logits, 1.0, 1.0, gen)
    share = torch.bincount(tokens, minlength=4).float() / len(tokens)
    assert torch.allclose(share, torch.softmax(logits[0], -1), atol=0.03)
    assert torch.allclose(logps, torch.log_softmax(logits, -1).gather(-1, tokens[:, None]).squeeze(-1))
    tokens, logps = sample_next(logits, 0.5, 0.6, gen)  # the nucleus keeps the top token alone
    assert set(tokens.tolist()) == {0}
    assert torch.allclose(logps, torch.log_softmax(logits / 0.5, -1)[:, 0])  # tempered, before the cut


def test_kept_keys_and_values_are_found_by_longest_prefix():
    store = KVStore()
    kv = [(torch.arange(6.0).view(1, 1, 6, 1), torch.arange(6.0).view(1, 1, 6, 1))]
    store.keep("a", [1, 2, 3, 4, 5, 6], kv)
    store.keep("b", [1, 2, 9], [(torch.zeros(1, 1, 3, 1), torch.zeros(1, 1, 3, 1))])
    n, got = store.longest([1, 2, 3, 4, 7])
    assert n == 4 and got[0][0].shape[2] == 4 and got[0][0].flatten().tolist() == [0, 1, 2, 3]
    assert store.longest([1, 2, 3, 4, 5, 6, 7, 8])[0] == 6
    assert store.longest([3, 1])[0] == 0 and store.longest([3, 1])[1] is None


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_for_inference(str(tiny_model_dir))


def test_sampled_log_probs_are_the_models_on_the_whole_sequence(tiny):
    model, tok = tiny
    goals = sample_goals("train", 3, seed=0)
    rollout = EpisodeRollout(goals, max_actions=3, max_new_tokens=10)
    prompts = [g.id for g in goals for _ in range(2)]
    sampler = EpisodeSampler(model, tok, max_new_tokens=10, temperature=1.0, seed=0)
    episodes = rollout.play(sampler, prompts, trial=0)
    keys = rollout.keys(prompts, 0)
    assert len(episodes) == 6 and all(e.result.actions >= 1 for e in episodes)
    naive = 0
    for key, e in zip(keys, episodes):
        t = sampler.transcripts[key]
        assert len(t.outputs) == e.result.actions and sum(t.env_mask) > 0
        ids = torch.tensor([t.ids])
        with torch.no_grad():
            logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        full = logps.gather(-1, ids[0, 1:, None]).squeeze(-1)[len(t.prompt_ids) - 1:]
        own = torch.tensor(t.env_mask, dtype=torch.bool)
        assert torch.allclose(full[own], torch.tensor(t.logprobs)[own], atol=1e-4)
        start = len(t.prompt_ids)
        for n in range(len(t.outputs)):  # every action's prompt run from scratch
            naive += start + n  # (a lower bound on it)
    # The prefix kept from an episode's last turn, or from its group's first prompt, is not run again.
    assert sampler.prefill_tokens < naive / 2


def test_sampling_greedily_matches_generate(tiny):
    model, tok = tiny
    goal = sample_goals("train", 1, seed=3)[0]
    rollout = EpisodeRollout([goal], max_actions=2, max_new_tokens=8)
    sampler = EpisodeSampler(model, tok, max_new_tokens=8, top_p=1e-9)  # the nucleus: the top token only
    rollout.play(sampler, [goal.id], trial=0)
    t = sampler.transcripts[rollout.keys([goal.id], 0)[0]]
    first = t.completion_ids[:8]
    with torch.no_grad():
        expected = model.generate(torch.tensor([t.prompt_ids]), do_sample=False, max_new_tokens=8)[0, len(t.prompt_ids):]
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    expected = expected.tolist()
    expected = expected[:expected.index(stop) + 1] if stop in expected else expected
    assert first[:len(expected)] == expected


def test_episode_settings_and_configs(tmp_path):
    with pytest.raises(ValueError, match="use_vllm"):
        GRPOEpisodesSettings(trl={"use_vllm": True})
    with pytest.raises(ValueError, match="needs data"):
        StageConfig(stage="grpo", model="m", out="o", train={})
    path = tmp_path / "episodes.yaml"
    path.write_text(yaml.safe_dump({"stage": "grpo_episodes", "model": "m", "out": str(tmp_path / "o"),
                                    "train": {"goals": 16, "episode_reward": {"completion": 2, "turns": 1}}}))
    cfg = load_stage_config(path, "grpo_episodes")
    assert isinstance(cfg.train, GRPOEpisodesSettings) and cfg.train.goals == 16 and cfg.data is None
    path.write_text(yaml.safe_dump({"stage": "grpo_episodes", "model": "m", "out": "o",
                                    "train": {"episode_reward": {"completion": 1, "succes": 1}}}))
    with pytest.raises(DataError, match="unknown key"):
        load_stage_config(path, "grpo_episodes")
    result = CliRunner().invoke(app, ["train", "grpo-episodes", "--config", str(path), "--check"])
    assert result.exit_code == 1 and "succes" in result.output
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(yaml.safe_dump({"base": "quickstart", "grpo_episodes": {"max_actions": 8}}))
    cfg = load_pipeline_config(pipe)
    assert cfg.grpo_episodes.max_actions == 8 and load_pipeline_config(preset="quickstart").grpo_episodes is None
    assert cfg.for_seed(3).grpo_episodes.seed == 3
    shipped = load_pipeline_config(preset="quickstart-episodes")
    assert shipped.grpo_episodes.trl_value("num_generations") == 4 and shipped.grpo_episodes.think
    stage = pipeline_stage_config(shipped, "grpo_episodes", tmp_path / "run")
    assert stage.model == str(tmp_path / "run" / "stages" / "coldstart" / "model") and stage.data is None
    assert stage.train.goal_seed == shipped.data.seed and stage.out == str(tmp_path / "run" / "stages" / "grpo_episodes")
    checked = CliRunner().invoke(app, ["train", "grpo-episodes", "--preset", "quickstart-episodes", "--run",
                                       str(tmp_path / "run"), "--check"])
    assert checked.exit_code == 0 and "valid grpo_episodes config" in checked.output, checked.output
    with pytest.raises(DataError, match="no grpo_episodes section"):
        pipeline_stage_config(load_pipeline_config(preset="quickstart"), "grpo_episodes", tmp_path / "run")


@pytest.mark.slow
def test_the_stage_trains_on_episodes_and_saves_a_loadable_model(tmp_path, tiny_model_dir):
    settings = GRPOEpisodesSettings(goals=4, max_actions=3, trl={
        "max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 2, "max_completion_length": 8,
        "logging_steps": 1, "learning_rate": 1e-3, "save_steps": 1})
    cfg = StageConfig(stage="grpo_episodes", model=str(tiny_model_dir), out=str(tmp_path / "ep"), train=settings)
    before = load_model_and_tokenizer(str(tiny_model_dir))[0].state_dict()
    model_dir = train_stage(cfg)
    assert model_dir == tmp_path / "ep" / "model" and (model_dir / "model.safetensors").is_file()
    model, tok = load_for_inference(str(model_dir))
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)
    rows = [json.loads(line) for line in (tmp_path / "ep" / "train_log.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "reward" in r]
    assert [r["step"] for r in logged] == [1, 2]
    for key in ("rewards/completion/mean", "rewards/turns/mean", "turns/format", "episode/actions",
                "reasoning_length", "completions/mean_length"):
        assert key in logged[0], key
    saved = yaml.safe_load((model_dir / "config.yaml").read_text())
    assert saved["stage"] == "grpo_episodes" and saved["train"]["goals"] == 4


@pytest.mark.slow
def test_trl_masks_the_environments_tokens_out_of_the_loss(tiny_model_dir, tmp_path):
    from thinkact.train.grpo_episodes import build_episode_trainer

    settings = GRPOEpisodesSettings(goals=2, max_actions=3, trl={
        "max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 2, "max_completion_length": 6})
    trainer = build_episode_trainer(StageConfig(stage="grpo_episodes", model=str(tiny_model_dir),
                                                out=str(tmp_path), train=settings), str(tmp_path))
    seen = {}
    rollout = trainer.rollout_func

    def spy(prompts, tr):
        seen["out"] = rollout(prompts, tr)
        return seen["out"]

    trainer.rollout_func = spy
    goals = [g.id for g in sample_goals("train", 2, 0)]
    out = trainer._generate_and_score_completions([{"prompt": g} for g in goals for _ in range(2)])
    loss_mask = out["completion_mask"] * out["tool_mask"]
    for r, (env, ids) in enumerate(zip(seen["out"]["env_mask"], seen["out"]["completion_ids"])):
        assert out["completion_ids"][r, :len(ids)].tolist() == ids
        assert loss_mask[r, :len(env)].tolist() == env and not loss_mask[r, len(env):].any()
    assert any(0 < sum(env) < len(env) for env in seen["out"]["env_mask"])  # the model's and the environment's
    assert out["num_items_in_batch"] == sum(sum(e) for e in seen["out"]["env_mask"])


@pytest.mark.slow
def test_the_pipeline_runs_episode_grpo_from_the_cold_start_when_asked(tmp_path, tiny_model_dir):
    from thinkact.pipeline import dry_run_config, run_pipeline

    cfg = load_pipeline_config(preset="tiny")
    episodes = GRPOEpisodesSettings(goals=2, max_actions=2, trl={
        "max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 2, "max_completion_length": 8,
        "logging_steps": 1, "save_steps": 1})
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": str(tiny_model_dir)}),
                                 "sft": cfg.sft.with_trl(max_steps=1),
                                 "eval": cfg.eval.model_copy(update={"splits": ["test"], "max_samples": 4}),
                                 "grpo_episodes": episodes})
    out = tmp_path / "run"
    results = run_pipeline(cfg, out)
    saved = yaml.safe_load((out / "stages" / "grpo_episodes" / "model" / "config.yaml").read_text())
    assert saved["model"] == str(out / "stages" / "coldstart" / "model") and saved["stage"] == "grpo_episodes"
    assert ("grpo_episodes", "test") in {(r["stage"], r["split"]) for r in results["rows"]}
    assert "train/grpo_episodes" in json.loads((out / "timings.json").read_text())
    assert "| grpo_episodes |" in (out / "results.md").read_text()
    shrunk = dry_run_config(cfg, out).grpo_episodes
    assert shrunk.trl_value("max_steps") == 2 and shrunk.goals == 4
    assert shrunk.trl_value("per_device_train_batch_size") % shrunk.trl_value("num_generations") == 0
    assert dry_run_config(load_pipeline_config(preset="tiny"), out).grpo_episodes is None
