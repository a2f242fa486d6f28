import json

import pytest
from typer.testing import CliRunner

from thinkact.cli import app
from thinkact.data.apigen_mt import from_apigen_record, to_apigen_record
from thinkact.data.openai import from_openai_record
from thinkact.schema import Conversation, Message, ToolCall, read_conversations, read_turns, write_jsonl

runner = CliRunner()


def conversation(cid):
    return Conversation(id=cid, system="sys", tools=[{"name": "get_order", "parameters": {"type": "object"}}],
                        messages=[
        Message(role="user", content="where is W1?"),
        Message(role="assistant", reasoning="look it up",
                tool_calls=[ToolCall(name="get_order", arguments={"order_id": "W1"})]),
        Message(role="tool", name="get_order", content="shipped"),
        Message(role="assistant", content="It shipped."),
    ])


def apigen_file(tmp_path, bad_lines=()):
    lines = [json.dumps(to_apigen_record(conversation(f"c{i}"))) for i in range(3)]
    for i, text in bad_lines:
        lines.insert(i, text)
    p = tmp_path / "src.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_convert_apigen_then_turns(tmp_path):
    src, out, turns = apigen_file(tmp_path), tmp_path / "convs.jsonl", tmp_path / "turns.jsonl"
    r = runner.invoke(app, ["data", "convert", str(src), "--format", "apigen-mt", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "3 conversations, 6 assistant actions" in r.output
    assert read_conversations(out) == [conversation(f"c{i}") for i in range(3)]

    r = runner.invoke(app, ["data", "turns", str(out), "--out", str(turns)])
    assert r.exit_code == 0, r.output
    samples = read_turns(turns)
    assert [s.id for s in samples] == ["c0#0", "c0#1", "c1#0", "c1#1", "c2#0", "c2#1"]
    assert samples[0].target.reasoning == "look it up"
    assert "6 turn samples (3 tool calls, 3 replies, 3 with reasoning)" in r.output

    r = runner.invoke(app, ["data", "turns", str(out), "--out", str(turns), "--no-reasoning"])
    assert r.exit_code == 0 and "0 with reasoning" in r.output
    assert all(s.target.reasoning is None for s in read_turns(turns))


def test_convert_error_exits_1_with_location(tmp_path):
    src = apigen_file(tmp_path, bad_lines=[(1, '{"conversations": [{"from": "gpt", "value": 3}]}')])
    r = runner.invoke(app, ["data", "convert", str(src), "--format", "apigen-mt", "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 1
    assert "line 2" in r.output and "conversations[0].value" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o.jsonl").exists()


def test_skip_invalid_reports_grouped_reasons(tmp_path):
    src = apigen_file(tmp_path, bad_lines=[(1, "{not json"), (2, "{broken"),
                                            (3, '{"conversations": []}')])
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, ["data", "convert", str(src), "-f", "apigen-mt", "-o", str(out), "--skip-invalid"])
    assert r.exit_code == 0, r.output
    assert "3 conversations" in r.output and "skipped 3 invalid records" in r.output
    assert "     2  " in r.output and "invalid JSON" in r.output  # two JSON errors grouped
    assert "non-empty list" in r.output
    assert len(read_conversations(out)) == 3


def test_canonical_to_openai_and_back(tmp_path):
    canon, out = tmp_path / "c.jsonl", tmp_path / "o.jsonl"
    write_jsonl(canon, [conversation("a"), conversation("b")])
    r = runner.invoke(app, ["data", "convert", str(canon), "--format", "canonical", "--to", "openai", "--out", str(out)])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert isinstance(recs[0]["messages"][2]["tool_calls"][0]["function"]["arguments"], str)
    assert [from_openai_record(rec, index=0) for rec in recs] == [conversation("a"), conversation("b")]
    back = tmp_path / "back.jsonl"
    r = runner.invoke(app, ["data", "convert", str(out), "--format", "openai", "--out", str(back)])
    assert r.exit_code == 0 and read_conversations(back) == [conversation("a"), conversation("b")]


def test_export_apigen(tmp_path):
    canon, out = tmp_path / "c.jsonl", tmp_path / "a.jsonl"
    write_jsonl(canon, [conversation("a")])
    r = runner.invoke(app, ["data", "convert", str(canon), "-f", "canonical", "--to", "apigen-mt", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert from_apigen_record(json.loads(out.read_text()), index=0) == conversation("a")


def test_convert_bfcl_category(tmp_path):
    out = tmp_path / "b.jsonl"
    r = runner.invoke(app, ["data", "convert", "irrelevance", "--format", "bfcl", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "240 conversations" in r.output
    convs = read_conversations(out)
    assert convs[0].meta["bfcl_irrelevance"] is True
    r = runner.invoke(app, ["data", "convert", "nope", "--format", "bfcl", "--out", str(out)])
    assert r.exit_code == 1 and "unknown BFCL category" in r.output


def test_bad_canonical_and_unknown_format(tmp_path):
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"id": "x", "messages": [{"role": "bot"}]}\n')
    r = runner.invoke(app, ["data", "turns", str(bad), "--out", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 1 and "line 1" in r.output and "messages.0.role" in r.output
    r = runner.invoke(app, ["data", "convert", str(bad), "--format", "xml", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "unknown source format" in r.output


def test_missing_data_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "turns.jsonl"
    r = runner.invoke(app, ["data", "turns", str(missing), "--out", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 1 and str(missing) in r.output and "no such file" in r.output
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(f"stage: sft\nmodel: quickstart\ndata: {missing}\nout: {tmp_path / 'sft'}\n")
    r = runner.invoke(app, ["train", "sft", "--config", str(cfg)])
    assert r.exit_code == 1 and str(missing) in r.output and "no such file" in r.output


def test_json_errors_name_the_column_of_the_line(tmp_path):
    from thinkact.schema import DataError, iter_jsonl_dicts

    cases = {'{"id": "a", "messages": [}': "Expecting value at column 26",
             '{"id": "a': "Unterminated string starting at column 8",
             '{"id": "a", "messages": []': "Expecting ',' delimiter at column 27"}
    for text, problem in cases.items():
        p = tmp_path / "bad.jsonl"
        p.write_text('{"id": "ok"}\n' + text + "\n")
        with pytest.raises(DataError) as err:
            list(iter_jsonl_dicts(p))
        assert err.value.line == 2 and str(err.value) == f"{p}, line 2: invalid JSON ({problem})"
    # the source readers say it the same way
    src = apigen_file(tmp_path, bad_lines=[(1, '{"conversations": "x')])
    r = runner.invoke(app, ["data", "convert", str(src), "-f", "apigen-mt", "-o", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 1 and "line 2: invalid JSON (Unterminated string starting at column 19)" in r.output


# Every command with --out, given the wrong kind of path: (arguments, which kind it wanted).
OUT_COMMANDS = [
    (["data", "convert", "{convs}", "-f", "canonical"], "file"),
    (["data", "turns", "{convs}"], "file"),
    (["score", "--gold", "{turns}", "--pred", "{turns}"], "file"),
    (["eval", "--model", "m", "--data", "{turns}"], "file"),
    (["eval", "bfcl", "--pred", "{turns}"], "file"),
    (["eval", "episodes", "--model", "m"], "file"),
    (["data", "generate"], "folder"),
    (["pretrain"], "folder"),
    (["report", "{tmp}"], "folder"),
    (["pipeline"], "folder"),
    (["ablate", "{tmp}"], "folder"),
]


@pytest.mark.parametrize("args,kind", OUT_COMMANDS, ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else a)
def test_out_of_the_wrong_kind_is_one_line_naming_it(tmp_path, args, kind):
    convs, turns = tmp_path / "convs.jsonl", tmp_path / "turns.jsonl"
    write_jsonl(convs, [conversation("a")])
    write_jsonl(turns, [{"id": "a#0"}])
    out = tmp_path / "out"
    out.mkdir() if kind == "file" else out.write_text("x")
    args = [a.format(convs=convs, turns=turns, tmp=tmp_path) for a in args]
    r = runner.invoke(app, [*args, "--out", str(out)])
    want = "is a directory; give a file path" if kind == "file" else "is a file; give a folder path"
    assert r.exit_code == 1 and r.output.strip() == f"error: {out}: {want}"
    # and a file where a parent folder should be
    if kind == "file":
        r = runner.invoke(app, [*args, "--out", str(convs / "x.json")])
        assert r.exit_code == 1 and r.output.strip() == f"error: {convs / 'x.json'}: {convs} is a file, not a folder"


def test_empty_input_is_an_error_naming_the_file(tmp_path):
    empty, out = tmp_path / "empty.jsonl", tmp_path / "o.jsonl"
    empty.write_text("\n")
    r = runner.invoke(app, ["data", "turns", str(empty), "--out", str(out)])
    assert r.exit_code == 1 and f"error: {empty}: no conversations" in r.output and not out.exists()
    for fmt in ("canonical", "openai", "apigen-mt"):
        r = runner.invoke(app, ["data", "convert", str(empty), "-f", fmt, "--out", str(out)])
        assert r.exit_code == 1 and f"error: {empty}: no records" in r.output and not out.exists()
    r = runner.invoke(app, ["eval", "--model", "m", "--data", str(empty), "--out", str(tmp_path / "e" / "s.json")])
    assert r.exit_code == 1 and f"error: {empty}: no turn samples" in r.output
    assert not (tmp_path / "e").exists()
