"""The reward of a whole episode: goal completion plus the mean per-turn reward.

    reward = completion_weight * completion + turns_weight * turns      (weights normalised to sum 1)

    completion  1.0 when the simulator counts the episode a success (thinkact.bench.simulator:
                the goal's final state, the procedure's calls made, the outcome told to the
                user, the user the one who ended it), else 0.0
    turns       the mean over the agent's actions of the per-turn reward (thinkact.rewards: the
                composite, or the binary reward) of each raw output against the oracle's action
                in the state it was taken in. The scripted agent (bench.agent.decide) gives the
                right next action in any state of the conversation, also in states the model
                only reached by going wrong, so every action is scored, not only those of a gold
                path. An episode without actions scores 0.

Completion alone is sparse (a small model rarely completes a goal at first, and a group of
episodes that all fail carries no signal); the per-turn part gives credit for each right step.
`make_episode_reward_funcs` exposes both parts as TRL reward functions, so GRPO logs each one
(`rewards/completion/mean`, `rewards/turns/mean`), with the per-turn components and the
episodes' outcomes as metrics beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thinkact import grammar
from thinkact.rewards import (COMPONENTS, AnswerMethod, RewardWeights, Think, binary_reward, param_schemas,
                              reasoning_words, score_parsed, think_mode)
from thinkact.schema import Message, Target

PARTS = ("completion", "turns")


class EpisodeWeights(BaseModel):
    """Weights of the two parts, normalised to sum 1 (so the best episode scores 1)."""

    model_config = ConfigDict(extra="forbid")

    completion: float = Field(0.5, ge=0)
    turns: float = Field(0.5, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "EpisodeWeights":
        if self.completion + self.turns <= 0:
            raise ValueError("episode reward weights are all zero")
        return self

    def normalised(self) -> dict[str, float]:
        z = self.completion + self.turns
        return {"completion": self.completion / z, "turns": self.turns / z}


@dataclass
class Episode:
    """One played episode: its goal, the simulator's result (conversation included) and the
    model's raw output for each of its actions, in order."""

    goal: Any  # bench.simulator.Goal
    result: Any  # bench.simulator.EpisodeResult
    outputs: list[str]


@dataclass
class TurnScore:
    target: Target  # the oracle's action in that state
    components: dict[str, float | None]
    total: float


@lru_cache(maxsize=None)
def _oracle(domain: str) -> Callable[[list[Message]], Target]:
    from thinkact.bench.agent import oracle_policy

    return oracle_policy(domain)


def oracle_states(domain: str, messages: list[Message]) -> list[tuple[list[Message], Target]]:
    """Each state the agent acted in (the messages before each of its actions) and the oracle's
    action there."""
    oracle = _oracle(domain)
    return [(messages[:i], oracle(messages[:i])) for i, m in enumerate(messages) if m.role == "assistant"]


def score_turns(episode: Episode, *, weights: RewardWeights | None = None,
                kind: Literal["composite", "binary"] = "composite", think: Think | bool = "optional",
                answer_method: AnswerMethod = "f1", budget: int = 64) -> list[TurnScore]:
    """Every action of `episode` scored against the oracle's action in its state, as GRPO scores
    one turn (`rewards.score_parsed`; `kind` "binary": `rewards.binary_reward`)."""
    goal, messages = episode.goal, episode.result.conversation.messages
    states = oracle_states(goal.domain, messages)
    if len(states) != len(episode.outputs):
        raise ValueError(f"episode of {goal.id}: {len(states)} actions in the conversation but "
                         f"{len(episode.outputs)} outputs")
    weights = weights or RewardWeights()
    schemas = param_schemas(goal.tools)
    scores = []
    for (context, target), output in zip(states, episode.outputs):
        parsed = grammar.parse(output)
        components = score_parsed(parsed, target, tools=goal.tools, think=think, answer_method=answer_method,
                                  budget=budget, schemas=schemas,
                                  tool_results=[m.content for m in context if m.role == "tool"])
        total = (binary_reward(parsed, target, components) if kind == "binary" else weights.total(components))
        scores.append(TurnScore(target, components, total))
    return scores


