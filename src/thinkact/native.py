"""Reading a model's own way of calling tools, so that any model is evaluated on what it means.

Training rewards read outputs strictly (`grammar.parse`): a model thinkact trains must learn the
action grammar. A model thinkact did not train calls tools its own way, and evaluation reads
that too (`--parse native`). One output is read by the first of these forms that applies:

    grammar      our grammar's calls, well-formed (`grammar.parse` finds no problem)
    template     the chat template's own response parser, where the tokenizer declares one
                 (transformers' `response_template`, or TRL's for templates it knows)
    hermes       <tool_call> tags around JSON, with text beside them, "parameters" for
                 "arguments", arguments as a JSON string
    fenced_json  a ```json code block holding a call object (or a list of them)
    json         a bare JSON call object, or several, or a list of them
    python       BFCL's Python syntax: [get_weather(city="Paris"), ...] naming a known tool
    (otherwise the strict reading: a reply, or our grammar with its problems)

A call object is {"name", "arguments" | "parameters"} (or {"function": {...}} around it). An
output read in any form but the grammar carries a format note among its problems, so the format
metric still counts how many outputs used the grammar, while decision, tool and answer score its
content. A form that is recognised but cannot be read (bad JSON in a fenced call, an unclosed
Python call, ...) is a call with no readable calls, and says why. Every reader is a pure
function; model text is parsed, never run.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal, NamedTuple

from thinkact import grammar
from thinkact.grammar import ParsedAction
from thinkact.schema import ToolCall, json_problem

Parse = Literal["native", "strict"]
FORMS = ("grammar", "template", "hermes", "fenced_json", "json", "python")
FORM_NAMES = {"template": "the chat template's call format", "hermes": "<tool_call> tags (Hermes style)",
              "fenced_json": "a fenced JSON block", "json": "a bare JSON call", "python": "a Python call"}


@dataclass
class Reading:
    """What one form read: the calls, faults that make the output malformed (bad JSON, no name),
    and notes on how it strays from the grammar without spoiling the calls."""

    calls: list[ToolCall] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class NativeRead(NamedTuple):
    parsed: ParsedAction
    form: str  # one of FORMS
    faults: list[str]  # problems that make the output malformed (BFCL decodes no call then)


# --------------------------------------------------------------------------- call objects

_CALL_KEYS = re.compile(r'"name"\s*:.*"(?:arguments|parameters)"\s*:|"(?:arguments|parameters)"\s*:.*"name"\s*:',
                        re.DOTALL)


def looks_like_call(text: str) -> bool:
    """Whether text that does not parse was meant as a call object (it names both keys)."""
    return bool(_CALL_KEYS.search(text))


def is_call_object(obj: Any) -> bool:
    """A JSON value shaped like one call: a name and arguments (or parameters)."""
    if isinstance(obj, dict) and isinstance(obj.get("function"), dict):
        obj = obj["function"]
    return isinstance(obj, dict) and isinstance(obj.get("name"), str) and ("arguments" in obj or "parameters" in obj)


def call_from_object(obj: Any, faults: list[str], notes: list[str]) -> ToolCall | None:
    """One call from a parsed JSON object, lenient about the key names and the arguments' form."""
    if isinstance(obj, dict) and isinstance(obj.get("function"), dict):
        obj = obj["function"]
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"].strip():
        faults.append("call without a name")
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if "arguments" not in obj and "parameters" in obj:
        notes.append("'parameters' in place of 'arguments'")
    if isinstance(args, str):  # OpenAI's wire format: arguments as a JSON string
        try:
            args = json.loads(args) if args.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            args = None
    if not isinstance(args, dict):
        faults.append(f"call {obj['name']!r}: arguments are not an object")
        return None
    return ToolCall.model_construct(name=obj["name"], arguments=args)


def json_values(text: str) -> tuple[list[Any], str]:
    """The JSON values at the start of `text`, one after another (separated by white space or
    commas); returns them and the rest of the text. [] when it does not start with one."""
    decoder = json.JSONDecoder()
    values, pos = [], 0
    while True:
        rest = text[pos:].lstrip().lstrip(",").lstrip()
        start = len(text) - len(rest)
        if not rest.startswith(("{", "[")):
            return values, text[pos:]
        try:
            value, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            return values, text[pos:]
        values.append(value)
        pos = end


