"""Bootstrap intervals over conversations (thinkact.evaluate.stats): exact against the metrics
module on resampled turns, paired comparisons, seeds, determinism and speed."""

import random

import numpy as np
import pytest

from thinkact.evaluate import stats
from thinkact.metrics import SampleScore, aggregate
from thinkact.scoring import sample_record


def make_scores(n_conv: int, p_right: float = 0.7, seed: int = 0, prefix: str = "c") -> list[SampleScore]:
    """Conversations of 2-8 turns, calls and replies, right with probability p_right; some calls
    carry no arguments at all."""
    rng = random.Random(seed)
    out = []
    for c in range(n_conv):
        for t in range(rng.randint(2, 8)):
            right = rng.random() < p_right
            call = rng.random() < 0.35
            s = SampleScore(id=f"{prefix}{c}#{t}", conversation_id=f"{prefix}{c}",
                            kind="tool_call" if call else "reply",
                            reward=rng.random(), components={}, problems=[], missing=False,
                            decision_correct=right or rng.random() < 0.5, format_valid=rng.random() < 0.9,
                            reasoning_words=rng.randint(0, 20), turn_correct=right)
            if call:
                n_args = rng.choice([0, 1, 2, 3])
                matched = n_args if right else rng.randint(0, n_args)
                s.names_correct, s.exact_call = right or rng.random() < 0.5, right
                s.argument_counts = (matched, n_args, n_args)
            else:
                s.reply_similarity = rng.uniform(0.5, 1) if right else rng.uniform(0, 0.5)
            out.append(s)
    return out


def records(scores):
    return [sample_record(s) for s in scores]


def test_point_values_equal_the_metrics_module():
    scores = make_scores(40)
    convs = stats.conversation_order([records(scores)])
    parts = stats.metric_parts(records(scores), convs)
    want = aggregate(scores)
    for m in stats.METRICS:
        assert parts[m].value(np.ones(len(convs))) == pytest.approx(want[m]), m


def test_a_resample_keeps_each_conversation_whole():
    """A resample's metric equals the metrics module on the turns of the drawn conversations,
    each draw a whole copy of its conversation (every turn, under its own conversation id)."""
    scores = make_scores(30, seed=1)
    convs = stats.conversation_order([records(scores)])
    parts = stats.metric_parts(records(scores), convs)
    weights = stats.bootstrap_weights(len(convs), resamples=5, seed=3)
    by_conv = {c: [s for s in scores if s.conversation_id == c] for c in convs}
    for row in weights:
        drawn = []
        for c, count in zip(convs, row):
            for j in range(int(count)):
                drawn += [SampleScore(**{**s.__dict__, "conversation_id": f"{c}@{j}"}) for s in by_conv[c]]
        want = aggregate(drawn)
        for m in stats.METRICS:
            assert parts[m].value(row) == pytest.approx(want[m]), m
    assert weights.shape == (5, 30) and (weights.sum(axis=1) == 30).all()


def test_interval_contains_the_mean_and_shrinks_with_more_conversations():
    widths = []
    for n in (40, 160, 640):
        scores = make_scores(n, seed=2)
        agg = stats.aggregate({("sft", "test"): [records(scores)]}, compare=())
        row = agg["rows"][0]
        assert row["n"]["conversations"] == n and row["n"]["turns"] == len(scores) and row["n"]["seeds"] == 1
        for m, v in row["metrics"].items():
            assert v["ci"][0] <= v["mean"] <= v["ci"][1], m
        acc = row["metrics"]["turn_accuracy"]
        widths.append(acc["ci"][1] - acc["ci"][0])
    assert widths[0] > 1.5 * widths[1] > 2.25 * widths[2]


def test_same_seed_same_interval_other_seed_other_resamples():
    ev = {("sft", "test"): [records(make_scores(50))]}
    a, b = stats.aggregate(ev, seed=7), stats.aggregate(ev, seed=7)
    assert a == b
    c = stats.aggregate(ev, seed=8)
    assert c["rows"][0]["metrics"]["turn_accuracy"]["ci"] != a["rows"][0]["metrics"]["turn_accuracy"]["ci"]
    assert c["rows"][0]["metrics"]["turn_accuracy"]["mean"] == a["rows"][0]["metrics"]["turn_accuracy"]["mean"]


