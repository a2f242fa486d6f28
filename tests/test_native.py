"""Native reading: each call format a model may use, read right when well-formed and reported
when malformed; replies stay replies; strict reading is the grammar alone."""

import json
from types import SimpleNamespace

import pytest

from thinkact.models import read_chat_template
from thinkact.native import OutputReader, parse_native, response_template
from thinkact.schema import ToolCall

TOOLS = [{"name": "get_order", "description": "Look up an order.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
         {"name": "math.factorial", "description": "n!",
          "parameters": {"type": "object", "properties": {"number": {"type": "integer"}}}}]
GET = ToolCall(name="get_order", arguments={"order_id": "W1"})
BODY = json.dumps({"name": "get_order", "arguments": {"order_id": "W1"}})


def qwen_template():
    """The response parser TRL ships for Qwen2.5's chat template (a stand-in tokenizer: only
    its chat template is read)."""
    template = response_template(SimpleNamespace(chat_template=read_chat_template("qwen2_5")))
    if template is None:
        pytest.skip("the installed transformers/TRL have no response templates")
    return template


# (form, output, calls read)
WELL_FORMED = [
    ("grammar", f"<think>\nlook it up\n</think>\n\n<tool_call>\n{BODY}\n</tool_call>", [GET]),
    ("hermes", f"Let me look that up.\n<tool_call>\n{BODY}\n</tool_call>", [GET]),
    ("hermes", '<tool_call>\n{"name": "get_order", "parameters": {"order_id": "W1"}}\n</tool_call>', [GET]),
    ("hermes", '<tool_call>\n{"name": "get_order", "arguments": "{\\"order_id\\": \\"W1\\"}"}\n</tool_call>',
     [GET]),
    ("fenced_json", f"```json\n{BODY}\n```", [GET]),
    ("fenced_json", f"I will call the tool.\n```\n[{BODY}]\n```\nThat should do it.", [GET]),
    ("json", BODY, [GET]),
    ("json", '{"name": "get_order", "parameters": {"order_id": "W1"}}\n{"name": "get_order", '
             '"parameters": {"order_id": "W2"}}', [GET, ToolCall(name="get_order", arguments={"order_id": "W2"})]),
    ("json", '{"type": "function", "function": {"name": "get_order", "arguments": {"order_id": "W1"}}}', [GET]),
    ("python", '[get_order(order_id="W1"), math.factorial(number=5)]',
     [GET, ToolCall(name="math.factorial", arguments={"number": 5})]),
    ("python", "```python\nget_order(order_id='W1')\n```", [GET]),
]


@pytest.mark.parametrize("form,output,calls", WELL_FORMED)
def test_each_form_is_read(form, output, calls):
    read = parse_native(output, TOOLS)
    assert read.form == form
    assert read.parsed.kind == "tool_call" and read.parsed.tool_calls == calls
    assert read.faults == []
    # only our grammar passes as well-formed; any other form carries its format note
    assert read.parsed.valid is (form == "grammar")
    if form != "grammar":
        assert read.parsed.problems[0].startswith("read as ")


# (form recognised, malformed output, the kind of action it still decides)
MALFORMED = [
    ("grammar", "<think>\nI should look up the order", None),  # unclosed think block, no action
    ("grammar", "Your order shipped.</tool_response>", "reply"),  # stray tag
    ("hermes", '<tool_call>\n{"name": "get_order", "arguments": {</tool_call>', "tool_call"),
    ("hermes", '<tool_call>\n{"arguments": {"order_id": "W1"}}\n</tool_call>', "tool_call"),
    ("fenced_json", '```json\n{"name": "get_order", "arguments": {"order_id": }\n```', "tool_call"),
    ("json", '{"name": "get_order", "arguments": {"order_id": "W1"}', "tool_call"),
    ("python", 'get_order(order_id="W1"', "tool_call"),
    ("python", "get_order(order_id=lookup())", "tool_call"),
]


@pytest.mark.parametrize("form,output,kind", MALFORMED)
def test_each_malformed_form_says_why(form, output, kind):
    read = parse_native(output, TOOLS)
    assert read.form == form and read.faults and not read.parsed.valid
    assert read.parsed.kind == kind  # a call meant but unreadable still decides "call"


def test_the_chat_templates_own_parser_comes_first():
    template = qwen_template()
    text = f"Sure, one moment.\n<tool_call>\n{BODY}\n</tool_call>"
    read = parse_native(text, TOOLS, template=template)
    assert read.form == "template" and read.parsed.tool_calls == [GET] and not read.faults
    assert parse_native(text, TOOLS).form == "hermes"  # without it, the tags are read anyway
    # a call the template cannot read falls through to the form that says what is wrong
    bad = parse_native('<tool_call>\n{"name": "get_order", "arguments": {</tool_call>', TOOLS, template=template)
    assert bad.form == "hermes" and bad.faults and bad.parsed.tool_calls == []


def test_replies_stay_replies():
    for text in ["Your order W1 has shipped.", '{"order_id": "W1", "status": "shipped"}',
                 "```json\n{\"status\": \"shipped\"}\n```", "get_weather(city='Paris') is not a tool here",
                 "I would call get_order(order_id=W1) but need your id."]:
        read = parse_native(text, TOOLS)
        assert read.parsed.kind == "reply" and read.form == "grammar", text
    assert parse_native("", TOOLS).parsed.kind is None


def test_strict_reading_is_the_grammar():
    strict, native = OutputReader("strict"), OutputReader("native")
    assert strict(BODY, tools=TOOLS).parsed.kind == "reply"
    assert native(BODY, tools=TOOLS).parsed.tool_calls == [GET]
    with pytest.raises(ValueError, match="native or strict"):
        OutputReader("loose")


def test_reader_uses_the_tokenizers_template_with_the_prompt(tiny_model_dir):
    from conftest import make_samples

    from thinkact.models import load_tokenizer

    qwen_template()
    tok = load_tokenizer(str(tiny_model_dir), "qwen2_5", grammar_tags=False)
    reader = OutputReader("native", tok)
    sample = make_samples(1)[0]
    read = reader(f"Sure.\n<tool_call>\n{BODY}\n</tool_call>", sample)
    assert read.form == "template" and read.parsed.tool_calls == [GET]


def test_scoring_a_file_with_the_tokenizers_template(tiny_model_dir, tmp_path):
    """The template's parser reads an output after its prompt, so the gold file is read as whole
    samples there (scoring otherwise reads only what the scores need)."""
    from conftest import make_samples

    from thinkact.models import load_tokenizer
    from thinkact.schema import write_jsonl
    from thinkact.scoring import score_files

    qwen_template()
    tok = load_tokenizer(str(tiny_model_dir), "qwen2_5", grammar_tags=False)
    samples = make_samples(3)
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    write_jsonl(gold, samples)
    pred.write_text("".join(json.dumps({"id": s.id, "output": f"Sure.\n<tool_call>\n{BODY}\n</tool_call>"}) + "\n"
                            for s in samples), encoding="utf-8")
    result = score_files(gold, pred, tokenizer=tok)
    assert result["settings"]["template_parser"]
    assert {r["form"] for r in result["samples"].values()} == {"template"}


def test_native_scoring_counts_the_grammar_in_format_and_the_content_in_the_rest(tmp_path):
    from conftest import make_samples

    from thinkact.schema import write_jsonl
    from thinkact.scoring import score_files

    samples = make_samples(4)  # call, reply, call, reply
    calls = [s.target.tool_calls[0] for s in samples if s.target.kind == "tool_call"]
    outputs = {samples[0].id: "```json\n" + json.dumps({"name": calls[0].name, "arguments": calls[0].arguments})
               + "\n```",
               samples[1].id: samples[1].target.content,
               samples[2].id: f"<tool_call>\n{json.dumps(calls[1].model_dump())}\n</tool_call>",
               samples[3].id: samples[3].target.content}
    write_jsonl(tmp_path / "gold.jsonl", samples)
    write_jsonl(tmp_path / "pred.jsonl", [{"id": k, "output": v} for k, v in outputs.items()])
    native = score_files(tmp_path / "gold.jsonl", tmp_path / "pred.jsonl")
    strict = score_files(tmp_path / "gold.jsonl", tmp_path / "pred.jsonl", parse="strict")
    assert native["metrics"]["turn_accuracy"] == 1.0 and native["metrics"]["format_validity"] == 0.75
    assert native["metrics"]["by_form"] == {"grammar": 3, "fenced_json": 1}
    assert native["samples"][samples[0].id]["form"] == "fenced_json"
    assert strict["metrics"]["turn_accuracy"] == 0.75 and strict["metrics"]["by_form"] == {"grammar": 4}
    assert native["settings"]["parse"] == "native" and strict["settings"]["parse"] == "strict"


def test_score_cli_reads_natively_unless_told_strict(tmp_path):
    from typer.testing import CliRunner

    from conftest import make_samples
    from thinkact.cli import app
    from thinkact.schema import write_jsonl

    sample = make_samples(1)[0]
    write_jsonl(tmp_path / "gold.jsonl", [sample])
    write_jsonl(tmp_path / "pred.jsonl", [{"id": sample.id, "output": json.dumps(sample.target.tool_calls[0].model_dump())}])
    args = ["score", "--gold", str(tmp_path / "gold.jsonl"), "--pred", str(tmp_path / "pred.jsonl")]
    native = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "n.json")])
    strict = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "s.json"), "--parse", "strict"])
    assert native.exit_code == 0 and strict.exit_code == 0, native.output + strict.output
    assert "outputs read as: json 1" in native.output and "outputs read as: grammar 1" in strict.output
    assert json.loads((tmp_path / "n.json").read_text())["metrics"]["exact_call_accuracy"] == 1.0
    assert json.loads((tmp_path / "s.json").read_text())["metrics"]["exact_call_accuracy"] == 0.0
