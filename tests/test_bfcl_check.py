"""BFCL scoring goes through BFCL's own AST checker: our verdicts agree with calling the checker
directly on the same calls, on hand-made right and wrong predictions."""

import json

import pytest

pytest.importorskip("bfcl_eval")

from thinkact.data.bfcl import load_bfcl_category  # noqa: E402
from thinkact.evaluate.bfcl import (bfcl_checker, category_of, check_entry, decode_calls,  # noqa: E402
                                    read_bfcl_predictions, score_bfcl, score_bfcl_file)
from thinkact.native import OutputReader  # noqa: E402
from thinkact.schema import DataError  # noqa: E402


def call(name, **args):
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def think(text, body):
    return f"<think>\n{text}\n</think>\n\n{body}"


def entry(category, bfcl_id):
    return next(e for e in load_bfcl_category(category) if e.id == bfcl_id)


# (category, id, output, expected verdict)
CASES = [
    # simple: base and height integers; unit optional
    ("simple_python", "simple_python_0", call("calculate_triangle_area", base=10, height=5), True),
    ("simple_python", "simple_python_0",
     think("area of a triangle", call("calculate_triangle_area", base=10, height=5, unit="units")), True),
    ("simple_python", "simple_python_0", call("calculate_triangle_area", base="10", height=5), False),  # type
    ("simple_python", "simple_python_0", call("calculate_triangle_area", base=10.0, height=5), False),  # type
    ("simple_python", "simple_python_0", call("calculate_triangle_area", base=12, height=5), False),  # value
    ("simple_python", "simple_python_0", call("calculate_triangle_area", base=10), False),  # missing
    ("simple_python", "simple_python_0", call("calculate_triangle_area", base=10, height=5, color="red"), False),
    ("simple_python", "simple_python_0", call("triangle_area", base=10, height=5), False),  # name
    ("simple_python", "simple_python_0",
     call("calculate_triangle_area", base=10, height=5) + "\n" + call("calculate_triangle_area", base=10, height=5),
     False),  # two calls where one is expected
    ("simple_python", "simple_python_0", "The area is 25 square units.", False),  # reply
    ("simple_python", "simple_python_0", '<tool_call>\n{"name": "calculate_triangle_area", '
                                        '"arguments": {"base": 10, "height": 5}\n</tool_call>', False),  # bad JSON
    # a dotted function name stays dotted
    ("simple_python", "simple_python_1", call("math.factorial", number=5), True),
    ("simple_python", "simple_python_1", call("math_factorial", number=5), False),
    # strings compare case- and punctuation-insensitively, per BFCL
    ("live_simple", "live_simple_0-0-0", call("get_user_info", user_id=7890, special="Black"), True),
    ("live_simple", "live_simple_0-0-0", call("get_user_info", user_id="7890", special="black"), False),
    # multiple: choose the right function among several
    ("multiple", "multiple_0", call("triangle_properties.get", side1=5, side2=4, side3=3), True),
    ("multiple", "multiple_0", call("circle_properties.get", radius=5.0), False),
    # parallel: order-free, count matters
    ("parallel", "parallel_0", call("spotify.play", artist="Taylor Swift", duration=20) + "\n"
     + call("spotify.play", artist="Maroon 5", duration=15), True),
    ("parallel", "parallel_0", call("spotify.play", artist="Maroon 5", duration=15) + "\n"
     + call("spotify.play", artist="Taylor Swift", duration=20), True),
    ("parallel", "parallel_0", call("spotify.play", artist="Taylor Swift", duration=20), False),
    ("parallel", "parallel_0", call("spotify.play", artist="Maroon 5", duration=20) + "\n"
     + call("spotify.play", artist="Taylor Swift", duration=15), False),
    # parallel_multiple: different functions, any order; an int where a float is expected is fine
    ("parallel_multiple", "parallel_multiple_1", call("area_circle.calculate", radius=5) + "\n"
     + call("area_rectangle.calculate", length=7.0, breadth=3.0), True),
    ("parallel_multiple", "parallel_multiple_1", call("area_circle.calculate", radius="5") + "\n"
     + call("area_rectangle.calculate", length=7.0, breadth=3.0), False),
]


