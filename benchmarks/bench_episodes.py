"""Episode rollout throughput: the model plays training goals in the simulator as episode GRPO's
rollouts do (sampled actions, one token sequence per episode); prints one JSON object.

    python benchmarks/bench_episodes.py [--model runs/q2/stages/coldstart/model] [--goals 16]
        [--group 4] [--repeats 2]

`--goals` goals, each played `--group` times (a GRPO group: one goal, one user wording), all
episodes in flight together, at the settings of the episode stage (temperature, top-p, tokens
per action, action limit). Reported per repeat and best: episodes/s, actions/s, generated
tokens/s, the prompt tokens run (after reusing kept keys and values) against the tokens of every
action's whole prompt, and the rollout's success rate and episode rewards as a sanity check.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from thinkact.bench.simulator import sample_goals
from thinkact.episode_rewards import completion_reward, score_turns, turns_reward
from thinkact.models import load_for_inference
from thinkact.train.config import GRPOEpisodesSettings
from thinkact.train.grpo_episodes import EpisodeRollout
from thinkact.train.sampler import EpisodeSampler

DEFAULT_MODEL = "/work/main/runs/q2/stages/coldstart/model"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--goals", type=int, default=16)
    ap.add_argument("--group", type=int, default=4, help="Episodes per goal.")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-actions", type=int, default=GRPOEpisodesSettings().max_actions)
    ap.add_argument("--max-new-tokens", type=int, default=96, help="Most tokens per action.")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, tok = load_for_inference(args.model)
    goals = sample_goals("train", args.goals, args.seed)
    prompts = [g.id for g in goals for _ in range(args.group)]
    rollout = EpisodeRollout(goals, max_actions=args.max_actions, max_new_tokens=args.max_new_tokens)
    runs = []
    for rep in range(args.repeats):
        sampler = EpisodeSampler(model, tok, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                 seed=args.seed + rep)
        start = time.perf_counter()
        episodes = rollout.play(sampler, prompts, trial=rep)
        wall = time.perf_counter() - start
        actions = sum(e.result.actions for e in episodes)
        transcripts = list(sampler.transcripts.values())
        # every action's prompt run whole: what a generator without kept keys and values prefills
        whole = sum(_prompt_tokens(t) for t in transcripts)
        runs.append({
            "wall_s": round(wall, 2),
            "episodes_per_s": round(len(episodes) / wall, 3),
            "actions_per_s": round(actions / wall, 2),
            "generated_tokens_per_s": round(sampler.new_tokens / wall, 1),
            "episodes": len(episodes), "actions": actions, "generated_tokens": sampler.new_tokens,
            "prefill_tokens": sampler.prefill_tokens, "whole_prompt_tokens": whole,
            "mean_sequence_tokens": round(sum(len(t.ids) for t in transcripts) / len(transcripts), 1),
            "success_rate": round(sum(completion_reward(e.result) for e in episodes) / len(episodes), 3),
            "mean_turns_reward": round(sum(turns_reward(score_turns(e, think="required", budget=48))
                                           for e in episodes) / len(episodes), 3),
        })
    best = max(runs, key=lambda r: r["episodes_per_s"])
    print(json.dumps({"model": args.model, "goals": args.goals, "group": args.group, "threads": args.threads,
                      "max_actions": args.max_actions, "max_new_tokens": args.max_new_tokens,
                      "temperature": args.temperature,
                      "best": {k: best[k] for k in ("episodes_per_s", "actions_per_s", "generated_tokens_per_s")},
                      "runs": runs}, indent=2))


def _prompt_tokens(t) -> int:
    """Tokens of every action's prompt (the sequence before each action) in an episode."""
    mask = t.env_mask
    return sum(len(t.prompt_ids) + i for i in range(len(mask)) if mask[i] and (i == 0 or not mask[i - 1]))


if __name__ == "__main__":
    main()
