import pytest

from thinkact.grammar import render
from thinkact.metrics import aggregate, argument_counts, score_sample, turn_scores
from thinkact.schema import Message, Target, ToolCall, TurnSample

METRICS = ["decision_accuracy", "tool_name_accuracy", "exact_call_accuracy", "argument_f1",
           "reply_similarity", "format_validity", "mean_reward", "mean_reasoning_length",
           "turn_accuracy", "conversation_accuracy", "n_samples", "n_call_turns", "n_reply_turns",
           "n_conversations", "n_missing_predictions"]


def call(name, **args):
    return ToolCall(name=name, arguments=args)


def sample(conv, index, target, domain=None, tools=()):
    return TurnSample(id=f"{conv}#{index}", conversation_id=conv, turn_index=index, tools=list(tools),
                      context=[Message(role="user", content="hi")], target=target,
                      meta={"domain": domain} if domain else {})


def calls(*cs, reasoning=None):
    return Target(kind="tool_call", tool_calls=list(cs), reasoning=reasoning)


def reply(text, reasoning=None):
    return Target(kind="reply", content=text, reasoning=reasoning)


def hand_set():
    """Three conversations, six turns; the expected numbers are worked out by hand below."""
    samples = [
        sample("c1", 0, calls(call("get_order", order_id="W1")), "retail"),
        sample("c1", 1, reply("Your order has shipped."), "retail"),
        sample("c2", 0, calls(call("book", flight="F1", seats=2), call("notify", user="u1")), "airline"),
        sample("c2", 1, reply("Booked."), "airline"),
        sample("c3", 0, calls(call("cancel", id="X")), "airline"),
        sample("c3", 1, reply("please hold on"), "airline"),
    ]
    outputs = {
        # exact call, 4 words of reasoning
        "c1#0": render(calls(call("get_order", order_id="W1"), reasoning="look up the order")),
        "c1#1": "Your order has shipped.",
        # parallel calls reversed; seats "2" vs 2 with no schema: one wrong value
        "c2#0": render(calls(call("notify", user="u1"), call("book", flight="F1", seats="2")), think=False),
        "c2#1": render(calls(call("notify", user="u1")), think=False),  # calls instead of replying
        # c3#0 has no prediction
        "c3#1": "<think>\nshort thought here\n</think>\n\nhold on please",  # same tokens, other order
    }
    return samples, outputs


def test_metrics_on_a_hand_built_set():
    samples, outputs = hand_set()
    scores = turn_scores(samples, outputs)
    m = aggregate(scores)
    assert [k for k in m if not k.startswith("by_")] == METRICS
    assert (m["n_samples"], m["n_call_turns"], m["n_reply_turns"], m["n_conversations"],
            m["n_missing_predictions"]) == (6, 3, 3, 3, 1)
    assert m["decision_accuracy"] == pytest.approx(4 / 6)  # c2#1 and the missing c3#0 are wrong
    assert m["tool_name_accuracy"] == pytest.approx(2 / 3)
    assert m["exact_call_accuracy"] == pytest.approx(1 / 3)
    # triples: matched 1 + 2 + 0, predicted 1 + 3 + 0, gold 1 + 3 + 1 -> 2 * 3 / (4 + 5)
    assert m["argument_f1"] == pytest.approx(2 / 3)
    assert m["reply_similarity"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["format_validity"] == pytest.approx(5 / 6)  # only the empty (missing) output fails
    assert m["mean_reasoning_length"] == pytest.approx((4 + 3) / 6)
    assert m["turn_accuracy"] == pytest.approx(3 / 6)
    assert m["conversation_accuracy"] == pytest.approx(1 / 3)
    # default weights 0.1/0.3/0.5/0.5/0.1: c2#0 tool = (0.75 + 1) / 2; c2#1 keeps format and efficiency
    assert m["mean_reward"] == pytest.approx((1 + 1 + (0.1 + 0.3 + 0.5 * 0.875 + 0.1) + 0.2 + 0 + 1) / 6)

    by_domain = m["by_domain"]
    assert set(by_domain) == {"airline", "retail"} and "by_procedure" not in m
    assert by_domain["retail"]["turn_accuracy"] == 1.0 and by_domain["retail"]["conversation_accuracy"] == 1.0
    assert by_domain["airline"]["turn_accuracy"] == pytest.approx(1 / 4)
    assert by_domain["airline"]["conversation_accuracy"] == 0.0

    missing = next(s for s in scores if s.id == "c3#0")
    assert missing.missing and missing.problems[0] == "missing prediction" and missing.reward == 0.0


def test_conversation_accuracy_groups_by_conversation_id():
    samples = [sample(c, i, reply(f"answer {c} {i}")) for c, i in [("a", 0), ("a", 1), ("b", 0), ("c", 0), ("c", 1)]]
    outputs = {s.id: s.target.content for s in samples}
    outputs["a#1"] = "something else entirely"
    m = aggregate(turn_scores(samples, outputs))
    assert m["n_conversations"] == 3 and m["turn_accuracy"] == pytest.approx(4 / 5)
    assert m["conversation_accuracy"] == pytest.approx(2 / 3)  # b and c are right, a is not


def test_reply_threshold_and_schema_aware_exact_calls():
    s = sample("r", 0, reply("The refund is on its way."))
    partial = "the refund is late"  # articles dropped; 2 common tokens: P = 2/3, R = 2/5, F1 = 0.5
    assert score_sample(s, partial).reply_similarity == pytest.approx(0.5)
    assert score_sample(s, partial).turn_correct
    assert not score_sample(s, partial, reply_threshold=0.6).turn_correct

    tools = [{"name": "book", "parameters": {"type": "object", "properties": {"seats": {"type": "integer"}}}}]
    t = sample("t", 0, calls(call("book", seats=2)), tools=tools)
    out = render(calls(call("book", seats="2")), think=False)
    scored = score_sample(t, out)
    assert scored.exact_call and scored.turn_correct and scored.argument_counts == (1, 1, 1)


def test_argument_counts_and_think_required_format():
    gold = [call("a", x=1, y=[1, 2]), call("b", x=1)]
    assert argument_counts([call("b", x=1.0), call("a", x=1, y=[2, 1])], gold) == (2, 3, 3)
    assert argument_counts([], gold) == (0, 0, 3)
    s = sample("f", 0, reply("ok"))
    assert not score_sample(s, "ok", think="required").format_valid
    assert score_sample(s, "<think>\nfine\n</think>\n\nok", think="required").format_valid


def test_empty_set_and_procedure_breakdown():
    m = aggregate([])
    assert m["n_samples"] == 0 and m["decision_accuracy"] is None and m["conversation_accuracy"] is None
    s = sample("p", 0, reply("ok"))
    s.meta["procedure"] = "refund"
    m = aggregate(turn_scores([s], {"p#0": "ok"}))
    assert m["by_procedure"]["refund"]["turn_accuracy"] == 1.0
    assert m["tool_name_accuracy"] is None and m["argument_f1"] is None  # no call turns