@pytest.mark.parametrize("category,bfcl_id,output,expected", CASES)
def test_verdicts_agree_with_bfcl_checker(category, bfcl_id, output, expected):
    e = entry(category, bfcl_id)
    ok, why = check_entry(e, output)
    assert ok is expected, why
    decoded = decode_calls(output)
    if decoded:  # the same calls given straight to BFCL's checker
        c = bfcl_checker()
        direct = c.ast_checker(e.functions, decoded, e.ground_truth, c.language, category, c.model_name)
        assert direct["valid"] is ok


@pytest.mark.parametrize("output,expected", [
    ("I cannot compute a triangle area with the tools I have.", True),
    (think("no tool fits", "Sorry, none of my functions can do that."), True),
    (call("determine_body_mass_index", weight=10.0, height=5.0), False),
    ('<tool_call>\n{"name": "determine_body_mass_index", "arguments": {"weight": 1\n</tool_call>', True),
])
def test_irrelevance_means_no_call(output, expected):
    assert check_entry(entry("irrelevance", "irrelevance_0"), output)[0] is expected


def test_decode_calls():
    assert decode_calls(call("f", a=1) + "\n" + call("g")) == [{"f": {"a": 1}}, {"g": {}}]
    assert decode_calls("plain reply") == []
    assert decode_calls("Sure. " + call("f")) is None  # text mixed with a call
    assert category_of("live_multiple_3-1-0") == "live_multiple"
    assert category_of("parallel_multiple_12") == "parallel_multiple"


TRIANGLE = {"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}


@pytest.mark.parametrize("output,native,strict", [
    (call("calculate_triangle_area", base=10, height=5), True, True),  # our grammar: both read it
    ("```json\n" + json.dumps(TRIANGLE) + "\n```", True, False),
    (json.dumps(TRIANGLE), True, False),
    ("Sure!\n<tool_call>\n" + json.dumps(TRIANGLE) + "\n</tool_call>", True, False),
    ("[calculate_triangle_area(base=10, height=5)]", True, False),
    ("[calculate_triangle_area(base=10, height=6)]", False, False),  # read, and the checker says no
    ('```json\n{"name": "calculate_triangle_area", "arguments": {"base": 10,}\n```', False, False),  # bad JSON
])
def test_native_reading_gives_bfcl_the_calls_a_model_wrote(output, native, strict):
    e = entry("simple_python", "simple_python_0")
    ok, why = check_entry(e, output, OutputReader("native"))
    assert ok is native, why
    assert check_entry(e, output)[0] is strict
    if output.startswith("```json") and not native:
        assert why.startswith("malformed output: fenced call: bad JSON")


def test_native_reading_on_irrelevance_counts_a_bare_call_as_a_call():
    e = entry("irrelevance", "irrelevance_0")
    bare = json.dumps({"name": "determine_body_mass_index", "arguments": {"weight": 10.0, "height": 5.0}})
    assert check_entry(e, bare, OutputReader("native")) == (False, "made a call where no function is relevant")
    assert check_entry(e, bare)[0] is True  # read strictly it is a reply
    assert decode_calls(bare, OutputReader("native")) == [{"determine_body_mass_index": {"weight": 10.0, "height": 5.0}}]


def test_score_file(tmp_path):
    preds = [{"id": "simple_python_0", "output": call("calculate_triangle_area", base=10, height=5)},
             {"id": "simple_python_1", "output": call("math.factorial", number=6)},
             {"id": "irrelevance_0", "output": "No tool fits."},
             {"id": "irrelevance_1", "output": call("math.sum", numbers=[1.0, 2.0])}]
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(json.dumps(p) for p in preds) + "\n")
    out = tmp_path / "out.json"
    res = score_bfcl_file(pred, None, out=out)
    assert json.loads(out.read_text()) == res
    sp = res["categories"]["simple_python"]
    assert sp["per_id"] == {"simple_python_0": True, "simple_python_1": False}
    assert sp["accuracy"] == 0.5 and sp["missing"] == len(load_bfcl_category("simple_python")) - 2
    assert res["categories"]["irrelevance"]["per_id"] == {"irrelevance_0": True, "irrelevance_1": False}
    assert res["overall"]["accuracy"] == 0.5 and res["overall"]["n"] == 4
    assert set(score_bfcl({"multiple_0": "x"}, ["multiple"])["categories"]) == {"multiple"}


