"""How hard the benchmark is: action statistics and the scores of trivial baselines.

Two baselines that read no language: *majority action* (always emit the most frequent action of
train) and *copy last action* (repeat the agent's previous action; the majority action on a
conversation's first turn). A benchmark where either scores well measures nothing. Turn
accuracy is reported two ways: exact (the same calls, or the same reply text) and with the
project's metrics (exact calls, replies by similarity >= 0.5).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from thinkact.grammar import render
from thinkact.schema import Conversation, Target, TurnSample


def stats(convs: list[Conversation]) -> dict[str, Any]:
    """Shares of replies and tool calls, tools used, actions per conversation, outcomes."""
    actions = [m for c in convs for m in c.messages if m.role == "assistant"]
    calls = [m for m in actions if m.tool_calls]
    per_conv = [sum(m.role == "assistant" for m in c.messages) for c in convs]
    n = max(len(actions), 1)
    return {
        "conversations": len(convs),
        "actions": len(actions),
        "reply_share": round(1 - len(calls) / n, 4),
        "call_share": round(len(calls) / n, 4),
        "distinct_tools_called": len({t.name for m in calls for t in m.tool_calls}),
        "distinct_tools_declared": len({t["name"] for c in convs for t in c.tools}),
        "actions_per_conversation": {
            "mean": round(sum(per_conv) / max(len(per_conv), 1), 2),
            "min": min(per_conv, default=0), "max": max(per_conv, default=0),
            "share_3_to_8": round(sum(3 <= k <= 8 for k in per_conv) / max(len(per_conv), 1), 4)},
        "outcomes": dict(sorted(Counter(c.meta.get("outcome", "?") for c in convs).items())),
        "procedures": dict(sorted(Counter(c.meta.get("procedure", "?") for c in convs).items())),
    }


def action_key(target: Target) -> str:
    """An action as a comparable string: the calls with their arguments, or the reply text."""
    if target.kind == "tool_call":
        return json.dumps([[c.name, c.arguments] for c in target.tool_calls], sort_keys=True)
    return "reply:" + target.content.strip()


def _last_action(sample: TurnSample) -> Target | None:
    for m in reversed(sample.context):
        if m.role == "assistant":
            if m.tool_calls:
                return Target(kind="tool_call", tool_calls=m.tool_calls)
            return Target(kind="reply", content=m.content)
    return None


def baselines(train: list[TurnSample], evaluate: list[TurnSample]) -> dict[str, Any]:
    """Turn and conversation accuracy of the majority-action and copy-last-action baselines on
    `evaluate`, the majority learnt on `train`."""
    from thinkact.metrics import aggregate, turn_scores

    counts = Counter(action_key(s.target) for s in train)
    by_key = {action_key(s.target): s.target for s in train}
    majority = by_key[counts.most_common(1)[0][0]].model_copy(update={"reasoning": None})
    kinds = Counter(s.target.kind for s in train)
    predictions = {
        "majority_action": {s.id: majority for s in evaluate},
        "copy_last_action": {s.id: _last_action(s) or majority for s in evaluate},
    }
    out: dict[str, Any] = {"majority_action_text": action_key(majority),
                           "majority_decision": kinds.most_common(1)[0][0]}
    for name, preds in predictions.items():
        exact = {s.id: action_key(preds[s.id]) == action_key(s.target) for s in evaluate}
        per_conv: dict[str, list[bool]] = defaultdict(list)
        for s in evaluate:
            per_conv[s.conversation_id].append(exact[s.id])
        metrics = aggregate(turn_scores(evaluate, {i: render(t, think=False) for i, t in preds.items()}))
        out[name] = {
            "exact_turn_accuracy": round(sum(exact.values()) / max(len(exact), 1), 4),
            "exact_conversation_accuracy": round(sum(map(all, per_conv.values())) / max(len(per_conv), 1), 4),
            "turn_accuracy": round(metrics["turn_accuracy"], 4),
            "conversation_accuracy": round(metrics["conversation_accuracy"], 4),
            "decision_accuracy": round(metrics["decision_accuracy"], 4),
        }
    return out
