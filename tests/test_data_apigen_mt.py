import json

import pytest

from thinkact.data.apigen_mt import (THINK_TOOL, from_apigen_record, load_apigen_mt,
                                     to_apigen_record)
from thinkact.schema import Conversation, DataError, Message, ToolCall

TOOLS = [
    {"name": "get_order", "description": "Look up an order.",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"]}},
    {"name": "get_user", "description": "Look up a user.",
     "parameters": {"type": "object", "properties": {"user_id": {"type": "string"}}}},
]


def fc(name, **args):
    return {"from": "function_call", "value": json.dumps({"name": name, "arguments": args})}


def obs(value):
    return {"from": "observation", "value": value}


def record(**kw):
    rec = {
        "system": "You are a retail agent.",
        "tools": json.dumps(TOOLS + [THINK_TOOL]),
        "conversations": [
            {"from": "human", "value": "Where is order W1 of user u7?"},
            fc("think", thought="I need both the order and the user."),
            obs(""),
            fc("get_order", order_id="W1"),
            fc("get_user", user_id="u7"),
            obs('{"status": "shipped"}'),
            obs('{"name": "Ann"}'),
            {"from": "gpt", "value": "Your order W1 has shipped, Ann."},
            {"from": "human", "value": "Thanks!"},
            {"from": "gpt", "value": "You're welcome."},
        ],
    }
    rec.update(kw)
    return rec


def test_parallel_calls_think_and_tool_names():
    conv = from_apigen_record(record(), index=4)
    assert conv.id == "apigen-4"
    assert conv.system == "You are a retail agent."
    assert [t["name"] for t in conv.tools] == ["get_order", "get_user"]  # think tool removed
    roles = [m.role for m in conv.messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant", "user", "assistant"]
    act = conv.messages[1]
    assert act.tool_calls == [ToolCall(name="get_order", arguments={"order_id": "W1"}),
                              ToolCall(name="get_user", arguments={"user_id": "u7"})]
    assert act.reasoning == "I need both the order and the user."
    assert [(m.name, m.content) for m in conv.messages[2:4]] == [
        ("get_order", '{"status": "shipped"}'), ("get_user", '{"name": "Ann"}')]
    assert conv.messages[4].reasoning is None
    assert all(c.name != "think" for m in conv.messages for c in m.tool_calls)


def test_record_id_and_conv_id():
    assert from_apigen_record(record(id="r-9"), index=0).id == "r-9"
    assert from_apigen_record(record(id="r-9"), index=0, conv_id="x").id == "x"


def test_thought_before_reply_and_consecutive_thoughts():
    rec = record(conversations=[
        {"from": "human", "value": "Hi"},
        fc("think", thought="A greeting."), obs(""),
        fc("think", thought="Just greet back."), obs(""),
        {"from": "gpt", "value": "Hello!"},
    ])
    conv = from_apigen_record(rec, index=0)
    assert len(conv.messages) == 2
    assert conv.messages[1].content == "Hello!"
    assert conv.messages[1].reasoning == "A greeting.\n\nJust greet back."


def test_thought_not_followed_by_action_is_dropped():
    rec = record(conversations=[
        {"from": "human", "value": "Hi"}, fc("think", thought="stale"), obs(""),
        {"from": "human", "value": "Anyone?"}, {"from": "gpt", "value": "Yes."},
    ])
    conv = from_apigen_record(rec, index=0)
    assert [m.role for m in conv.messages] == ["user", "user", "assistant"]
    assert conv.messages[2].reasoning is None


def test_round_trip_record_keeps_content():
    rec = record(id="c1")
    back = to_apigen_record(from_apigen_record(rec, index=0))
    assert back["conversations"] == rec["conversations"]
    assert back["system"] == rec["system"]
    assert json.loads(back["tools"]) == json.loads(rec["tools"])
    assert back["id"] == "c1"


def test_round_trip_conversation_with_reasoning():
    conv = Conversation(
        id="g-1", system="sys", tools=TOOLS, meta={"split": "train", "procedure": "refund"},
        messages=[
            Message(role="user", content="refund W2"),
            Message(role="assistant", tool_calls=[ToolCall(name="get_order", arguments={"order_id": "W2"})],
                    reasoning="Check the order first."),
            Message(role="tool", name="get_order", content='{"paid": 10}'),
            Message(role="assistant", content="Refunded 10.", reasoning="It was paid, refund it."),
            Message(role="user", content="ok"),
            Message(role="assistant", content="Bye."),
        ])
    rec = to_apigen_record(conv)
    assert json.loads(rec["tools"])[-1]["name"] == "think"
    assert [t["from"] for t in rec["conversations"]][:4] == ["human", "function_call", "observation",
                                                             "function_call"]
    assert from_apigen_record(rec, index=0) == conv


def test_round_trip_without_reasoning_adds_no_think_tool():
    conv = Conversation(id="g-2", tools=TOOLS, messages=[
        Message(role="user", content="hi"), Message(role="assistant", content="hello")])
    rec = to_apigen_record(conv)
    assert [t["name"] for t in json.loads(rec["tools"])] == ["get_order", "get_user"]
    assert "think" not in json.dumps(rec["conversations"])
    assert from_apigen_record(rec, index=0) == conv


# ---------------------------------------------------------------- errors, located


def bad(conversations=None, **kw):
    rec = record(**kw)
    if conversations is not None:
        rec["conversations"] = conversations
    return rec


ERROR_CASES = [
    ("call value not JSON", bad([{"from": "human", "value": "x"},
                                 {"from": "function_call", "value": "{\"name\": \"get_order\", "}]),
     "conversations[1].value", "not valid JSON"),
    ("observation without call", bad([{"from": "human", "value": "x"}, obs("out")]),
     "conversations[1]", "no preceding function_call"),
    ("unknown role", bad([{"from": "human", "value": "x"}, {"from": "assistant", "value": "y"}]),
     "conversations[1].from", "unknown role 'assistant'"),
    ("empty conversations", bad([]), "conversations", "non-empty list"),
    ("tools not a list", bad(tools=json.dumps({"name": "get_order"})), "tools", "JSON list"),
    ("tools not JSON", bad(tools="[{"), "tools", "not valid JSON"),
    ("call without observation", bad([{"from": "human", "value": "x"}, fc("get_order", order_id="1"),
                                      {"from": "gpt", "value": "done"}]),
     "conversations[1]", "no observation"),
    ("arguments not JSON", bad([{"from": "human", "value": "x"},
                                {"from": "function_call", "value": json.dumps({"name": "f", "arguments": "{bad"})}]),
     "conversations[1].value", "arguments are not valid JSON (Expecting property name"),
    ("arguments not an object", bad([{"from": "human", "value": "x"},
                                     {"from": "function_call", "value": json.dumps({"name": "f", "arguments": [1]})}]),
     "conversations[1].value", "arguments must be an object, got list"),
    ("call without name", bad([{"from": "human", "value": "x"},
                               {"from": "function_call", "value": json.dumps({"arguments": {}})}]),
     "conversations[1].value", "no 'name'"),
]


@pytest.mark.parametrize("case, rec, field, text", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_name_file_record_and_field(case, rec, field, text):
    with pytest.raises(DataError) as e:
        from_apigen_record(rec, index=3, file="data.json")
    msg = str(e.value)
    assert e.value.field == field
    assert "data.json" in msg and "record 3" in msg and f"field '{field}'" in msg and text in msg


def write_jsonl(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_load_json_list_and_jsonl(tmp_path):
    recs = [record(), record(id="named")]
    (tmp_path / "a.json").write_text(json.dumps(recs, indent=2))
    write_jsonl(tmp_path / "a.jsonl", recs)
    for name in ("a.json", "a.jsonl"):
        convs, skipped = load_apigen_mt(tmp_path / name)
        assert [c.id for c in convs] == ["apigen-0", "named"]
        assert skipped == []
        assert convs[0] == from_apigen_record(record(), index=0)


def test_load_jsonl_error_names_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps(record()) + "\n\n" + json.dumps(bad([obs("x")])) + "\n")
    with pytest.raises(DataError) as e:
        load_apigen_mt(p)
    assert e.value.line == 3 and e.value.file == str(p)
    assert f"{p}, line 3, field 'conversations[0]'" in str(e.value)


def test_load_truncated_json(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps([record(), record()], indent=1)[:-40])
    with pytest.raises(DataError) as e:
        load_apigen_mt(p)
    assert str(p) in str(e.value) and "invalid JSON" in str(e.value) and e.value.line > 1
    q = tmp_path / "t.jsonl"
    q.write_text(json.dumps(record()) + "\n" + json.dumps(record())[:-5] + "\n")
    with pytest.raises(DataError) as e:
        load_apigen_mt(q)
    assert e.value.line == 2 and "invalid JSON" in str(e.value)


def test_skip_invalid_returns_reasons(tmp_path):
    p = tmp_path / "s.jsonl"
    lines = [json.dumps(record()), json.dumps(record())[:-3], json.dumps(bad([])),
             json.dumps(record(id="last"))]
    p.write_text("\n".join(lines) + "\n")
    convs, skipped = load_apigen_mt(p, skip_invalid=True)
    assert [c.id for c in convs] == ["apigen-0", "last"]
    assert len(skipped) == 2
    assert "line 2" in skipped[0] and "invalid JSON" in skipped[0]
    assert "line 3" in skipped[1] and "conversations" in skipped[1]
    with pytest.raises(DataError):
        load_apigen_mt(p)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_apigen_mt(tmp_path / "nope.json")
