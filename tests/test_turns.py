from thinkact.data.turns import conversation_to_turns, make_turns
from thinkact.schema import Conversation, Message, ToolCall, turn_id


def conv(cid="c1", meta=None):
    return Conversation(id=cid, system="sys", tools=[{"name": "get_order"}], meta=meta or {"split": "test"},
                        messages=[
        Message(role="user", content="where is W1?"),
        Message(role="assistant", reasoning="look it up",
                tool_calls=[ToolCall(name="get_order", arguments={"id": "W1"}),
                            ToolCall(name="get_order", arguments={"id": "W2"})]),
        Message(role="tool", name="get_order", content="shipped"),
        Message(role="tool", name="get_order", content="pending"),
        Message(role="assistant", content="W1 shipped.", reasoning="answer"),
        Message(role="user", content="thanks"),
        Message(role="assistant", content="Bye."),
    ])


def test_one_sample_per_action_in_order():
    c = conv()
    turns = conversation_to_turns(c)
    assert [t.target.kind for t in turns] == ["tool_call", "reply", "reply"]
    assert [t.turn_index for t in turns] == [0, 1, 2]
    assert [t.id for t in turns] == [turn_id("c1", k) for k in range(3)]
    assert [len(t.context) for t in turns] == [1, 4, 6]
    assert turns[1].context == c.messages[:4]
    assert [x.arguments["id"] for x in turns[0].target.tool_calls] == ["W1", "W2"]
    assert turns[0].target.reasoning == "look it up"
    assert turns[1].target.content == "W1 shipped." and turns[1].target.reasoning == "answer"
    assert turns[2].target.reasoning is None
    assert all(t.system == "sys" and t.tools == c.tools and t.conversation_id == "c1" for t in turns)
    assert all(t.meta == {"split": "test"} for t in turns)


def test_meta_is_a_copy():
    c = conv()
    turns = conversation_to_turns(c)
    turns[0].meta["x"] = 1
    assert "x" not in c.meta and "x" not in turns[1].meta


def test_no_reasoning_anywhere():
    turns = conversation_to_turns(conv(), keep_reasoning=False)
    assert all(t.target.reasoning is None for t in turns)
    assert all(m.reasoning is None for t in turns for m in t.context)
    assert conv().messages[1].reasoning == "look it up"  # the conversation is left alone


def test_make_turns_ids_stable_and_unique():
    convs = [conv("a"), conv("b")]
    first = make_turns(convs)
    again = make_turns([conv("a"), conv("b")])
    assert [t.id for t in first] == [t.id for t in again]
    assert len({t.id for t in first}) == 6
    assert [t.conversation_id for t in first] == ["a"] * 3 + ["b"] * 3


def test_conversation_without_actions_gives_nothing():
    c = Conversation(id="u", messages=[Message(role="user", content="hello?")])
    assert conversation_to_turns(c) == []
