import json

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from thinkact.cli import app
from thinkact.grammar import render
from thinkact.metrics import aggregate, turn_scores
from thinkact.schema import DataError, Message, Target, ToolCall, TurnSample, write_jsonl
from thinkact.scoring import read_predictions, score_files

COMPONENT_KEYS = {"format", "decision", "tool", "answer", "efficiency"}


def make_samples():
    call_target = Target(kind="tool_call", tool_calls=[ToolCall(name="get_order", arguments={"order_id": "W1"})],
                         reasoning="need the order")
    return [
        TurnSample(id="c1#0", conversation_id="c1", turn_index=0, context=[Message(role="user", content="where is W1")],
                   target=call_target, meta={"domain": "retail"}),
        TurnSample(id="c1#1", conversation_id="c1", turn_index=1, context=[Message(role="user", content="thanks")],
                   target=Target(kind="reply", content="You are welcome."), meta={"domain": "retail"}),
        TurnSample(id="c2#0", conversation_id="c2", turn_index=0, context=[Message(role="user", content="hello")],
                   target=Target(kind="reply", content="Hello! How can I help?"), meta={"domain": "retail"}),
    ]


@pytest.fixture
def files(tmp_path):
    samples = make_samples()
    gold = tmp_path / "turns.jsonl"
    write_jsonl(gold, samples)
    pred = tmp_path / "pred.jsonl"
    rows = [{"id": "c1#0", "output": render(samples[0].target)},
            {"id": "c2#0", "output": "<think>\ngreet back\n</think>\n\nHello! How can I help?", "model": "x"}]
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return samples, gold, pred, tmp_path


def test_score_cli_end_to_end_with_a_missing_prediction(files):
    samples, gold, pred, tmp = files
    out = tmp / "out" / "scores.json"
    result = CliRunner().invoke(app, ["score", "--gold", str(gold), "--pred", str(pred), "--out", str(out),
                                      "--think", "required"])
    assert result.exit_code == 0, result.output
    assert "decision_accuracy" in result.output and "1 of 3 gold samples have no prediction" in result.output

    scores = json.loads(out.read_text())
    m = scores["metrics"]
    assert m["n_missing_predictions"] == 1 and m["n_samples"] == 3 and m["n_conversations"] == 2
    assert m["turn_accuracy"] == pytest.approx(2 / 3) and m["conversation_accuracy"] == pytest.approx(1 / 2)
    assert m["by_domain"]["retail"]["n_samples"] == 3
    assert set(scores["samples"]) == {"c1#0", "c1#1", "c2#0"}
    for entry in scores["samples"].values():
        assert set(entry) == {"reward", "components", "turn_correct", "problems", "conversation_id", "kind",
                              "decision_correct", "format_valid", "reasoning_words", "names_correct",
                              "exact_call", "argument_counts", "reply_similarity", "form"}
        assert set(entry["components"]) == COMPONENT_KEYS
    assert scores["samples"]["c1#0"]["reward"] == pytest.approx(1.0)
    assert scores["samples"]["c1#0"]["components"]["answer"] is None  # not applicable on a call turn
    missing = scores["samples"]["c1#1"]
    assert missing["reward"] == 0.0 and not missing["turn_correct"] and missing["problems"][0] == "missing prediction"
    # the file's metrics are those of the library on the same data
    outputs = {json.loads(line)["id"]: json.loads(line)["output"] for line in pred.read_text().splitlines()}
    assert m == aggregate(turn_scores(samples, outputs, think="required"))


def test_score_cli_options_change_the_scores(files):
    _, gold, pred, tmp = files
    runner = CliRunner()
    r1 = runner.invoke(app, ["score", "--gold", str(gold), "--pred", str(pred), "--out", str(tmp / "a.json"),
                             "--think", "off", "--answer-method", "rougeL"])
    assert r1.exit_code == 0, r1.output
    a = json.loads((tmp / "a.json").read_text())
    # thinking is off: the two outputs with reasoning break the think rule
    assert a["samples"]["c2#0"]["components"]["format"] == 0.5 and a["settings"]["answer_method"] == "rougeL"
    bad = runner.invoke(app, ["score", "--gold", str(gold), "--pred", str(pred), "--out", str(tmp / "b.json"),
                              "--think", "sometimes"])
    assert bad.exit_code != 0


