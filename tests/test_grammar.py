import json

from hypothesis import given, settings, strategies as st

from thinkact.grammar import parse, render
from thinkact.schema import Target, ToolCall


def call_target(reasoning="check the order", **args):
    return Target(kind="tool_call", tool_calls=[ToolCall(name="get_order", arguments=args)],
                  reasoning=reasoning)


def test_render_matches_qwen3_layout():
    out = render(call_target(order_id="W123"))
    assert out == ('<think>\ncheck the order\n</think>\n\n<tool_call>\n'
                   '{"name": "get_order", "arguments": {"order_id": "W123"}}\n</tool_call>')
    assert render(call_target(order_id="W1"), think=False).startswith("<tool_call>")


def test_parse_reply_and_parallel_calls():
    p = parse("<think>\nuser said hi\n</think>\n\nHello! How can I help?")
    assert (p.kind, p.reasoning, p.reply, p.valid) == ("reply", "user said hi", "Hello! How can I help?", True)
    two = ('<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n'
           '<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>')
    p = parse(two)
    assert p.kind == "tool_call" and [c.name for c in p.tool_calls] == ["a", "b"] and p.valid
    assert p.reasoning is None


def test_empty_think_block_is_no_think_mode():
    p = parse("<think>\n\n</think>\n\nSure.")
    assert p.reasoning == "" and p.reply == "Sure." and p.valid


def problems_of(text):
    return " | ".join(parse(text).problems)


def test_malformed_outputs_say_why():
    assert "bad JSON" in problems_of("<tool_call>\n{\"name\": \"a\", \n</tool_call>")
    assert "empty <tool_call> block" in problems_of("<tool_call></tool_call>")
    assert "missing or empty 'name'" in problems_of('<tool_call>{"arguments": {}}</tool_call>')
    assert "missing 'arguments'" in problems_of('<tool_call>{"name": "a"}</tool_call>')
    assert "text mixed with a tool call" in problems_of('Sure! <tool_call>{"name": "a", "arguments": {}}</tool_call>')
    assert "unclosed <tool_call>" in problems_of('<tool_call>{"name": "a", "arguments": {}}')
    assert "nested <tool_call>" in problems_of('<tool_call><tool_call>{"name": "a", "arguments": {}}</tool_call>')
    assert "unclosed <think>" in problems_of("<think> still thinking")
    assert "without an opening" in problems_of("reasoning</think>Hi")
    assert "not an object" in problems_of("<tool_call>[1, 2]</tool_call>")
    assert "JSON string" in problems_of('<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>')
    assert "empty action" in problems_of("<think>x</think>   ")
    assert "unexpected tag" in problems_of("Here: <tool_response>x</tool_response>")


def test_huge_numbers_and_deep_nesting_are_problems_not_errors():
    # json.loads raises a bare ValueError for an integer over 4300 digits: parse let it escape
    huge = parse('<tool_call>{"name": "a", "arguments": {"n": ' + "9" * 5000 + "}}</tool_call>")
    assert huge.kind == "tool_call" and not huge.tool_calls
    assert "tool call 1: bad JSON (a number longer than 4300 digits)" in huge.problems
    deep = parse('<tool_call>{"name": "a", "arguments": {"n": ' + "[" * 300 + "]" * 300 + "}}</tool_call>")
    assert any("nested deeper than" in p for p in deep.problems)
    as_string = parse('<tool_call>{"name": "a", "arguments": "{\\"n\\": ' + "9" * 5000 + '}"}</tool_call>')
    assert as_string.tool_calls[0].arguments == {}
    assert any("arguments are not valid JSON (a number longer" in p for p in as_string.problems)


def test_unclosed_call_still_recovers_the_call():
    p = parse('<tool_call>{"name": "a", "arguments": {"k": "v"}}')
    assert p.kind == "tool_call" and p.tool_calls[0].arguments == {"k": "v"} and not p.valid


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    p = parse(text)
    assert p.kind in (None, "tool_call", "reply")


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("<>/{}[]\":, tkhinol_acrespw\n")), max_size=80))
def test_parse_never_raises_on_tag_soup(text):
    parse(text)


_plain = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), max_size=40).map(str.strip)
# Argument strings without "<": a grammar tag inside a call's JSON (a value "<think>" or
# "</tool_call>") reads as the model breaking the format; the grammar does not escape tags.
_json_text = st.text(st.characters(blacklist_characters="<"), max_size=10)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), _json_text,
                         st.floats(allow_nan=False, allow_infinity=False))
_args = st.dictionaries(st.text(st.characters(blacklist_characters="<"), max_size=8),
                        st.one_of(_json_scalar, st.lists(_json_scalar, max_size=3)), max_size=4)
_calls = st.lists(st.builds(ToolCall, name=st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12),
                            arguments=_args), min_size=1, max_size=3)
_targets = st.one_of(
    st.builds(lambda calls, r: Target(kind="tool_call", tool_calls=calls, reasoning=r), _calls, _plain),
    st.builds(lambda text, r: Target(kind="reply", content=text, reasoning=r), _plain.filter(bool), _plain),
)


@settings(max_examples=300, deadline=None)
@given(_targets, st.booleans())
def test_render_then_parse_is_identity(target, think):
    p = parse(render(target, think=think))
    assert p.valid, p.problems
    assert p.kind == target.kind
    assert p.reasoning == (target.reasoning if think else None)
    assert [(c.name, json.dumps(c.arguments)) for c in p.tool_calls] == \
           [(c.name, json.dumps(c.arguments)) for c in target.tool_calls]
    assert p.reply == target.content


PIECES = ["<think>", "</think>", "<tool_call>", "</tool_call>", '{"name": "a", "arguments": {"x": 1}}',
          '{"name": "b"}', "[1]", "{bad", "hello", "\n", " ", '"arguments": "{}"']


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=8))
def test_has_action_is_whether_there_is_a_target(pieces):
    p = parse("".join(pieces))
    assert p.has_action == (p.to_target() is not None)
    for call in p.tool_calls:  # built without validation: what validation would have built
        assert ToolCall.model_validate(call.model_dump()) == call