def calls_from_values(values: list[Any], reading: Reading) -> bool:
    """Add the calls of JSON values (call objects, or lists of them) to `reading`; False, adding
    nothing, when any value is not call-shaped."""
    objects = [o for v in values for o in (v if isinstance(v, list) else [v])]
    if not objects or not all(is_call_object(o) for o in objects):
        return False
    for o in objects:
        if (c := call_from_object(o, reading.faults, reading.notes)) is not None:
            reading.calls.append(c)
    return True


def bad_json(text: str) -> str:
    """json's complaint about text that does not parse."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return json_problem(exc)
    except RecursionError:
        return "nested too deeply"
    return "extra text"


# --------------------------------------------------------------------------- the forms

_HERMES_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)


def read_hermes(body: str) -> Reading | None:
    """<tool_call> blocks holding a call object each; text beside them is only noted."""
    if grammar.CALL_OPEN not in body:
        return None
    reading = Reading()
    blocks = _HERMES_BLOCK.findall(body)
    if grammar.CALL_CLOSE not in body.rsplit(grammar.CALL_OPEN, 1)[1]:
        reading.notes.append("unclosed <tool_call> block")
    for block in blocks:
        block = block.strip()
        values, rest = json_values(block)
        if not values or rest.strip():
            reading.faults.append(f"<tool_call> block: bad JSON ({bad_json(block)})")
        elif not calls_from_values(values, reading):
            reading.faults.append("<tool_call> block: not a call object")
    if _HERMES_BLOCK.sub("", body).strip():
        reading.notes.append("text beside the call")
    return reading


_FENCE = re.compile(r"```[ \t]*(json|JSON)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def read_fenced_json(body: str) -> Reading | None:
    """```json blocks (or unlabelled ones) holding call objects; blocks holding anything else
    are ignored, text beside them noted."""
    reading, found = Reading(), False
    for match in _FENCE.finditer(body):
        block = match.group(2).strip()
        values, rest = json_values(block)
        if values and not rest.strip() and calls_from_values(values, reading):
            found = True
        elif looks_like_call(block) and (not values or rest.strip()):
            found = True
            reading.faults.append(f"fenced call: bad JSON ({bad_json(block)})")
    if not found:
        return None
    if body.count("```") % 2:
        reading.notes.append("unclosed code fence")
    if _FENCE.sub("", body).strip():
        reading.notes.append("text beside the call")
    return reading


def read_json(body: str) -> Reading | None:
    """Bare call objects at the start of the output (several, or a list, are parallel calls)."""
    text = body.strip()
    if not text.startswith(("{", "[")):
        return None
    values, rest = json_values(text)
    reading = Reading()
    if values and calls_from_values(values, reading):
        if rest.strip():
            reading.notes.append("text after the call")
        return reading
    if not values and looks_like_call(text):
        return Reading(faults=[f"bad JSON call ({bad_json(text)})"])
    return None