def test_bad_prediction_files_are_located(files):
    _, gold, pred, tmp = files
    runner = CliRunner()
    with pred.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "c1#0", "output": "again"}) + "\n")
    r = runner.invoke(app, ["score", "--gold", str(gold), "--pred", str(pred), "--out", str(tmp / "s.json")])
    assert r.exit_code == 1 and "line 3" in r.output and "duplicate id 'c1#0' (first on line 1)" in r.output
    assert str(pred) in r.output and not (tmp / "s.json").exists()

    unknown = tmp / "unknown.jsonl"
    unknown.write_text(json.dumps({"id": "c1#0", "output": "x"}) + "\n" + json.dumps({"id": "zz#9", "output": "x"}) + "\n")
    with pytest.raises(DataError) as err:
        score_files(gold, unknown)
    assert err.value.line == 2 and "zz#9" in str(err.value) and str(unknown) in str(err.value)

    no_output = tmp / "no_output.jsonl"
    no_output.write_text(json.dumps({"id": "c1#0"}) + "\n")
    with pytest.raises(DataError) as err:
        read_predictions(no_output)
    assert err.value.field == "output" and err.value.line == 1

    dup_gold = tmp / "dup_gold.jsonl"
    dup_gold.write_text(gold.read_text() + gold.read_text().splitlines()[0] + "\n")
    r = runner.invoke(app, ["score", "--gold", str(dup_gold), "--pred", str(pred), "--out", str(tmp / "s.json")])
    assert r.exit_code == 1 and "line 4" in r.output and "duplicate sample id" in r.output