def test_paired_difference_excludes_zero_when_one_model_is_right_wherever_the_other_is():
    """GRPO is right on every turn SFT is right on and on a few more: a small gain whose
    unpaired intervals overlap, but whose paired interval is above 0."""
    sft = make_scores(200, p_right=0.6, seed=4)
    rng = random.Random(5)
    grpo = [SampleScore(**{**s.__dict__, "turn_correct": s.turn_correct or rng.random() < 0.1}) for s in sft]
    agg = stats.aggregate({("sft", "test"): [records(sft)], ("grpo", "test"): [records(grpo)]})
    rows = {r["stage"]: r["metrics"]["turn_accuracy"] for r in agg["rows"]}
    assert rows["grpo"]["ci"][0] < rows["sft"]["ci"][1]  # the two intervals overlap
    (c,) = agg["comparisons"]
    assert (c["a"], c["b"], c["metric"]) == ("grpo", "sft", "turn_accuracy")
    assert c["relative"] == pytest.approx(rows["grpo"]["mean"] / rows["sft"]["mean"] - 1)
    assert 0 < c["relative_ci"][0] <= c["relative"] <= c["relative_ci"][1]
    assert 0 < c["difference_ci"][0] and c["share_not_better"] == 0.0
    assert c["n"] == {"turns": len(sft), "conversations": 200, "seeds": 1}
    # the same model against itself: a difference of exactly 0
    same = stats.aggregate({("sft", "test"): [records(sft)], ("grpo", "test"): [records(sft)]})["comparisons"][0]
    assert same["relative"] == 0 and same["relative_ci"] == [0, 0]


def test_seeds_are_averaged_within_each_resample():
    seeds = [records(make_scores(60, p_right=p, seed=9 + i)) for i, p in enumerate((0.5, 0.6, 0.7))]
    # the same conversations under every seed (same ids), only the outcomes differ
    assert {r["conversation_id"] for r in seeds[0]} == {r["conversation_id"] for r in seeds[1]}
    row = stats.aggregate({("grpo", "test"): seeds})["rows"][0]
    acc = row["metrics"]["turn_accuracy"]
    singles = [stats.aggregate({("grpo", "test"): [s]})["rows"][0]["metrics"]["turn_accuracy"] for s in seeds]
    assert acc["per_seed"] == [s["mean"] for s in singles]
    assert acc["mean"] == pytest.approx(sum(acc["per_seed"]) / 3)
    assert acc["ci"][0] <= acc["mean"] <= acc["ci"][1] and row["n"]["seeds"] == 3
    # three copies of one seed: the interval of that seed alone
    one = stats.aggregate({("grpo", "test"): seeds[:1]})["rows"][0]["metrics"]["turn_accuracy"]
    three = stats.aggregate({("grpo", "test"): [seeds[0]] * 3})["rows"][0]["metrics"]["turn_accuracy"]
    assert three["ci"] == pytest.approx(one["ci"]) and three["mean"] == pytest.approx(one["mean"])


def test_metric_without_turns_has_no_value():
    replies_only = [s for s in make_scores(20) if s.kind == "reply"]
    row = stats.aggregate({("sft", "ood"): [records(replies_only)]})["rows"][0]
    assert row["metrics"]["exact_call_accuracy"] == {"mean": None, "ci": None, "per_seed": [None], "n": 0}
    assert row["metrics"]["reply_similarity"]["mean"] is not None


def test_full_splits_of_several_seeds_aggregate():
    """Four stages x three seeds of a 300-conversation split, 2,000 resamples (the results
    preset's size): every row and comparison, each over all three seeds."""
    ev = {(st, "test"): [records(make_scores(300, seed=i)) for i in range(3)]
          for st in ("vanilla", "sft", "coldstart", "grpo")}
    agg = stats.aggregate(ev, resamples=2000)
    assert len(agg["rows"]) == 4 and len(agg["comparisons"]) == 2
    assert all(r["n"]["seeds"] == 3 and r["n"]["conversations"] == 300 for r in agg["rows"])