def _dotted(node: ast.AST) -> str | None:
    """`math.factorial` from the AST of a callee; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return None


_PY_HEAD = re.compile(r"\[?\s*([A-Za-z_][\w.]*)\s*\(")


def read_python(body: str, tools: list[dict[str, Any]] | None) -> Reading | None:
    """BFCL's Python call syntax, `[f(a=1), g(b="x")]` or `f(a=1)`, calling one of `tools`.
    Argument values must be literals (read with ast.literal_eval, never run)."""
    text = body.strip()
    fenced = re.fullmatch(r"```[ \t]*\w*[ \t]*\n(.*?)\n?```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    head = _PY_HEAD.match(text)
    if not head or head.group(1) not in tool_names(tools):  # names only once it looks like a call
        return None
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError) as exc:
        return Reading(faults=[f"bad Python call ({getattr(exc, 'msg', exc)})"])
    nodes = tree.elts if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    reading = Reading()
    for node in nodes:
        name = _dotted(node.func) if isinstance(node, ast.Call) else None
        if name is None:
            reading.faults.append("not a function call")
            continue
        if node.args:
            reading.faults.append(f"call {name!r}: positional arguments")
        args = {}
        for kw in node.keywords:
            if kw.arg is None:  # f(**options)
                reading.faults.append(f"call {name!r}: unpacked arguments")
                continue
            try:
                args[kw.arg] = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                reading.faults.append(f"call {name!r}: argument {kw.arg!r} is not a literal")
        reading.calls.append(ToolCall.model_construct(name=name, arguments=args))
    return reading


def read_template(text: str, template: dict[str, Any], prefix: str, tools: list[dict[str, Any]] | None
                  ) -> Reading | None:
    """The chat template's own response parser (transformers >= 5.13); None when it reads no call
    or cannot run."""
    try:
        from transformers.utils.chat_parsing import parse_response
        message = parse_response(text, template, prefix=prefix, tools=tools)
    except Exception:  # noqa: BLE001 - any failure of the template's parser: the other forms decide
        return None
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not calls or not isinstance(calls, list):
        return None
    reading = Reading()
    for c in calls:
        if (call := call_from_object(c, reading.faults, reading.notes)) is not None:
            reading.calls.append(call)
    if reading.faults:
        return None  # half-read by the template: the forms below say what is wrong
    if isinstance(message.get("content"), str) and message["content"].strip():
        reading.notes.append("text beside the call")
    return reading


# --------------------------------------------------------------------------- one output

def tool_names(tools: list[dict[str, Any]] | None) -> set[str]:
    names = set()
    for t in tools or []:
        fn = t.get("function") if isinstance(t, dict) and isinstance(t.get("function"), dict) else t
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.add(fn["name"])
    return names


def parse_native(text: str, tools: list[dict[str, Any]] | None = None, *,
                 template: dict[str, Any] | None = None, prefix: str = "") -> NativeRead:
    """Read one raw output in the first form that applies (see the module). Never raises."""
    strict = grammar.parse(text)
    if not isinstance(text, str) or (strict.valid and strict.kind == "tool_call"):
        return NativeRead(strict, "grammar", list(strict.problems))
    reasoning, body, think_notes = grammar.split_think(text)
    readers = [("template", lambda: read_template(text, template, prefix, tools) if template else None),
               ("hermes", lambda: read_hermes(body)),
               ("fenced_json", lambda: read_fenced_json(body)),
               ("json", lambda: read_json(body)),
               ("python", lambda: read_python(body, tools))]
    for form, read in readers:
        reading = read()
        if reading is not None:
            notes = [f"read as {FORM_NAMES[form]}, not the action grammar", *think_notes, *reading.notes]
            parsed = ParsedAction(kind="tool_call", reasoning=reasoning, tool_calls=reading.calls,
                                  problems=list(dict.fromkeys(notes + reading.faults)))
            return NativeRead(parsed, form, reading.faults)
    return NativeRead(strict, "grammar", list(strict.problems))


def response_template(tokenizer: Any) -> dict[str, Any] | None:
    """The response parser a tokenizer declares (`response_template`), or the one TRL ships for
    its chat template; None when there is neither. The tokenizer itself is left untouched."""
    own = getattr(tokenizer, "response_template", None)
    if isinstance(own, dict):
        return own
    chat_template = getattr(tokenizer, "chat_template", None)
    if not isinstance(chat_template, str):
        return None
    try:
        from trl.chat_template_utils import add_response_schema
        stand_in = add_response_schema(SimpleNamespace(chat_template=chat_template))
    except (ImportError, ValueError):
        return None
    found = getattr(stand_in, "response_template", None)
    return found if isinstance(found, dict) else None


class OutputReader:
    """Reads raw outputs as an evaluation asks: `strict` (our grammar, as training rewards read
    them) or `native` (any form above). With a tokenizer, native reading tries the chat
    template's own parser first, given the sample's prompt."""

    def __init__(self, parse: Parse = "native", tokenizer: Any = None):
        if parse not in ("native", "strict"):
            raise ValueError(f"unknown parse mode {parse!r}; expected native or strict")
        self.parse, self.tokenizer = parse, tokenizer
        self.template = response_template(tokenizer) if tokenizer is not None and parse == "native" else None

    def __call__(self, output: str, sample: Any = None, tools: list[dict[str, Any]] | None = None) -> NativeRead:
        """`sample`: the turn sample (its tools, and its prompt for the template's parser);
        `tools`: the tool list when there is no sample."""
        if self.parse == "strict":
            parsed = grammar.parse(output)
            return NativeRead(parsed, "grammar", list(parsed.problems))
        if sample is not None:
            tools = sample.tools
        prefix = ""
        if self.template is not None and sample is not None:
            from thinkact.chat import build_prompt
            prefix = build_prompt(self.tokenizer, sample)
        return parse_native(output, tools, template=self.template, prefix=prefix)
