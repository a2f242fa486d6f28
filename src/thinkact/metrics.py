"""Turn and conversation metrics: score each turn sample's output, then aggregate.

Metric definitions (all in [0, 1]; None when the set they average over is empty):

    decision_accuracy       share of turns whose kind of action (call vs reply) is right
    tool_name_accuracy      gold call turns: the multiset of predicted call names is the gold one
    exact_call_accuracy     gold call turns: the call set is exactly the gold set (type-aware
                            values, order-free over parallel calls)
    argument_f1             gold call turns: micro F1 of (tool name, key, value) triples pooled
                            over all call turns, so a turn weighs by its number of arguments and a
                            call without arguments neither helps nor hurts
    reply_similarity        gold reply turns: mean answer similarity, 0 where the decision is wrong
    format_validity         share of outputs with a perfect format reward (grammar and think rule):
                            under native reading, how many outputs used our grammar
    by_form                 outputs per form they were read in (thinkact.native.FORMS)
    mean_reward             mean composite reward
    mean_reasoning_length   mean reasoning length in whitespace-separated words over all turns,
                            an output without reasoning counting 0
    turn_accuracy           the action is right: an exact call set on a call turn, a reply with
                            similarity >= `reply_threshold` (default 0.5) on a reply turn
    conversation_accuracy   share of conversations whose turns (those in the set) are all right

A missing prediction is scored as an empty output and counted in n_missing_predictions.
Outputs are read strictly (our grammar, as training rewards read them) or natively (any call
format a model uses, see thinkact.native), as the `reader` says.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from thinkact.native import OutputReader
from thinkact.rewards import (REPLY_THRESHOLD, AnswerMethod, RewardWeights, Think, action_correct,
                              param_schemas, reasoning_words, reply_problem, score_parsed, values_equal)
from thinkact.schema import GoldTurn, ToolCall, TurnSample

BREAKDOWNS = {"domain": "by_domain", "procedure": "by_procedure"}  # meta key -> metrics key
_STRICT = OutputReader("strict")


@dataclass
class SampleScore:
    id: str
    conversation_id: str
    kind: str  # the gold kind: "tool_call" or "reply"
    reward: float
    components: dict[str, float | None]
    problems: list[str]
    missing: bool  # no prediction: scored as an empty output
    decision_correct: bool
    format_valid: bool
    reasoning_words: int
    turn_correct: bool
    names_correct: bool | None = None  # call turns only
    exact_call: bool | None = None  # call turns only
    argument_counts: tuple[int, int, int] | None = None  # call turns: (matched, predicted, gold) triples
    reply_similarity: float | None = None  # reply turns only
    form: str = "grammar"  # the form the output was read in (thinkact.native.FORMS)
    meta: dict[str, Any] = field(default_factory=dict)


def argument_counts(calls: list[ToolCall], gold: list[ToolCall],
                    tools: list[dict[str, Any]] | None = None, *,
                    schemas: dict[str, dict[str, Any]] | None = None) -> tuple[int, int, int]:
    """(matched, predicted, gold) counts of (tool name, key, value) triples; values compare
    type-aware, each predicted triple matches at most one gold triple. `schemas`:
    `param_schemas(tools)` when the caller has it already."""
    if schemas is None:
        schemas = param_schemas(tools)
    predicted = [(c.name, k, v) for c in calls for k, v in c.arguments.items()]
    reference = [(c.name, k, v) for c in gold for k, v in c.arguments.items()]
    used = [False] * len(predicted)
    matched = 0
    for name, key, value in reference:
        schema = schemas.get(name, {}).get(key)
        for i, (n, k, v) in enumerate(predicted):
            if not used[i] and n == name and k == key and values_equal(v, value, schema):
                used[i] = True
                matched += 1
                break
    return matched, len(predicted), len(reference)


def score_sample(sample: TurnSample | GoldTurn, output: str | None, *, weights: RewardWeights | None = None,
                 think: Think = "optional", answer_method: AnswerMethod = "f1", budget: int = 64,
                 reply_threshold: float = REPLY_THRESHOLD,
                 schemas: dict[str, dict[str, Any]] | None = None,
                 reader: OutputReader | None = None) -> SampleScore:
    """Score one turn sample's raw output (None: no prediction, scored as empty). `schemas`:
    `param_schemas(sample.tools)` when the caller has it already; `reader`: how outputs are
    read (default: strictly, as training rewards read them)."""
    parsed, form, _ = (reader or _STRICT)(output if output is not None else "", sample)
    target = sample.target
    if schemas is None and target.kind == "tool_call":
        schemas = param_schemas(sample.tools)
    tool_results = sample.tool_results
    components = score_parsed(parsed, target, tools=sample.tools, think=think, answer_method=answer_method,
                              budget=budget, schemas=schemas, tool_results=tool_results)
    # Only a reply can fail the rule, and one that does earned no answer credit: others skip it.
    not_a_reply = reply_problem(parsed, tool_results) if parsed.kind == "reply" and not components["answer"] else None
    decision_correct = components["decision"] == 1.0
    score = SampleScore(
        id=sample.id, conversation_id=sample.conversation_id, kind=target.kind,
        reward=(weights or RewardWeights()).total(components), components=components,
        problems=(["missing prediction"] if output is None else []) + parsed.problems
        + ([not_a_reply] if not_a_reply else []), form=form,
        missing=output is None, decision_correct=decision_correct,
        format_valid=components["format"] == 1.0, reasoning_words=reasoning_words(parsed.reasoning),
        turn_correct=False, meta={k: sample.meta[k] for k in BREAKDOWNS if k in sample.meta})
    if target.kind == "tool_call":
        calls = parsed.tool_calls if parsed.kind == "tool_call" else []
        score.names_correct = Counter(c.name for c in calls) == Counter(c.name for c in target.tool_calls)
        score.argument_counts = argument_counts(calls, target.tool_calls, sample.tools, schemas=schemas)
    else:
        score.reply_similarity = components["answer"]
    # On a call turn: calls_match(calls, gold), from the tool component already computed on
    # these calls (with the wrong decision there are none, and a call turn has a gold call).
    score.turn_correct = action_correct(parsed, target, components, reply_threshold)
    if target.kind == "tool_call":
        score.exact_call = score.turn_correct
    return score


def turn_scores(samples: list[TurnSample] | list[GoldTurn], outputs: dict[str, str], *,
                weights: RewardWeights | None = None, think: Think = "optional",
                answer_method: AnswerMethod = "f1", budget: int = 64, reply_threshold: float = REPLY_THRESHOLD,
                progress: bool = False, reader: OutputReader | None = None) -> list[SampleScore]:
    """Score every sample; `outputs` maps sample id to raw model output (absent = missing);
    `reader`: how outputs are read (default: strictly)."""
    weights = weights or RewardWeights()
    items: Any = samples
    if progress:
        from rich.progress import track
        items = track(samples, description="scoring", transient=True)
    # Samples of one domain often share one tool list object (scoring.read_gold): its
    # parameter schemas are worked out once.
    schemas: dict[int, dict[str, dict[str, Any]]] = {}

    def schemas_of(sample: TurnSample | GoldTurn) -> dict[str, dict[str, Any]] | None:
        if sample.target.kind != "tool_call":
            return None
        key = id(sample.tools)
        if key not in schemas:
            schemas[key] = param_schemas(sample.tools)
        return schemas[key]

    return [score_sample(s, outputs.get(s.id), weights=weights, think=think, answer_method=answer_method,
                         budget=budget, reply_threshold=reply_threshold, schemas=schemas_of(s), reader=reader)
            for s in items]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _metrics(scores: list[SampleScore]) -> dict[str, Any]:
    calls = [s for s in scores if s.kind == "tool_call"]
    replies = [s for s in scores if s.kind != "tool_call"]
    by_conversation: dict[str, list[bool]] = defaultdict(list)
    for s in scores:
        by_conversation[s.conversation_id].append(s.turn_correct)
    matched = predicted = gold = 0
    for s in calls:
        m, p, g = s.argument_counts
        matched, predicted, gold = matched + m, predicted + p, gold + g
    argument_f1 = (2 * matched / (predicted + gold) if predicted + gold else 1.0) if calls else None
    return {
        "decision_accuracy": _mean([float(s.decision_correct) for s in scores]),
        "tool_name_accuracy": _mean([float(s.names_correct) for s in calls]),
        "exact_call_accuracy": _mean([float(s.exact_call) for s in calls]),
        "argument_f1": argument_f1,
        "reply_similarity": _mean([s.reply_similarity for s in replies]),
        "format_validity": _mean([float(s.format_valid) for s in scores]),
        "mean_reward": _mean([s.reward for s in scores]),
        "mean_reasoning_length": _mean([float(s.reasoning_words) for s in scores]),
        "turn_accuracy": _mean([float(s.turn_correct) for s in scores]),
        "conversation_accuracy": _mean([float(all(v)) for v in by_conversation.values()]),
        "n_samples": len(scores),
        "n_call_turns": len(calls),
        "n_reply_turns": len(replies),
        "n_conversations": len(by_conversation),
        "n_missing_predictions": sum(s.missing for s in scores),
        "by_form": dict(Counter(s.form for s in scores).most_common()),
    }


def aggregate(scores: list[SampleScore]) -> dict[str, Any]:
    """The metrics of a set of scored turns, plus `by_domain` / `by_procedure` breakdowns (the
    same metrics per value of the samples' meta.domain / meta.procedure) when samples have them."""
    out = _metrics(scores)
    for key, name in BREAKDOWNS.items():
        if any(key in s.meta for s in scores):
            groups: dict[str, list[SampleScore]] = defaultdict(list)
            for s in scores:
                groups[str(s.meta.get(key, "(none)"))].append(s)
            out[name] = {g: _metrics(groups[g]) for g in sorted(groups)}
    return out
