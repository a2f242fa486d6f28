"""Bootstrap intervals for episode results (`thinkact eval episodes`): success and pass^k.

The trials of one goal are not independent (a goal the model cannot do fails every trial), so
goals are the unit resampled, as conversations are for turn metrics (evaluate.stats). Both
metrics are ratios of per-goal sums, which is what `stats.Parts` holds:

    success = sum_g successes[g] / sum_g trials[g]
    pass^k  = sum_g C(c_g, k) / C(n_g, k)  /  number of goals

Models evaluated on the same goals (same split, seed and number of goals) share the resamples,
so their difference has a paired interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

import numpy as np

from thinkact.evaluate.stats import RESAMPLES, Parts, bootstrap_weights, paired_difference, summarize


def goal_successes(summary: Mapping[str, Any]) -> dict[str, list[bool]]:
    """Goal id -> the success of each of its trials, from an episode summary's `per_episode`."""
    out: dict[str, list[bool]] = defaultdict(list)
    for e in summary["per_episode"]:
        out[e["goal_id"]].append(bool(e["success"]))
    return dict(out)


def episode_parts(successes: Mapping[str, Sequence[bool]], goals: Sequence[str],
                  ks: Sequence[int]) -> dict[str, Parts]:
    """success and pass^k (for each k) as per-goal sums over `goals` (one fixed order)."""
    missing = [g for g in goals if g not in successes]
    if missing:
        raise ValueError(f"no episodes of goals {missing[:3]}")
    n = np.array([len(successes[g]) for g in goals], dtype=float)
    c = np.array([sum(successes[g]) for g in goals], dtype=float)
    ones = np.ones(len(goals))
    parts = {"success": Parts(c, n, n)}
    for k in ks:
        if n.min() < k:
            raise ValueError(f"pass^{k} needs at least {k} trials per goal")
        share = np.array([comb(int(ci), k) / comb(int(ni), k) for ci, ni in zip(c, n)])
        parts[f"pass^{k}"] = Parts(share, ones, ones)
    return parts


def compare_episodes(results: Mapping[str, Mapping[str, Any]], *, ks: Sequence[int] = (1, 2, 4),
                     reference: str | None = None, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Success and pass^k of each model (name -> episode summary, all on the same goals), each
    with a 95% bootstrap interval over goals, and every other model against `reference` with a
    paired interval of the difference."""
    goal_sets = {name: goal_successes(s) for name, s in results.items()}
    goals = sorted(next(iter(goal_sets.values())))
    for name, g in goal_sets.items():
        if sorted(g) != goals:
            raise ValueError(f"{name} was evaluated on other goals; compare models on the same split, seed and goals")
    trials = min(len(v) for g in goal_sets.values() for v in g.values())
    ks = [k for k in ks if k <= trials]
    weights = bootstrap_weights(len(goals), resamples, seed)
    parts = {name: episode_parts(g, goals, ks) for name, g in goal_sets.items()}
    rows = {name: {m: summarize([p], weights) for m, p in ps.items()} for name, ps in parts.items()}
    diffs = {}
    if reference is not None:
        if reference not in parts:
            raise ValueError(f"reference {reference!r} is not among {sorted(parts)}")
        for name in parts:
            if name != reference:
                diffs[name] = {m: paired_difference([parts[name][m]], [parts[reference][m]], weights)
                               for m in parts[name]}
    return {"goals": len(goals), "trials": trials, "unit": "goal", "resamples": resamples, "rows": rows,
            "reference": reference, "differences": diffs}
