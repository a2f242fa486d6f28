"""BFCL (Berkeley Function Calling Leaderboard) single-turn data, as shipped in `bfcl-eval`.

The package holds the questions under `bfcl_eval/data/BFCL_v4_<category>.json` and the ground
truth under `data/possible_answer/` (both JSON lines despite the `.json` ending). An entry is

    {"id", "question": [[{"role", "content"}, ...]], "function": [{"name", "description", "parameters"}]}

and its ground truth {"id", "ground_truth": [{"<function name>": {"<arg>": [acceptable values]}}]},
one dict per expected call (several for parallel categories). An acceptable value "" means the
argument may be left out; a dict-typed argument's acceptable values are dicts whose keys again
list acceptable values. Irrelevance categories have no ground truth: any call is wrong.

`load_bfcl_category` returns the entries untouched (raw function docs, raw ground truth), which
is what BFCL's own checker takes. `bfcl_to_conversations` turns them into canonical
conversations for training and turn-level evaluation, with JSON Schema tool parameters.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinkact.schema import Conversation, DataError, Message, ToolCall, iter_jsonl_dicts

BFCL_PACKAGE = "bfcl-eval==2026.3.23"
# Single-turn categories with one answer format; the value says whether a call is expected.
BFCL_CATEGORIES: dict[str, bool] = {
    "simple_python": True,
    "multiple": True,
    "parallel": True,
    "parallel_multiple": True,
    "live_simple": True,
    "live_multiple": True,
    "live_parallel": True,
    "live_parallel_multiple": True,
    "irrelevance": False,
    "live_irrelevance": False,
}
IRRELEVANCE_REPLY = "I cannot help with that using the available functions."

# BFCL's type names that JSON Schema spells differently; "any" has no JSON Schema type at all.
_TYPES = {"dict": "object", "float": "number", "tuple": "array"}
_NOT_JSON_SCHEMA = {"optional"}  # BFCL's own marker; "required" already says it


@dataclass
class BfclEntry:
    """One BFCL test, as the package ships it."""

    id: str
    category: str
    question: list[list[dict[str, Any]]]  # turns of {"role", "content"} (one turn here)
    functions: list[dict[str, Any]]  # BFCL function docs ("type": "dict" and all)
    ground_truth: list[dict[str, dict[str, list[Any]]]] | None  # None: no call is correct

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for turn in self.question for m in turn]


def bfcl_data_dir() -> Path:
    """The `data/` folder of the installed bfcl-eval package (found without importing it, as
    its import pulls API clients a lean install lacks)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.origin:
        raise DataError(f"BFCL data needs the bfcl-eval package: pip install --no-deps {BFCL_PACKAGE}")
    data = Path(spec.origin).parent / "data"
    if not data.is_dir():
        raise DataError(f"bfcl-eval has no data folder at {data}; reinstall it: "
                        f"pip install --no-deps --force-reinstall {BFCL_PACKAGE}")
    return data


def _category_file(folder: Path, category: str) -> Path | None:
    """BFCL_v<N>_<category>.json, the newest version there is (names carry BFCL's version)."""
    pattern = re.compile(rf"BFCL_v(\d+)_{re.escape(category)}\.json")
    found = [(int(m.group(1)), p) for p in folder.glob("BFCL_v*.json") if (m := pattern.fullmatch(p.name))]
    return max(found)[1] if found else None


