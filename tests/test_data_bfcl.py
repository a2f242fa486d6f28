import json
import subprocess
import sys

import pytest

from thinkact.data.bfcl import (BFCL_CATEGORIES, IRRELEVANCE_REPLY, bfcl_data_dir, bfcl_entry_to_conversation,
                                bfcl_schema_to_json_schema, bfcl_to_conversations, bfcl_tool,
                                gold_calls, load_bfcl_category)
from thinkact.schema import DataError, ToolCall


def test_data_dir_and_category_files():
    data = bfcl_data_dir()
    assert (data / "possible_answer").is_dir()
    for name, has_answers in BFCL_CATEGORIES.items():
        assert (data / f"BFCL_v4_{name}.json").is_file()
        assert (data / "possible_answer" / f"BFCL_v4_{name}.json").is_file() == has_answers


def test_load_simple_python():
    entries = load_bfcl_category("simple_python")
    assert len(entries) == 400
    e = entries[0]
    assert e.id == "simple_python_0" and e.category == "simple_python"
    assert e.messages[0]["role"] == "user" and "triangle" in e.messages[0]["content"]
    assert e.functions[0]["parameters"]["type"] == "dict"  # raw, for BFCL's checker
    assert e.ground_truth == [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]
    assert len({x.id for x in entries}) == 400


def test_load_irrelevance_has_no_ground_truth():
    entries = load_bfcl_category("irrelevance")
    assert len(entries) == 240
    assert all(e.ground_truth is None for e in entries)


def test_unknown_category():
    with pytest.raises(DataError, match="unknown BFCL category 'simple'.*simple_python"):
        load_bfcl_category("simple")


def test_schema_mapping_is_recursive():
    bfcl = {"type": "dict", "required": ["a"], "properties": {
        "a": {"type": "float", "description": "x", "default": 1.0},
        "b": {"type": "tuple", "items": {"type": "dict", "properties": {"c": {"type": "any"}}}},
        "d": {"type": "dict", "properties": {"e": {"type": "array", "items": {"type": "float"}},
                                             "f": {"type": "string", "optional": True, "enum": ["x"]}}},
        "g": {"type": "integer"}, "h": {"type": "boolean"}}}
    js = bfcl_schema_to_json_schema(bfcl)
    assert js == {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "number", "description": "x", "default": 1.0},
        "b": {"type": "array", "items": {"type": "object", "properties": {"c": {}}}},
        "d": {"type": "object", "properties": {"e": {"type": "array", "items": {"type": "number"}},
                                               "f": {"type": "string", "enum": ["x"]}}},
        "g": {"type": "integer"}, "h": {"type": "boolean"}}}
    assert bfcl["type"] == "dict"  # input left alone


def test_no_bfcl_only_types_left_in_converted_tools():
    bad = {'"type": "dict"', '"type": "float"', '"type": "tuple"', '"type": "any"', '"optional"'}
    for cat in ("live_multiple", "parallel_multiple"):
        text = json.dumps([c.tools for c in bfcl_to_conversations(cat)])
        assert not [b for b in bad if b in text], cat


def test_gold_calls_first_value_and_optional_omission():
    functions = [{"name": "f", "parameters": {"type": "dict", "required": ["a", "r"],
                                               "properties": {k: {"type": "string"} for k in "arozn"}}}]
    truth = [{"f": {"a": ["x", "y"], "r": ["", "req"], "o": ["", "opt"], "z": ["keep", ""],
                    "n": [{"k": ["v", "w"], "drop": [""]}], "undeclared": [1]}}]
    assert gold_calls(truth, functions) == [
        ToolCall(name="f", arguments={"a": "x", "r": "req", "z": "keep", "n": {"k": "v"}})]


def test_conversations_simple_and_parallel():
    simple = bfcl_to_conversations("simple_python")
    c = simple[0]
    assert c.id == "simple_python_0"
    assert [m.role for m in c.messages] == ["user", "assistant"]
    assert c.messages[-1].tool_calls == [ToolCall(name="calculate_triangle_area",
                                                  arguments={"base": 10, "height": 5, "unit": "units"})]
    assert c.tools[0]["parameters"]["type"] == "object"
    assert c.meta["bfcl_id"] == "simple_python_0" and c.meta["bfcl_irrelevance"] is False
    assert c.meta["bfcl_possible_answer"][0]["calculate_triangle_area"]["unit"] == ["units", ""]
    par = bfcl_to_conversations("parallel")[0]
    assert [t.arguments["artist"] for t in par.messages[-1].tool_calls] == ["Taylor Swift", "Maroon 5"]


def test_irrelevance_conversations_reply():
    convs = bfcl_to_conversations("live_irrelevance")
    assert len(convs) == 884
    assert all(c.messages[-1].role == "assistant" and c.messages[-1].content == IRRELEVANCE_REPLY
               and not c.messages[-1].tool_calls and c.meta["bfcl_irrelevance"] for c in convs)
    with_system = [c for c in convs if c.id == "live_irrelevance_103-3-0"][0]
    assert with_system.system.startswith("You are an agent")
    assert with_system.messages[0].role == "user"  # the system message left the messages


def test_tool_keeps_name_and_description():
    fn = load_bfcl_category("multiple")[0].functions[0]
    tool = bfcl_tool(fn)
    assert tool["name"] == fn["name"] and tool["description"] == fn["description"]


