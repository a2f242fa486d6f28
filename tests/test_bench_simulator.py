import random

import pytest

from thinkact.bench.agent import oracle_policy
from thinkact.bench.backend import database
from thinkact.bench.domains import DOMAINS, PROCEDURES
from thinkact.bench.nlu import fragments, understand
from thinkact.bench.simulator import pass_hat_k, run_episode, sample_goals
from thinkact.grammar import render
from thinkact.schema import Target, ToolCall


def _example(slot, db, rng):
    return rng.choice(list(db[slot.table]))


def test_every_user_fragment_reads_back_to_its_meaning():
    rng = random.Random(0)
    for domain in DOMAINS.values():
        db = database(domain.name, "train", 0)
        for template, act in fragments(domain):
            names = [n for n in domain.slots if "{" + n + "}" in template]
            values = {n: _example(domain.slots[n], db, rng) for n in names}
            expected = ([act] if act else []) + [("slot", n, values[n]) for n in names]
            got = understand(domain, template.format(**values))
            assert sorted(got, key=str) == sorted(expected, key=str), template


def test_understand_reads_several_fragments_and_flags_the_rest():
    acts = understand("retail", "Hi there! Please cancel order K7Q2M9XA. I ordered it by mistake.")
    assert acts == [("greet",), ("intent", "cancel_order"), ("slot", "order_id", "K7Q2M9XA"),
                    ("slot", "reason", "ordered_by_mistake")]
    assert understand("retail", "Yes. blorp")[-1] == ("unknown", "blorp")


@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_oracle_reaches_every_goal(split):
    goals = sample_goals(split, 90, seed=0)
    results = [run_episode(g, oracle_policy(g.domain)) for g in goals]
    assert all(r.success for r in results), [r.goal_id for r in results if not r.success]
    assert {g.outcome for g in goals} == {"done", "refused", "declined"}


def test_goals_vary_behaviour_and_are_deterministic():
    goals = sample_goals("train", 120, seed=4)
    assert [g.id for g in goals] == [g.id for g in sample_goals("train", 120, seed=4)]
    assert [g.slots for g in goals] == [g.slots for g in sample_goals("train", 120, seed=4)]
    seen = {b for g in goals for b in g.behaviours()}
    assert {"all", "piecemeal", "early", "typo_id", "wrong_id", "change_mind", "decline", "faq", "greet",
            "smalltalk", "thanks"} <= seen
    assert {g.procedure for g in goals} == {p.name for p in PROCEDURES.values() if p.split == "train"}


def test_bad_policies_fail_and_episodes_end():
    goals = [g for g in sample_goals("test", 40, seed=1) if g.gold and g.outcome == "done"
             and any(c.name not in ("get_order", "get_reservation", "get_account", "get_invoice",
                                     "get_flight_status") for c in g.gold)][:5]
    assert goals
    silent = lambda messages: Target(kind="reply", content="Hello there.")
    wrong = lambda messages: Target(kind="tool_call", tool_calls=[ToolCall(name="cancel_order", arguments={"x": 1})])
    garbage = lambda messages: "<tool_call>{not json"
    for g in goals:
        for policy in (silent, wrong, garbage):
            r = run_episode(g, policy, max_actions=12)
            assert not r.success and r.actions <= 12
        r = run_episode(g, garbage, max_actions=5)
        assert r.malformed == r.actions >= 1


def test_raw_text_policy_through_the_grammar():
    goals = sample_goals("ood", 12, seed=2)
    for g in goals:
        oracle = oracle_policy(g.domain)
        text = lambda messages: render(oracle(messages).model_copy(update={"reasoning": "ok"}))
        r = run_episode(g, text, trial=3)
        assert r.success and r.malformed == 0


def test_pass_hat_k():
    assert pass_hat_k([[True, True, True, True]], 2) == 1.0
    assert pass_hat_k([[True, False, True, False]], 1) == 0.5
    assert pass_hat_k([[True, False, True, False]], 2) == pytest.approx(1 / 6)
    assert pass_hat_k([[True, True], [False, False]], 2) == 0.5
    with pytest.raises(ValueError):
        pass_hat_k([[True]], 2)
