import json

import pytest

from thinkact.chat import wire_messages
from thinkact.data.openai import from_openai_record, load_openai, to_openai_record, write_openai
from thinkact.schema import Conversation, DataError, Message, ToolCall

TOOL = {"name": "get_order", "description": "Look up an order.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


def conv():
    return Conversation(id="o-1", system="Be brief.", tools=[TOOL], meta={"split": "test"}, messages=[
        Message(role="user", content="W1 and W2?"),
        Message(role="assistant", reasoning="two lookups",
                tool_calls=[ToolCall(name="get_order", arguments={"order_id": "W1"}),
                            ToolCall(name="get_order", arguments={"order_id": "W2"})]),
        Message(role="tool", name="get_order", content="shipped"),
        Message(role="tool", name="get_order", content="lost"),
        Message(role="assistant", content="W1 shipped, W2 is lost.", reasoning=""),
        Message(role="user", content="ok"),
        Message(role="assistant", content="Bye."),
    ])


def wire_record():
    return {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "W1 "}, {"type": "text", "text": "please"}]},
        {"role": "assistant", "content": None, "reasoning_content": "look it up",
         "tool_calls": [{"id": "a", "type": "function",
                         "function": {"name": "get_order", "arguments": "{\"order_id\": \"W1\"}"}},
                        {"id": "b", "type": "function",
                         "function": {"name": "get_user", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "b", "content": "Ann"},
        {"role": "tool", "tool_call_id": "a", "content": "shipped"},
        {"role": "assistant", "content": "Shipped, Ann."},
    ], "tools": [{"type": "function", "function": TOOL}]}


def test_read_wire_format():
    c = from_openai_record(wire_record(), index=2)
    assert c.id == "openai-2" and c.system == "Be brief." and c.tools == [TOOL]
    assert [m.role for m in c.messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert c.messages[0].content == "W1 please"
    assert c.messages[1].tool_calls == [ToolCall(name="get_order", arguments={"order_id": "W1"}),
                                        ToolCall(name="get_user", arguments={})]
    assert c.messages[1].reasoning == "look it up"
    # matched by tool_call_id, not by position
    assert [(m.name, m.content) for m in c.messages[2:4]] == [("get_user", "Ann"), ("get_order", "shipped")]


def test_read_hf_format_object_arguments_and_reasoning_key():
    rec = {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "reasoning": "call it",
         "tool_calls": [{"type": "function", "function": {"name": "get_order", "arguments": {"order_id": 7}}}]},
        {"role": "tool", "name": "get_order", "content": "{}"},
        {"role": "assistant", "content": "done"}], "tools": [TOOL]}
    c = from_openai_record(rec, index=0)
    assert c.messages[1].tool_calls[0].arguments == {"order_id": 7}
    assert c.messages[1].reasoning == "call it"
    assert c.messages[2].name == "get_order"


def test_text_beside_calls_becomes_reasoning():
    rec = {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [{"type": "function", "function": {"name": "get_order", "arguments": "{}"}}]},
        {"role": "tool", "content": "x"}]}
    m = from_openai_record(rec, index=0).messages[1]
    assert m.content == "" and m.reasoning == "Let me check." and m.tool_calls[0].name == "get_order"


@pytest.mark.parametrize("wire", [True, False])
def test_round_trip_conversation(wire):
    rec = to_openai_record(conv(), wire=wire)
    assert rec["messages"][0] == {"role": "system", "content": "Be brief."}
    assert rec["tools"] == [{"type": "function", "function": TOOL}]
    call = rec["messages"][2]["tool_calls"][0]
    assert rec["messages"][2]["reasoning_content"] == "two lookups"
    if wire:
        assert json.loads(call["function"]["arguments"]) == {"order_id": "W1"}
        assert [m.get("tool_call_id") for m in rec["messages"][3:5]] == [call["id"], rec["messages"][2]["tool_calls"][1]["id"]]
    else:
        assert call["function"]["arguments"] == {"order_id": "W1"}
    back = from_openai_record(json.loads(json.dumps(rec)), index=0)
    assert back == conv()


def test_round_trip_record_keeps_content():
    rec = wire_record()
    back = to_openai_record(from_openai_record(rec, index=0))
    assert [m["role"] for m in back["messages"]] == [m["role"] for m in rec["messages"]]
    got = back["messages"][2]["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in got] == [
        ("get_order", {"order_id": "W1"}), ("get_user", {})]
    assert [m["content"] for m in back["messages"][3:]] == ["Ann", "shipped", "Shipped, Ann."]
    assert back["tools"] == rec["tools"]


def test_wire_messages_number_calls_and_answer_them_in_order():
    msgs = [Message(role="user", content="hi"),
            Message(role="assistant", tool_calls=[ToolCall(name="a"), ToolCall(name="b")], reasoning="two"),
            Message(role="tool", name="a", content="1"), Message(role="tool", name="b", content="2"),
            Message(role="tool", name="b", content="late"),
            Message(role="assistant", tool_calls=[ToolCall(name="c")]), Message(role="tool", name="c", content="3")]
    wire = wire_messages("", msgs)
    assert [c["id"] for c in wire[1]["tool_calls"]] == ["call_0", "call_1"]
    assert [m.get("tool_call_id") for m in wire] == [None, None, "call_0", "call_1", None, None, "call_2"]
    assert wire[4] == {"role": "user", "content": "late"}  # no call left for it to answer
    assert "reasoning_content" not in wire[1]
    assert wire_messages("", msgs, reasoning=True)[1]["reasoning_content"] == "two"
    assert wire_messages("", msgs) == wire  # the same messages, the same ids


ERRORS = [
    ({"messages": []}, "messages", "non-empty"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]},
     "messages[1].role", "unknown role 'robot'"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]},
     "messages[1]", "no preceding tool call"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{bad"}}]}]},
     "messages[1].tool_calls[0]", "not valid JSON"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "late"}]},
     "messages[1].role", "before the conversation"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "string"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": {"name": "f"}}, "tools", "must be a list"),
    # a tool message named by a list escaped as pydantic's ValidationError
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "name": ["f"], "content": "y"}]}, "messages[2].name", "must be a string"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
     "messages[1].tool_calls[0]", "arguments must be an object, got list"),
]


@pytest.mark.parametrize("rec, field, text", ERRORS)
def test_errors_are_located(rec, field, text):
    with pytest.raises(DataError) as e:
        from_openai_record(rec, index=0, file="chats.jsonl", line=7)
    assert e.value.field == field
    assert f"chats.jsonl, line 7, field '{field}'" in str(e.value) and text in str(e.value)


def test_write_and_load(tmp_path):
    p = tmp_path / "o.jsonl"
    other = conv().model_copy(update={"id": "o-2"})
    assert write_openai(p, [conv(), other]) == 2
    convs, skipped = load_openai(p)
    assert convs == [conv(), other] and skipped == []


def test_load_skip_invalid(tmp_path):
    p = tmp_path / "o.jsonl"
    p.write_text(json.dumps(to_openai_record(conv())) + "\n" + '{"messages": [}\n'
                 + json.dumps({"messages": [{"role": "tool", "content": "x"}]}) + "\n")
    with pytest.raises(DataError, match="line 2"):
        load_openai(p)
    convs, skipped = load_openai(p, skip_invalid=True)
    assert len(convs) == 1 and len(skipped) == 2
    assert "line 2" in skipped[0] and "line 3" in skipped[1] and "messages[0]" in skipped[1]
