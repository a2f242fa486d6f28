"""Uncertainty of evaluation metrics: bootstrap intervals over conversations, across seeds.

The turns of one conversation are not independent (one misread identifier spoils the rest of
it), so conversations are the unit resampled: a resample draws conversations with replacement
and every metric is recomputed from the per-turn scores of the drawn conversations, all their
turns together. Every metric of `thinkact.metrics` is a ratio of per-conversation sums

    metric = sum_c numerator[c] / sum_c denominator[c]

(turn accuracy: correct turns / turns; exact calls: exact call turns / call turns; argument F1:
2 x matched / (predicted + gold) argument triples; conversation accuracy: all-right
conversations / conversations), so a resample is a vector of counts (how often each
conversation was drawn) and its metric two dot products: thousands of resamples of a split take
milliseconds.

Several training seeds are evaluated on the same conversations: each resample is applied to
every seed and the seeds' metrics are averaged within it, so the interval is that of the mean
over seeds. Two models compared on the same conversations use the same resamples (a paired
bootstrap): the interval of their difference is much narrower than the two intervals suggest
when the models err on the same conversations.

Pure functions of numbers (numpy only); reading run folders is `thinkact.evaluate.results`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The metrics of thinkact.metrics that have intervals; the per-turn record fields they need are
# those scoring.score_files writes for each sample.
METRICS = ("turn_accuracy", "decision_accuracy", "tool_name_accuracy", "exact_call_accuracy",
           "argument_f1", "reply_similarity", "format_validity", "mean_reward",
           "conversation_accuracy", "mean_reasoning_length")
RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Parts:
    """One metric of one evaluation as per-conversation sums (arrays over the conversations of
    the split, in one fixed order). `support` counts what the metric averages over (turns, call
    turns, reply turns, conversations): a resample with none has no value (None in the metrics,
    NaN here). Where `denominator` is 0 but `support` is not, the value is `empty` (argument F1
    of calls with no arguments at all: 1)."""

    numerator: np.ndarray
    denominator: np.ndarray
    support: np.ndarray
    empty: float = float("nan")

    def value(self, weights: np.ndarray) -> np.ndarray:
        """The metric under each row of `weights` (resamples x conversations, draw counts); a
        1-d `weights` gives one value."""
        num, den, sup = weights @ self.numerator, weights @ self.denominator, weights @ self.support
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / np.where(den > 0, den, 1), self.empty)
        return np.where(sup > 0, out, np.nan)


def _f(x: Any) -> float:
    return float(x) if x is not None else 0.0


def metric_parts(records: Sequence[Mapping[str, Any]], conversations: Sequence[str]) -> dict[str, Parts]:
    """Per-conversation sums of every metric from per-turn records (one evaluation: a model on a
    split). A record has `conversation_id`, `kind` ("tool_call" or "reply"), `turn_correct`,
    `decision_correct`, `format_valid`, `reward`, `reasoning_words`, and on call turns
    `names_correct`, `exact_call`, `argument_counts` (matched, predicted, gold), on reply turns
    `reply_similarity`: what `thinkact.metrics.SampleScore` holds. Conversations of
    `conversations` without records contribute nothing."""
    index = {c: i for i, c in enumerate(conversations)}
    n = len(conversations)
    cols = {k: np.zeros(n) for k in ("turns", "calls", "replies", "correct", "decision", "format", "reward",
                                     "words", "names", "exact", "matched", "arg_total", "similarity")}
    wrong = np.zeros(n)
    for r in records:
        i = index.get(r["conversation_id"])
        if i is None:
            raise ValueError(f"conversation {r['conversation_id']!r} is not among the conversations given")
        cols["turns"][i] += 1
        cols["correct"][i] += bool(r["turn_correct"])
        wrong[i] += not r["turn_correct"]
        cols["decision"][i] += bool(r["decision_correct"])
        cols["format"][i] += bool(r["format_valid"])
        cols["reward"][i] += _f(r["reward"])
        cols["words"][i] += _f(r["reasoning_words"])
        if r["kind"] == "tool_call":
            cols["calls"][i] += 1
            cols["names"][i] += bool(r.get("names_correct"))
            cols["exact"][i] += bool(r.get("exact_call"))
            m, p, g = r.get("argument_counts") or (0, 0, 0)
            cols["matched"][i] += 2 * m
            cols["arg_total"][i] += p + g
        else:
            cols["replies"][i] += 1
            cols["similarity"][i] += _f(r.get("reply_similarity"))
    turns, calls, replies = cols["turns"], cols["calls"], cols["replies"]
    present = (turns > 0).astype(float)
    per_turn = lambda key: Parts(cols[key], turns, turns)  # noqa: E731
    return {
        "turn_accuracy": per_turn("correct"),
        "decision_accuracy": per_turn("decision"),
        "tool_name_accuracy": Parts(cols["names"], calls, calls),
        "exact_call_accuracy": Parts(cols["exact"], calls, calls),
        "argument_f1": Parts(cols["matched"], cols["arg_total"], calls, empty=1.0),
        "reply_similarity": Parts(cols["similarity"], replies, replies),
        "format_validity": per_turn("format"),
        "mean_reward": per_turn("reward"),
        "conversation_accuracy": Parts(present * (wrong == 0), present, present),
        "mean_reasoning_length": per_turn("words"),
    }


def bootstrap_weights(n_conversations: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Resamples x conversations: how often each conversation is drawn when `n_conversations`
    are drawn with replacement. Seeded: the same arguments give the same resamples."""
    if n_conversations < 1:
        raise ValueError("no conversations to resample")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_conversations, size=(resamples, n_conversations))
    flat = draws + n_conversations * np.arange(resamples)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n_conversations).reshape(
        resamples, n_conversations).astype(np.float64)


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN (a seed whose metric has no value there); NaN if all are."""
    ok = ~np.isnan(values)
    count = ok.sum(axis=0)
    total = np.where(ok, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def _num(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def summarize(per_seed: Sequence[Parts], weights: np.ndarray, level: float = LEVEL) -> dict[str, Any]:
    """One metric over seeds: the mean of the seeds' values, a `level` percentile interval of
    that mean over the resamples (each resample applied to every seed), each seed's value, and
    the size (summed `support` of the first seed: turns, call turns, ...)."""
    ones = np.ones(weights.shape[1])
    seeds = np.array([p.value(ones) for p in per_seed], dtype=float)
    boot = _nanmean_rows(np.stack([p.value(weights) for p in per_seed]))
    return {"mean": _num(_nanmean_rows(seeds[:, None])[0]), "ci": _interval(boot, level),
            "per_seed": [_num(v) for v in seeds], "n": int(per_seed[0].support.sum())}


def paired_difference(a: Sequence[Parts], b: Sequence[Parts], weights: np.ndarray,
                      level: float = LEVEL) -> dict[str, Any]:
    """Model `a` against model `b` on the same conversations (each a list over seeds): the
    relative difference mean(a) / mean(b) - 1 and the absolute one mean(a) - mean(b), with
    paired bootstrap intervals (the same resamples for both), each seed's relative difference,
    and the share of resamples in which `a` is not above `b`."""
    ones = np.ones(weights.shape[1])
    ma = _nanmean_rows(np.stack([p.value(ones)[None] for p in a]))[0]
    mb = _nanmean_rows(np.stack([p.value(ones)[None] for p in b]))[0]
    ba = _nanmean_rows(np.stack([p.value(weights) for p in a]))
    bb = _nanmean_rows(np.stack([p.value(weights) for p in b]))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(bb > 0, ba / np.where(bb > 0, bb, 1) - 1, np.nan)
        per_seed = [float(x / y - 1) if y > 0 else None
                    for x, y in ((pa.value(ones), pb.value(ones)) for pa, pb in zip(a, b))]
    diff = ba - bb
    valid = ~np.isnan(diff)
    return {"relative": _num(ma / mb - 1) if mb > 0 else None, "relative_ci": _interval(rel, level),
            "difference": _num(ma - mb), "difference_ci": _interval(diff, level),
            "share_not_better": float((diff[valid] <= 0).mean()) if valid.any() else None,
            "per_seed_relative": per_seed}


def conversation_order(evaluations: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
    """The conversations of several evaluations of one split, sorted: one index for all of them."""
    return sorted({r["conversation_id"] for records in evaluations for r in records})


def aggregate(evaluations: Mapping[tuple[str, str], Sequence[Sequence[Mapping[str, Any]]]], *,
              compare: Sequence[tuple[str, str]] = (("grpo", "sft"), ("coldstart", "sft")),
              compare_metric: str = "turn_accuracy", resamples: int = RESAMPLES, seed: int = 0,
              level: float = LEVEL) -> dict[str, Any]:
    """Intervals for every (stage, split) evaluation given as a list over seeds of per-turn
    records, and paired comparisons of `compare` pairs (a, b) on `compare_metric`.

    All stages of a split share one set of resamples (seeded by `seed`), so comparisons are
    paired and the same seed gives the same intervals. Returns {"rows": [{"stage", "split",
    "metrics": {metric: {"mean", "ci", "per_seed", "n"}}, "n": {turns, call_turns, reply_turns,
    conversations, seeds}}], "comparisons": [...], "bootstrap": {...}}."""
    splits: dict[str, list[str]] = {}
    for stage, split in evaluations:
        splits.setdefault(split, []).append(stage)
    rows, comparisons = [], []
    for split, stages in splits.items():
        convs = conversation_order([r for st in stages for r in evaluations[(st, split)]])
        weights = bootstrap_weights(len(convs), resamples, seed)
        parts = {st: [metric_parts(records, convs) for records in evaluations[(st, split)]] for st in stages}
        for st in stages:
            first = parts[st][0]
            size = {"turns": int(first["turn_accuracy"].support.sum()),
                    "call_turns": int(first["exact_call_accuracy"].support.sum()),
                    "reply_turns": int(first["reply_similarity"].support.sum()),
                    "conversations": int(first["conversation_accuracy"].support.sum()),
                    "seeds": len(parts[st])}
            rows.append({"stage": st, "split": split, "n": size,
                         "metrics": {m: summarize([p[m] for p in parts[st]], weights, level) for m in METRICS}})
        for a, b in compare:
            if a in parts and b in parts:
                comparisons.append({
                    "a": a, "b": b, "split": split, "metric": compare_metric,
                    **paired_difference([p[compare_metric] for p in parts[a]],
                                        [p[compare_metric] for p in parts[b]], weights, level),
                    "n": {"turns": int(parts[a][0][compare_metric].support.sum()),
                          "conversations": len(convs), "seeds": min(len(parts[a]), len(parts[b]))}})
    return {"rows": rows, "comparisons": comparisons,
            "bootstrap": {"unit": "conversation", "resamples": resamples, "seed": seed, "level": level}}
