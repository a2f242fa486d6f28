"""Episode GRPO: a rollout is a whole conversation in the bundled simulator.

The model plays a training goal (`bench.simulator.sample_goals("train", ...)`) against the user
simulator and the mock backend until the user is done or `max_actions` actions are spent. The
rollout is the episode as one token sequence (train.transcript): the first prompt, then every
action and everything the environment said between actions. The loss covers the model's tokens
only; tool results, user turns, the system prompt and the tools are masked. The reward is the
goal's completion plus the mean per-turn reward against the oracle (thinkact.episode_rewards).
A group is `num_generations` episodes of one goal, the user's wording seeded alike within it.

TRL's agent training offers two ways in. `environment_factory` runs TRL's own tool loop: it
goes on while the model calls tools and stops at the first reply, parsing calls with the chat
template's response parser. Our conversations go on after a reply (the user answers, confirms,
corrects an identifier), so the simulator has to drive them, and that loop has no place for a
user turn. `rollout_func` does fit: it returns prompt ids, completion ids and the sampling
log-probs, plus an `env_mask` that TRL multiplies into the completion mask, so environment
tokens carry no loss; its other fields reach the reward functions. It runs on the CPU without
vLLM (the rollout generates with the trainer's own model). So: `GRPOTrainer(rollout_func=
EpisodeRollout(...))`, with the shared-prefix trainer (train.prefix_grpo) for the log-prob
passes: a group's episodes start from one prompt, computed once.

Generation reuses the episodes' batched policy (`evaluate.episodes.play_batched`: episodes in
threads, each action request batched with the others') with a sampling generator that keeps
each episode's token sequence (train.sampler.EpisodeSampler).
"""

from __future__ import annotations

import warnings
from typing import Any

from thinkact.bench.simulator import Goal, run_episode, sample_goals
from thinkact.episode_rewards import Episode, make_episode_reward_funcs
from thinkact.evaluate.episodes import model_policy, play_batched
from thinkact.models import load_model_and_tokenizer
from thinkact.schema import DataError
from thinkact.train.config import GRPOEpisodesSettings, StageConfig
from thinkact.train.grpo import grpo_args
from thinkact.train.prefix_grpo import SharedPrefixGRPOTrainer
from thinkact.train.sampler import EpisodeSampler
from thinkact.train.sft import lora_config
from thinkact.train.transcript import Transcript


class EpisodeRollout:
    """TRL's `rollout_func`: plays one episode per prompt (a goal id; TRL repeats each prompt
    `num_generations` times in a row) and returns the episodes as token sequences:
    prompt_ids, completion_ids, logprobs and env_mask per episode, and `episode` (an
    `episode_rewards.Episode` each) for the reward functions."""

    def __init__(self, goals: list[Goal], *, max_actions: int, max_new_tokens: int, seed: int = 0):
        self.goals = {g.id: g for g in goals}
        self.max_actions, self.max_new_tokens, self.seed = max_actions, max_new_tokens, seed
        self.calls = 0  # rollouts so far: each gets its own user wording and sampling seed

    def __call__(self, prompts: list[str], trainer: Any) -> dict[str, list]:
        from trl.trainer.grpo_trainer import unwrap_model_for_generation

        unknown = sorted({p for p in prompts if p not in self.goals})
        if unknown:
            raise DataError(f"rollout prompts must be goal ids of the episode set; unknown: {unknown[:3]}")
        # A resumed run goes on with the seeds it would have used: at least one rollout per step.
        self.calls = max(self.calls, trainer.state.global_step) + 1
        args = trainer.args
        with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                         gather_deepspeed3_params=args.ds3_gather_for_generation) as model:
            sampler = EpisodeSampler(model, trainer.processing_class, max_new_tokens=self.max_new_tokens,
                                     temperature=args.temperature, top_p=args.top_p,
                                     seed=self.seed * 1_000_003 + self.calls)
            episodes = self.play(sampler, prompts, trial=self.calls)
        out: dict[str, list] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [],
                                "episode": episodes}
        for key in self.keys(prompts, self.calls):
            # An episode whose first prompt did not fit has no sequence: a token stands in for
            # it, with nothing to train on (its group's advantages are all 0 anyway).
            t = sampler.transcripts.get(key) or Transcript(prompt_ids=[sampler.end])
            t.finish(sampler.end)
            out["prompt_ids"].append(t.prompt_ids)
            out["completion_ids"].append(t.completion_ids)
            out["logprobs"].append(t.logprobs)
            out["env_mask"].append(t.env_mask)
        return out

    @staticmethod
    def keys(prompts: list[str], trial: int) -> list[str]:
        return [f"{goal_id}~{trial}#{i}" for i, goal_id in enumerate(prompts)]

    def play(self, sampler: EpisodeSampler, prompts: list[str], trial: int) -> list[Episode]:
        """One episode per prompt, all of a rollout's actions generated in batches."""
        def job(goal: Goal, key: str):
            def run(batcher):
                return run_episode(goal, model_policy(batcher, goal, trial, episode=key), trial=trial,
                                   max_actions=self.max_actions)
            return run

        keys = self.keys(prompts, trial)
        goals = [self.goals[p] for p in prompts]
        results = play_batched(sampler, [job(g, k) for g, k in zip(goals, keys)], concurrency=len(prompts))
        return [Episode(g, r, list(sampler.transcripts[k].outputs) if k in sampler.transcripts else [])
                for g, r, k in zip(goals, results, keys)]


class EpisodeGRPOTrainer(SharedPrefixGRPOTrainer):
    """The shared-prefix trainer with rollouts from `rollout_func`: its own rollout path is never
    taken, so it is not checked (and not warned about); log-prob passes compute each group's
    first prompt once."""

    def _unsupported_generation(self) -> str | None:
        return None if getattr(self, "rollout_func", None) is not None else super()._unsupported_generation()


def episode_goals(settings: GRPOEpisodesSettings) -> list[Goal]:
    return sample_goals("train", settings.goals, settings.goal_seed)


def reward_funcs(settings: GRPOEpisodesSettings) -> tuple[list, list[float]]:
    r = settings.reward
    return make_episode_reward_funcs(settings.episode_reward, turn_weights=r.weights, kind=r.kind,
                                     think="required" if settings.think else "off",
                                     answer_method=r.answer_method, budget=r.budget)


def build_episode_trainer(cfg: StageConfig, output_dir: str) -> Any:
    """The stage's trainer: goals as the data set (one prompt per goal, its id), episode
    rollouts, the episode reward's two parts as reward functions."""
    from datasets import Dataset
    from trl import GRPOTrainer

    s = cfg.train
    if not isinstance(s, GRPOEpisodesSettings):
        raise DataError(f"stage {cfg.stage} is not an episode stage")
    goals = episode_goals(s)
    model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.chat_template)
    funcs, weights = reward_funcs(s)
    rollout = EpisodeRollout(goals, max_actions=s.max_actions, max_new_tokens=s.trl_value("max_completion_length"),
                             seed=s.seed)
    args = grpo_args(s.with_trl(use_vllm=False), output_dir, weights)
    trainer_class = EpisodeGRPOTrainer if s.shared_prefix else GRPOTrainer
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'rollout_func'.*experimental", category=UserWarning)
        return trainer_class(model=model, reward_funcs=funcs, args=args,
                             train_dataset=Dataset.from_list([{"prompt": g.id} for g in goals]),
                             processing_class=tokenizer, peft_config=lora_config(s), rollout_func=rollout)