def load_bfcl_category(name: str, data: str | Path | None = None) -> list[BfclEntry]:
    """All entries of one BFCL category (see BFCL_CATEGORIES), with their ground truth, from
    `data`, a folder laid out as bfcl-eval's (default: the installed package's). An entry or
    answer that is not shaped as BFCL ships them raises DataError naming its line and field.

    For BFCL's checker: `ast_checker(entry.functions, decoded_calls, entry.ground_truth,
    Language.PYTHON, entry.category, model_name)`, where decoded_calls is
    [{name: {arg: value}}, ...]. Irrelevance entries have `ground_truth=None`.
    """
    if name not in BFCL_CATEGORIES:
        raise DataError(f"unknown BFCL category {name!r}; known: {', '.join(BFCL_CATEGORIES)}")
    data = Path(data) if data is not None else bfcl_data_dir()
    qfile = _category_file(data, name)
    if qfile is None:
        raise DataError(f"no BFCL_v*_{name}.json in {data}")
    answers: dict[str, list] = {}
    if BFCL_CATEGORIES[name]:
        afile = _category_file(data / "possible_answer", name)
        if afile is None:
            raise DataError(f"no ground truth for {name} in {data / 'possible_answer'}")
        for n, rec in iter_jsonl_dicts(afile):
            _check_answer(rec, lambda msg, field: DataError(msg, file=afile, line=n, field=field))
            answers[rec["id"]] = rec["ground_truth"]

    entries = []
    for n, rec in iter_jsonl_dicts(qfile):
        _check_entry(rec, lambda msg, field: DataError(msg, file=qfile, line=n, field=field))
        truth = None
        if BFCL_CATEGORIES[name]:
            if rec["id"] not in answers:
                raise DataError(f"no ground truth for {rec['id']}", file=qfile, line=n, field="id")
            truth = answers[rec["id"]]
        entries.append(BfclEntry(id=rec["id"], category=name, question=rec["question"],
                                 functions=rec["function"], ground_truth=truth))
    return entries


def _check_entry(rec: dict[str, Any], err) -> None:
    """Refuse a question entry the conversion could not read (`err(message, field)` makes the
    error): string id, turns of {"role", "content"} messages, function docs with a name and
    parameters {"properties": {...}, "required": [names]}."""
    for key in ("id", "question", "function"):
        if key not in rec:
            raise err("missing", key)
    if not isinstance(rec["id"], str):
        raise err(f"must be a string, got {type(rec['id']).__name__}", "id")
    if not isinstance(rec["question"], list):
        raise err("must be a list of turns", "question")
    for t, turn in enumerate(rec["question"]):
        if not isinstance(turn, list):
            raise err("a turn must be a list of messages", f"question[{t}]")
        for i, m in enumerate(turn):
            where = f"question[{t}][{i}]"
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                raise err("a message must be an object whose role is system, user or assistant", where)
            if not isinstance(m.get("content"), str):
                raise err(f"content must be a string, got {type(m.get('content')).__name__}", f"{where}.content")
    if not isinstance(rec["function"], list):
        raise err("must be a list of function docs", "function")
    for i, fn in enumerate(rec["function"]):
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise err("a function doc must be an object with a 'name'", f"function[{i}]")
        params = fn.get("parameters")
        if params is None:
            continue
        required = params.get("required", []) if isinstance(params, dict) else None
        if (not isinstance(params, dict) or not isinstance(params.get("properties", {}), dict)
                or not isinstance(required, list) or not all(isinstance(r, str) for r in required)):
            raise err("parameters must be an object: 'properties' an object, 'required' a list of "
                      "names", f"function[{i}].parameters")


def _check_answer(rec: dict[str, Any], err) -> None:
    """Refuse a ground-truth record that is not {"id": str, "ground_truth": [{function:
    {argument: [acceptable values]}}]}."""
    if not isinstance(rec.get("id"), str):
        raise err("missing, or not a string", "id")
    truth = rec.get("ground_truth")
    if not isinstance(truth, list) or not all(
            isinstance(call, dict) and all(isinstance(args, dict) and all(isinstance(v, list) for v in args.values())
                                           for args in call.values())
            for call in truth):
        raise err("must be a list of {function: {argument: [acceptable values]}}", "ground_truth")


# --------------------------------------------------------------------------- schemas