def completion_reward(result: Any) -> float:
    """1.0 for an episode the simulator counts a success (`EpisodeResult.success`), else 0.0."""
    return 1.0 if result.success else 0.0


def turns_reward(scores: list[TurnScore]) -> float:
    """The mean per-turn reward of an episode's actions; 0.0 for an episode without any."""
    return sum(s.total for s in scores) / len(scores) if scores else 0.0


# --------------------------------------------------------------------------- TRL adapters


class EpisodeReward:
    """One part of the episode reward as a TRL reward function. TRL calls it with the rollout's
    extra fields as keyword arguments: `episode`, one `Episode` per completion. Logged beside the
    reward: with "completion", the episodes' outcomes (`episode/<what>`: the share of state, calls
    and telling right, the mean number of actions, the share ended by each limit); with "turns",
    each per-turn component's mean over the turns it applies to (`turns/<component>`) and the
    mean reasoning words per action (`reasoning_length`). A class, not a closure, so it pickles;
    `__name__` is what TRL logs it under."""

    def __init__(self, part: str, *, weights: RewardWeights | None = None,
                 kind: Literal["composite", "binary"] = "composite", think: Think | bool = "optional",
                 answer_method: AnswerMethod = "f1", budget: int = 64):
        if part not in PARTS:
            raise ValueError(f"unknown episode reward part {part!r}; expected one of {PARTS}")
        self.__name__ = self.part = part
        self.weights, self.kind = weights or RewardWeights(), kind
        self.think, self.answer_method, self.budget = think_mode(think), answer_method, budget

    def __call__(self, prompts: list | None = None, completions: list | None = None,
                 episode: list[Episode] | None = None, log_metric: Callable | None = None,
                 **_: Any) -> list[float]:
        if episode is None:
            raise ValueError("episode rewards need the rollout's `episode` field (train.grpo_episodes)")
        if self.part == "completion":
            if log_metric is not None:
                _log_outcomes(episode, log_metric)
            return [completion_reward(e.result) for e in episode]
        scores = [score_turns(e, weights=self.weights, kind=self.kind, think=self.think,
                              answer_method=self.answer_method, budget=self.budget) for e in episode]
        if log_metric is not None:
            _log_turns(episode, scores, log_metric)
        return [turns_reward(s) for s in scores]

    def __repr__(self) -> str:
        return f"EpisodeReward({self.part!r})"


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _log_outcomes(episodes: list[Episode], log_metric: Callable) -> None:
    results = [e.result for e in episodes]
    log_metric("episode/actions", _mean([r.actions for r in results]))
    for what in ("state_ok", "calls_ok", "told"):
        log_metric(f"episode/{what}", _mean([float(getattr(r, what)) for r in results]))
    for ending in ("action limit", "context limit"):
        log_metric(f"episode/{ending.replace(' ', '_')}", _mean([float(r.ended == ending) for r in results]))


def _log_turns(episodes: list[Episode], scores: list[list[TurnScore]], log_metric: Callable) -> None:
    turns = [t for s in scores for t in s]
    for c in COMPONENTS:
        values = [t.components[c] for t in turns if t.components[c] is not None]
        if values:
            log_metric(f"turns/{c}", _mean(values))
    words = [reasoning_words(grammar.parse(o).reasoning) for e in episodes for o in e.outputs]
    if words:
        log_metric("reasoning_length", _mean(words))


def make_episode_reward_funcs(weights: EpisodeWeights | None = None, *, turn_weights: RewardWeights | None = None,
                              kind: Literal["composite", "binary"] = "composite", think: Think | bool = "optional",
                              answer_method: AnswerMethod = "f1", budget: int = 64
                              ) -> tuple[list[EpisodeReward], list[float]]:
    """The two parts as TRL reward functions (named completion and turns) and the matching
    `GRPOConfig.reward_weights`: TRL's weighted sum is the episode reward."""
    weights = weights or EpisodeWeights()
    kw = dict(weights=turn_weights, kind=kind, think=think, answer_method=answer_method, budget=budget)
    funcs = [EpisodeReward(part, **kw) for part in PARTS]
    return funcs, [weights.normalised()[p] for p in PARTS]
