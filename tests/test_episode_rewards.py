"""The episode reward on scripted episodes: goal completion and the per-turn reward against the oracle."""

import pytest
from pydantic import ValidationError

from thinkact.bench.agent import oracle_policy
from thinkact.bench.simulator import run_episode, sample_goals
from thinkact.episode_rewards import (Episode, EpisodeReward, EpisodeWeights, completion_reward,
                                      make_episode_reward_funcs, oracle_states, score_turns, turns_reward)
from thinkact.grammar import render
from thinkact.rewards import RewardWeights
from thinkact.schema import Target, ToolCall


def play(goal, act, max_actions=40):
    """Run `goal` with `act` (messages -> raw text), keeping the raw outputs."""
    outputs = []

    def policy(messages):
        outputs.append(act(messages))
        return outputs[-1]

    return Episode(goal, run_episode(goal, policy, max_actions=max_actions), outputs)


def oracle_text(domain, reasoning="Known: what the user said."):
    oracle = oracle_policy(domain)
    return lambda messages: render(oracle(messages).model_copy(update={"reasoning": reasoning}), think=True)


GOALS = sample_goals("train", 24, seed=0)


def test_the_oracle_completes_every_goal_with_full_turn_credit():
    assert {g.outcome for g in GOALS} == {"done", "refused", "declined"}
    for goal in GOALS:
        e = play(goal, oracle_text(goal.domain))
        scores = score_turns(e, think="required")
        assert completion_reward(e.result) == 1.0
        assert len(scores) == e.result.actions > 1
        assert turns_reward(scores) == pytest.approx(1.0)
        assert all(s.components["decision"] == 1.0 and s.components["format"] == 1.0 for s in scores)


def test_a_policy_that_never_calls_tools_completes_nothing():
    turns = []
    for goal in GOALS:
        e = play(goal, lambda m: "<think>\nThe user needs help.\n</think>\n\nI can help with that. Anything else?",
                 max_actions=8)
        assert completion_reward(e.result) == 0.0
        scores = score_turns(e, think="required")
        turns.append(turns_reward(scores))
        # every state where the oracle would call a tool is scored 0 for the action
        assert all(s.components["tool"] == 0.0 for s in scores if s.target.kind == "tool_call")
    assert max(turns) < 1.0 and min(turns) >= 0.0


def test_turns_are_scored_in_the_state_reached_not_on_a_gold_path():
    goal = next(g for g in GOALS if g.gold and g.style == "all" and not g.opener and not g.bad_id)
    right = oracle_text(goal.domain)
    wrong_call = ToolCall(name=goal.gold[0].name, arguments={k: "X" + str(v) for k, v in goal.gold[0].arguments.items()})

    def first_wrong(messages):  # a wrong identifier first, then the oracle from wherever that led
        if len(messages) == 1:
            return render(Target(kind="tool_call", tool_calls=[wrong_call], reasoning="Look it up."), think=True)
        return right(messages)

    e = play(goal, first_wrong)
    states = oracle_states(goal.domain, e.result.conversation.messages)
    scores = score_turns(e, think="required")
    assert states[0][1].tool_calls == goal.gold[:1]
    assert scores[0].components["tool"] < 1.0 and all(s.total == pytest.approx(1.0) for s in scores[1:])
    assert states[1][0][-1].role == "tool" and "error" in states[1][0][-1].content  # the state the wrong call made


def test_weights_and_trl_functions():
    e_ok = play(GOALS[0], oracle_text(GOALS[0].domain))
    e_mute = play(GOALS[0], lambda m: "Hello! How are you?", max_actions=4)
    funcs, weights = make_episode_reward_funcs(EpisodeWeights(completion=3, turns=1), think="required")
    assert [f.__name__ for f in funcs] == ["completion", "turns"] and weights == [0.75, 0.25]
    logged = {}
    parts = [f(prompts=["p", "p"], completions=["", ""], episode=[e_ok, e_mute],
               log_metric=lambda k, v: logged.setdefault(k, v)) for f in funcs]
    assert parts[0] == [1.0, 0.0] and parts[1][0] == pytest.approx(1.0) and parts[1][1] < 0.5
    total = [sum(w * p[i] for w, p in zip(weights, parts)) for i in range(2)]
    assert total[0] == pytest.approx(1.0) and total[1] < 0.25
    for key in ("episode/actions", "episode/state_ok", "episode/told", "episode/action_limit", "turns/format",
                "turns/decision", "turns/tool", "turns/answer", "reasoning_length"):
        assert key in logged, key
    assert logged["episode/action_limit"] == 0.5
    binary = EpisodeReward("turns", kind="binary", think="required")(episode=[e_ok, e_mute])
    assert binary[0] == 1.0 and binary[1] == 0.0
    with pytest.raises(ValueError, match="episode"):
        funcs[0](prompts=["p"], completions=[""])
    with pytest.raises(ValueError, match="unknown"):
        EpisodeReward("success")
    with pytest.raises(ValidationError):
        EpisodeWeights(completion=0, turns=0)
    half = score_turns(e_ok, think="required", weights=RewardWeights(format=1, decision=0, tool=0, answer=0,
                                                                         efficiency=0))
    assert turns_reward(half) == pytest.approx(1.0)
    assert turns_reward([]) == 0.0


def test_outputs_must_match_the_conversations_actions():
    e = play(GOALS[0], oracle_text(GOALS[0].domain))
    with pytest.raises(ValueError, match="outputs"):
        score_turns(Episode(e.goal, e.result, e.outputs[:-1]))