def bfcl_schema_to_json_schema(schema: Any) -> Any:
    """A BFCL parameter schema as JSON Schema: "dict" -> "object", "float" -> "number",
    "tuple" -> "array", "any" -> no type, BFCL's "optional" marker dropped; recursively through
    properties, items and additionalProperties."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NOT_JSON_SCHEMA:
            continue
        if key == "type":
            if value == "any":
                continue
            out[key] = _TYPES.get(value, value) if isinstance(value, str) else value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {p: bfcl_schema_to_json_schema(s) for p, s in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = bfcl_schema_to_json_schema(value)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [bfcl_schema_to_json_schema(s) for s in value]
        else:
            out[key] = value
    return out


def bfcl_tool(function: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function doc as a canonical tool {"name", "description", "parameters"}."""
    params = bfcl_schema_to_json_schema(function.get("parameters") or {"type": "dict", "properties": {}})
    return {"name": function["name"], "description": function.get("description", ""), "parameters": params}


# --------------------------------------------------------------------------- gold calls

_OMIT = object()


def _first(acceptable: list[Any], required: bool = False) -> Any:
    """The first acceptable value; "" means the argument may be left out, and it is, unless
    the function requires it (then the first other value). Nothing acceptable: left out."""
    values = [v for v in acceptable if v != ""] if required else acceptable
    if not values or values[0] == "":
        return _OMIT
    return values[0]


def _pick(acceptable: list[Any], required: bool) -> Any:
    """A top-level argument's gold value. Dict-typed arguments list dicts (or lists of dicts)
    whose keys again list acceptable values; one level deep, as BFCL's checker reads them."""
    value = _first(acceptable, required)

    def pick_dict(d: dict[str, Any]) -> dict[str, Any]:
        picked = {k: _first(v) if isinstance(v, list) else v for k, v in d.items()}
        return {k: v for k, v in picked.items() if v is not _OMIT}

    if isinstance(value, dict):
        return pick_dict(value)
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return [pick_dict(x) for x in value]
    return value


def gold_calls(ground_truth: list[dict[str, dict[str, list[Any]]]],
               functions: list[dict[str, Any]] = ()) -> list[ToolCall]:
    """One call per ground-truth entry, each argument at its first acceptable value; an
    argument whose first acceptable value is "" is left out. With `functions` (the BFCL docs),
    required arguments take their first other value instead, and arguments the function does not
    declare are left out (BFCL's checker rejects them). A few BFCL entries (5 of 2351 in
    2026.3.23) have no answer the checker accepts; their gold calls fail it too."""
    params = {f["name"]: f.get("parameters") or {} for f in functions}
    calls = []
    for entry in ground_truth:
        for name, args in entry.items():
            schema = params.get(name)
            if schema is not None:
                declared = schema.get("properties") or {}
                args = {k: v for k, v in args.items() if k in declared}
            required = set(schema.get("required", [])) if schema else set()
            picked = {k: _pick(v, k in required) for k, v in args.items()}
            calls.append(ToolCall(name=name, arguments={k: v for k, v in picked.items() if v is not _OMIT}))
    return calls


def bfcl_entry_to_conversation(entry: BfclEntry) -> Conversation:
    """The question as context, then the gold action: the ground-truth call(s), or for
    irrelevance entries a reply declining to call (meta.bfcl_irrelevance=True). Raw ids and
    possible answers stay in `meta` for BFCL's checker. The entry is as `load_bfcl_category`
    checked it."""
    system, messages = [], []
    for m in entry.messages:
        if m["role"] == "system":
            system.append(m["content"])
        else:
            messages.append(Message(role=m["role"], content=m["content"]))
    irrelevant = entry.ground_truth is None
    if irrelevant:
        messages.append(Message(role="assistant", content=IRRELEVANCE_REPLY))
    else:
        messages.append(Message(role="assistant", tool_calls=gold_calls(entry.ground_truth, entry.functions)))
    meta = {"source": "bfcl", "bfcl_category": entry.category, "bfcl_id": entry.id,
            "bfcl_irrelevance": irrelevant, "bfcl_possible_answer": entry.ground_truth}
    return Conversation(id=entry.id, system="\n\n".join(system),
                        tools=[bfcl_tool(f) for f in entry.functions], messages=messages, meta=meta)


def bfcl_to_conversations(category: str) -> list[Conversation]:
    """Every entry of a BFCL category as a canonical conversation."""
    return [bfcl_entry_to_conversation(e) for e in load_bfcl_category(category)]