# BFCL data where no call satisfies BFCL's own checker: a required argument with no acceptable
# value, or an expected argument the function does not declare.
UNSOLVABLE = {"live_simple_106-63-0", "live_simple_112-68-0", "live_multiple_507-149-4",
              "live_multiple_862-181-3", "live_multiple_964-207-0"}

CHECK = """
import json, sys, types
from dataclasses import dataclass

@dataclass
class Config:
    underscore_to_dot: bool = False

class Mapping(dict):
    def __missing__(self, key):
        return Config()

# BFCL's model_config pulls API clients; the checker only needs this mapping from it.
stand_in = types.ModuleType("bfcl_eval.constants.model_config")
stand_in.MODEL_CONFIG_MAPPING = Mapping()
sys.modules["bfcl_eval.constants.model_config"] = stand_in
from bfcl_eval.constants.enums import Language
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
from thinkact.data.bfcl import BFCL_CATEGORIES, bfcl_entry_to_conversation, load_bfcl_category

failed, n = [], 0
for cat, calls in BFCL_CATEGORIES.items():
    if not calls:
        continue
    for e in load_bfcl_category(cat):
        gold = [{c.name: c.arguments} for c in bfcl_entry_to_conversation(e).messages[-1].tool_calls]
        n += 1
        if not ast_checker(e.functions, gold, e.ground_truth, Language.PYTHON, cat, "m")["valid"]:
            failed.append(e.id)
print(json.dumps({"n": n, "failed": failed}))
"""


def test_gold_calls_pass_bfcl_checker():
    # in a subprocess: the stand-in module must not leak into other tests
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == 2351
    assert set(result["failed"]) <= UNSOLVABLE


def _folder(tmp_path, entries, answers):
    (tmp_path / "possible_answer").mkdir()
    (tmp_path / "BFCL_v4_simple_python.json").write_text("".join(json.dumps(e) + "\n" for e in entries))
    (tmp_path / "possible_answer" / "BFCL_v4_simple_python.json").write_text(
        "".join(json.dumps(a) + "\n" for a in answers))
    return tmp_path


def test_load_from_a_folder(tmp_path):
    e = load_bfcl_category("simple_python")[0]
    entry = {"id": e.id, "question": e.question, "function": e.functions}
    got = load_bfcl_category("simple_python", data=_folder(tmp_path, [entry], [{"id": e.id, "ground_truth": e.ground_truth}]))
    assert got == [e]


GOOD = {"id": "s0", "question": [[{"role": "user", "content": "area?"}]],
        "function": [{"name": "f", "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}},
                                                  "required": ["a"]}}]}
TRUTH = {"id": "s0", "ground_truth": [{"f": {"a": [1]}}]}
# Shapes the conversion cannot read; each escaped as TypeError, KeyError or AttributeError, or
# a DataError naming no file or line, before the loader checked them.
BAD_ENTRIES = [
    ({**GOOD, "id": ["s0"]}, "id", "must be a string"),
    ({**GOOD, "question": {"role": "user"}}, "question", "list of turns"),
    ({**GOOD, "question": [{"role": "user", "content": "x"}]}, "question[0]", "list of messages"),
    ({**GOOD, "question": [[{"role": "robot", "content": "x"}]]}, "question[0][0]", "role is system, user"),
    ({**GOOD, "question": [[{"role": "user", "content": ["x"]}]]}, "question[0][0].content", "got list"),
    ({**GOOD, "function": {"name": "f"}}, "function", "list of function docs"),
    ({**GOOD, "function": [{"parameters": {}}]}, "function[0]", "with a 'name'"),
    ({**GOOD, "function": [{"name": "f", "parameters": {"required": [{"a": 1}]}}]}, "function[0].parameters",
     "'required' a list"),
    ({**GOOD, "function": [{"name": "f", "parameters": {"properties": [1]}}]}, "function[0].parameters",
     "'properties' an object"),
]


@pytest.mark.parametrize("entry, field, text", BAD_ENTRIES, ids=[b[1] + ":" + b[2] for b in BAD_ENTRIES])
def test_bad_entries_name_file_line_and_field(tmp_path, entry, field, text):
    folder = _folder(tmp_path, [GOOD, entry], [TRUTH])
    with pytest.raises(DataError) as e:
        load_bfcl_category("simple_python", data=folder)
    assert (e.value.file, e.value.line, e.value.field) == (str(folder / "BFCL_v4_simple_python.json"), 2, field)
    assert text in str(e.value)


@pytest.mark.parametrize("truth", [{"id": 5, "ground_truth": []}, {"id": "s0", "ground_truth": {"f": {}}},
                                   {"id": "s0", "ground_truth": [{"f": {"a": 1}}]},
                                   {"id": "s0", "ground_truth": [["f"]]}])
def test_bad_answers_name_file_line_and_field(tmp_path, truth):
    folder = _folder(tmp_path, [GOOD], [truth])
    with pytest.raises(DataError) as e:
        load_bfcl_category("simple_python", data=folder)
    assert e.value.file == str(folder / "possible_answer" / "BFCL_v4_simple_python.json") and e.value.line == 1
    assert e.value.field in ("id", "ground_truth")


def test_checked_entries_convert(tmp_path):
    e = load_bfcl_category("simple_python", data=_folder(tmp_path, [GOOD], [TRUTH]))[0]
    c = bfcl_entry_to_conversation(e)
    assert c.messages[-1].tool_calls == [ToolCall(name="f", arguments={"a": 1})]
