"""JSON and JSONL reading and writing: the one decoder, reader and atomic writer every module
uses. Several cases are inputs fuzzing found to crash a reader or a writer."""

import json

import pytest

from thinkact.data.apigen_mt import load_apigen_mt, to_apigen_record
from thinkact.data.convert import load_source
from thinkact.data.openai import load_openai, write_openai
from thinkact.data.records import iter_json_records
from thinkact.schema import (MAX_DEPTH, Conversation, DataError, JSONError, Message, ToolCall,
                             decode_arguments, decode_json, iter_jsonl_dicts, read_conversations,
                             read_log, write_atomic, write_jsonl)


def conv(text: str = "hi", **meta) -> Conversation:
    return Conversation(id="c1", messages=[
        Message(role="user", content=text),
        Message(role="assistant", tool_calls=[ToolCall(name="get_order", arguments={"order_id": text})]),
        Message(role="tool", name="get_order", content="shipped"),
        Message(role="assistant", content="It shipped.")], meta=meta)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_decode_json_says_why_text_is_not_json():
    assert decode_json('{"a": [1, NaN]}')["a"][0] == 1
    with pytest.raises(JSONError, match="Expecting value at column 7") as e:
        decode_json('{"a": }')
    assert e.value.line == 1
    with pytest.raises(JSONError, match="a number longer than 4300 digits"):
        decode_json("9" * 5000)  # json raises a bare ValueError
    with pytest.raises(JSONError, match=f"nested deeper than {MAX_DEPTH} levels"):
        decode_json(nested(5000))  # json raises RecursionError
    with pytest.raises(JSONError, match="nested deeper"):
        decode_json(nested(MAX_DEPTH + 1))  # json reads it; pydantic could not write it back
    assert decode_json(nested(MAX_DEPTH)) is not None


def test_decode_arguments_reads_both_chat_formats():
    assert decode_arguments('{"a": 1}') == {"a": 1} == decode_arguments({"a": 1})
    assert decode_arguments("") == {} == decode_arguments(None) == decode_arguments(" ")
    with pytest.raises(ValueError, match=r"arguments are not valid JSON \(Expecting"):
        decode_arguments("{bad")
    with pytest.raises(ValueError, match="arguments must be an object, got list"):
        decode_arguments("[1]")
    with pytest.raises(ValueError, match="arguments are not valid JSON .*longer than"):
        decode_arguments('{"n": ' + "9" * 5000 + "}")


@pytest.mark.parametrize("as_list", [False, True])
def test_bytes_that_are_not_utf8_name_their_line(tmp_path, as_list):
    p = tmp_path / "x.json"
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    bad = good.replace(b"hi", b"h\xffi")
    p.write_bytes(b"[\n" + good + b",\n" + bad + b"\n]\n" if as_list else good + b"\n" + bad + b"\n")
    line = 3 if as_list else 2
    for read in (lambda: list(iter_json_records(p)), lambda: load_openai(p, skip_invalid=True)):
        with pytest.raises(DataError, match=f"line {line}: not UTF-8 text \\(byte 0xff\\)"):
            read()
    if not as_list:
        with pytest.raises(DataError, match="line 2: not UTF-8"):
            list(iter_jsonl_dicts(p))


def test_deep_or_huge_records_are_refused_with_their_line(tmp_path):
    p = tmp_path / "c.jsonl"
    line = json.dumps(conv().model_dump(mode="json"))
    deep = line.replace('"meta": {}', '"meta": {"k": ' + nested(300) + "}")
    huge = line.replace('"meta": {}', '"meta": {"k": ' + "9" * 5000 + "}")
    for bad, why in ((deep, "nested deeper than"), (huge, "longer than 4300 digits")):
        p.write_text("\n" + bad + "\n", encoding="utf-8")  # the JSON fails before the format is read
        for read in (read_conversations, lambda f: load_source(f, "canonical"), load_openai, load_apigen_mt):
            with pytest.raises(DataError, match=f"line 2: invalid JSON \\(.*{why}"):
                read(p)


def test_records_as_deep_as_allowed_are_written_back(tmp_path):
    deep = conv(k=json.loads(nested(MAX_DEPTH - 2)))  # the record's own levels count too
    write_jsonl(tmp_path / "c.jsonl", [deep])
    assert read_conversations(tmp_path / "c.jsonl") == [deep]


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85", "\x1c", "\r", "\ud800"])
def test_every_character_a_string_holds_reads_back(tmp_path, odd):
    # str.splitlines cut lines at U+2028 and friends, which JSON strings hold as they are; a lone
    # surrogate (JSON allows it as an escape) has no UTF-8 encoding and failed to be written.
    c = conv(f"a{odd}b")
    write_jsonl(tmp_path / "c.jsonl", [c])
    (tmp_path / "c.jsonl").read_bytes().decode("utf-8")  # valid UTF-8
    assert read_conversations(tmp_path / "c.jsonl") == [c]
    assert load_source(tmp_path / "c.jsonl", "canonical")[0] == [c]
    write_openai(tmp_path / "o.jsonl", [c])
    assert load_openai(tmp_path / "o.jsonl")[0] == [c]
    write_jsonl(tmp_path / "a.jsonl", [to_apigen_record(c)])
    assert load_apigen_mt(tmp_path / "a.jsonl")[0] == [c]


def test_writes_are_atomic(tmp_path):
    p = tmp_path / "sub" / "c.jsonl"
    assert write_jsonl(p, [conv(), conv("x")]) == 2
    before = p.read_bytes()
    assert before.endswith(b"\n") and before.count(b"\n") == 2

    def failing():
        yield conv("y")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_jsonl(p, failing())
    assert p.read_bytes() == before  # the old file is whole, and nothing is left beside it
    assert sorted(x.name for x in p.parent.iterdir()) == ["c.jsonl"]
    write_atomic(p, "é\n")
    assert p.read_text(encoding="utf-8") == "é\n"


def test_read_log_skips_what_a_kill_leaves(tmp_path):
    from thinkact.train.callbacks import trim_log

    p = tmp_path / "train_log.jsonl"
    rows = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3)]
    p.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + b'{"step": 4, "lo\xe2\x82')
    assert read_log(p) == rows
    assert read_log(tmp_path / "missing.jsonl") == []
    trim_log(p, 2)
    assert read_log(p) == rows[:2] and p.read_text(encoding="utf-8").count("\n") == 2