PLAIN_JSON = st.recursive(  # what json.loads gives back equal: no NaN, no tuples
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(PLAIN_JSON)
def test_scores_text_is_the_same_json(value):
    from thinkact.scoring import dumps_scores

    result = {"metrics": {"turn_accuracy": 0.5, "n": 3}, "samples": {"a#0": value, "b#1": [value]},
              "settings": {"think": "off"}}
    text = dumps_scores(result)
    assert json.loads(text) == result
    # one line per sample record
    lines = text.split("\n")
    assert sum(line.startswith('    "a#0": ') or line.startswith('    "b#1": ') for line in lines) == 2
    assert json.loads(dumps_scores({"samples": {}})) == {"samples": {}}


def test_gold_lines_read_as_before(files, tmp_path):
    """Records validated from the JSON text are those json.loads + validation gave; a bad line
    is reported as before."""
    from thinkact.schema import iter_jsonl_records, read_jsonl

    samples, gold, _, _ = files
    assert [r for _, r in iter_jsonl_records(gold, TurnSample)] == read_jsonl(gold, TurnSample) == samples
    good = gold.read_text().splitlines()[0]
    for bad, where in (("{not json", None), ("[1, 2]", None), ('{"id": "x"}', "conversation_id"),
                       (json.dumps({**json.loads(good), "turn_index": "two"}), "turn_index"),
                       (good.replace('"target": {', '"target": {"kind": "reply", "x": 1, ', 1), None)):
        path = tmp_path / "bad.jsonl"
        path.write_text(good + "\n\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(DataError) as slow:
            read_jsonl(path, TurnSample)
        with pytest.raises(DataError) as fast:
            list(iter_jsonl_records(path, TurnSample))
        assert str(fast.value) == str(slow.value) and fast.value.line == 3
        assert where is None or fast.value.field == where


def test_empty_gold_or_predictions_name_the_file(files):
    """An empty gold file used to make every prediction 'not a sample of the gold file', and an
    empty prediction file scored zeros."""
    _, gold, pred, tmp = files
    empty = tmp / "empty.jsonl"
    empty.write_text("\n")
    for args, what in ((["--gold", str(empty), "--pred", str(pred)], "no turn samples"),
                       (["--gold", str(gold), "--pred", str(empty)], "no predictions")):
        r = CliRunner().invoke(app, ["score", *args, "--out", str(tmp / "s.json")])
        assert r.exit_code == 1 and r.output.startswith(f"error: {empty}: {what}")
        assert not (tmp / "s.json").exists()


def test_gold_tool_lists_that_repeat_are_parsed_once_and_read_exactly(tmp_path):
    """read_gold shares each distinct top-level tool list between samples, yet every gold turn
    holds what full validation of its line gives, for the fields scoring reads: a nested "tools" key, a tool list seen before but
    under another key, a new tool list, key order changed, and a bad line after shared ones."""
    from thinkact.schema import read_turns
    from thinkact.scoring import read_gold

    tools_a = [{"name": "get_order", "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}]
    tools_b = [{"name": "refund", "parameters": {"type": "object", "properties": {"amount": {"type": "number"}}}}]
    base = make_samples()[0]
    samples = [base.model_copy(update={"id": f"s{i}", "tools": tools}) for i, tools in
               enumerate([tools_a, tools_a, tools_b, tools_a, []])]
    samples.append(base.model_copy(update={"id": "nested", "tools": [], "meta": {"tools": tools_a}}))
    samples.append(base.model_copy(update={"id": "nested2", "tools": tools_b, "meta": {"tools": tools_a}}))
    lines = [json.dumps(s.model_dump(mode="json", exclude_none=True)) for s in samples]
    moved = samples[1].model_dump(mode="json", exclude_none=True)
    lines.append(json.dumps({"tools": moved.pop("tools"), **moved, "id": "moved"}))  # tools first
    # the meta of "nested" holds a known tool list under a nested "tools" key: never spliced
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_gold(gold)
    full = read_turns(gold)
    assert [r.model_dump(exclude={"context"}) for r in read] == [
        f.model_dump(include={"id", "conversation_id", "turn_index", "tools", "target", "meta"}) for f in full]
    assert [r.tool_results for r in read] == [f.tool_results for f in full]
    assert read[0].tools is read[1].tools is read[3].tools and read[2].tools is not read[0].tools
    assert read[5].tools == [] and read[5].meta == {"tools": tools_a}
    assert read[6].tools == tools_b and read[6].meta == {"tools": tools_a}
    bad = lines[0].replace('"turn_index": 0', '"turn_index": "two"')
    gold.write_text("\n".join(lines[:3] + [bad]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_gold(gold)
    assert err.value.line == 4 and err.value.field == "turn_index"


def test_score_reads_the_tool_results_of_the_gold_context_for_the_echo_rule(tmp_path):
    result = '{"status": "shipped", "carrier": "UPS"}'
    sample = TurnSample(id="c#1", conversation_id="c", turn_index=1, target=Target(kind="reply", content="It shipped with UPS."),
                        context=[Message(role="user", content="where is W1"),
                                 Message(role="assistant", tool_calls=[ToolCall(name="get_order", arguments={"order_id": "W1"})]),
                                 Message(role="tool", name="get_order", content=result)])
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [sample])
    pred = tmp_path / "pred.jsonl"
    for output, correct in [(result, False), ("It shipped with UPS.", True)]:
        pred.write_text(json.dumps({"id": "c#1", "output": output}) + "\n", encoding="utf-8")
        scores = score_files(gold, pred, out=tmp_path / "scores.json")
        assert scores["metrics"]["turn_accuracy"] == (1.0 if correct else 0.0)
        assert (scores["metrics"]["reply_similarity"] == 0.0) == (not correct)


def test_scoring_in_parts_gives_the_same_file_and_names_the_same_lines(tmp_path):
    """A large gold file is read and scored by several processes, each taking a part of its
    lines: the scores file is the same byte for byte, and a bad line is named as one process
    names it, wherever the cut falls."""
    samples = []
    for c in range(12):
        for s in make_samples():
            samples.append(s.model_copy(update={"id": f"{s.id}.{c}", "conversation_id": f"{s.conversation_id}.{c}"}))
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, samples)
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": s.id, "output": render(s.target)}) + "\n"
                            for s in samples[::2]), encoding="utf-8")
    texts = []
    for workers in (1, 2, 3):
        result = score_files(gold, pred, out=tmp_path / f"s{workers}.json", workers=workers)
        texts.append((tmp_path / f"s{workers}.json").read_text(encoding="utf-8"))
        assert list(result["samples"]) == [s.id for s in samples]
    assert texts[0] == texts[1] == texts[2]
    assert json.loads(texts[0])["metrics"]["n_missing_predictions"] == len(samples) // 2

    lines = gold.read_text(encoding="utf-8").splitlines()
    for bad, problem in ((30, "turn_index"), (len(lines) - 1, "duplicate")):
        edited = list(lines)
        if problem == "duplicate":
            edited[bad] = lines[2]  # the id of line 3 again, near the end
        else:
            edited[bad] = lines[bad].replace('"turn_index": ', '"turn_index": "x", "_": ')
        gold.write_text("\n".join(edited) + "\n", encoding="utf-8")
        messages = set()
        for workers in (1, 2, 3):
            with pytest.raises(DataError) as err:
                score_files(gold, pred, workers=workers)
            assert err.value.line == bad + 1
            messages.add(str(err.value))
        assert len(messages) == 1 and problem in messages.pop()