def test_bad_prediction_file(tmp_path):
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "simple_python_0", "output": "x"}\n{"id": "simple_python_1"}\n')
    with pytest.raises(DataError, match=r"line 2.*output"):
        read_bfcl_predictions(pred)


def test_cli_runs_a_model_on_bfcl(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from thinkact.cli import app

    out = tmp_path / "bfcl.json"
    r = CliRunner().invoke(app, ["eval", "bfcl", "--model", str(tiny_model_dir), "-c", "simple_python",
                                 "-c", "irrelevance", "--limit", "2", "--max-new-tokens", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert {c: v["n"] for c, v in res["categories"].items()} == {"simple_python": 2, "irrelevance": 2}
    # the predictions are named after the results file, so runs in one folder keep their own
    assert f"predictions -> {tmp_path / 'bfcl.predictions.jsonl'}" in r.output
    preds = read_bfcl_predictions(tmp_path / "bfcl.predictions.jsonl")
    assert set(preds) == {"simple_python_0", "simple_python_1", "irrelevance_0", "irrelevance_1"}
    # --limit: the entries asked for are the ones counted, none of the others "missing"
    assert {c: v["missing"] for c, v in res["categories"].items()} == {"simple_python": 0, "irrelevance": 0}
    # the written predictions score to the same result; generation timing is kept beside it
    timing = res.pop("generation")
    assert timing["samples"] == 4 and timing["prefill_s"] >= 0 and timing["decode_s"] > 0
    assert score_bfcl(preds, ["simple_python", "irrelevance"], limit=2) == res
    r = CliRunner().invoke(app, ["eval", "bfcl", "--model", str(tiny_model_dir), "-c", "multiple",
                                 "--limit", "1", "--max-new-tokens", "4", "--out", str(tmp_path / "other.json")])
    assert r.exit_code == 0, r.output
    assert set(read_bfcl_predictions(tmp_path / "other.predictions.jsonl")) == {"multiple_0"}
    assert read_bfcl_predictions(tmp_path / "bfcl.predictions.jsonl") == preds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bfcl.json", "bfcl.predictions.jsonl", "other.json",
                                                         "other.predictions.jsonl"]


def test_help_lists_the_categories_and_the_default_set():
    from typer.testing import CliRunner

    from thinkact.cli import app
    from thinkact.data.bfcl import BFCL_CATEGORIES
    from thinkact.evaluate.bfcl import DEFAULT_CATEGORIES

    r = CliRunner().invoke(app, ["eval", "bfcl", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.replace("│", " ").split())
    assert f"Default: {', '.join(DEFAULT_CATEGORIES)}." in text
    assert f"All: {', '.join(BFCL_CATEGORIES)}." in text


def test_samples_ask_for_the_entrys_own_action():
    """Some live_irrelevance entries hold an earlier assistant turn: it is context, and the
    sample asks for the action that follows it."""
    from thinkact.data.bfcl import bfcl_entry_to_conversation
    from thinkact.evaluate.bfcl import bfcl_samples

    samples, ids = bfcl_samples(["live_irrelevance"])
    entries = {e.id: e for e in load_bfcl_category("live_irrelevance")}
    with_history = [s for s in samples if any(m.role == "assistant" for m in s.context)]
    assert len(samples) == len(entries) == len(ids) and with_history
    for s, i in zip(samples, ids):
        conversation = bfcl_entry_to_conversation(entries[i])
        assert s.context == conversation.messages[:-1]  # everything before the gold action
