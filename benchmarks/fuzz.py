"""Fuzzing: random and mutated model outputs through the parser, the rewards and the metrics,
and mutated records through every data adapter. Prints JSON figures: counts, rates, failures.

Outputs. Gold actions (turn samples of the bundled benchmark, with and without reasoning, and
of BFCL's parallel and nested-argument categories) are rendered in the action grammar, then
edited one to three times: a span deleted, inserted or duplicated, two tags swapped, a tag left
unclosed, <think> nested, the text truncated (mid-character too), random unicode, a huge number,
deep JSON nesting, NaN or Infinity, a very long string, the call's JSON reshaped. Some outputs
are random grammar pieces instead, and some are assistant messages as an OpenAI endpoint
returns them (the gold action through `wire_messages`), mutated, then read by
`message_to_grammar`. Every output goes through `grammar.parse`, `rewards.score_output` in each
think mode (replies by F1 and by ROUGE-L), the TRL reward functions and `metrics.score_sample`.
What must hold: nothing raises; every reward and component is a finite number in [0, 1]; a
component is None exactly where it does not apply (tool on a reply turn, answer on a call
turn); TRL's weighted sum is `score_output`'s total; the scores file record is plain JSON.

Records. Files of three records (canonical conversations, turn samples, predictions, OpenAI chat
records, APIGen-MT records, as JSON lines or a JSON list; BFCL entries with their answers)
with one record mutated: a value removed, replaced, retyped, wrapped, nested deeply, swapped with
another, given odd unicode; or its line's bytes edited (truncated, bytes inserted or deleted,
invalid UTF-8, a huge number, deep nesting). The file is read by the adapter for its format.
What must hold: the adapter returns records or raises DataError naming the file and the line
(the record in a JSON list); records it skips are only ever the mutated one, the others come
back as written; every conversation read can be cut into turn samples and exported to every
format, and every record read is written and reads back as it was.

    python benchmarks/fuzz.py [--outputs 100000] [--records 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from thinkact import grammar, metrics, rewards
from thinkact.chat import wire_messages
from thinkact.data.apigen_mt import from_apigen_record, load_apigen_mt, to_apigen_record
from thinkact.data.bfcl import BFCL_CATEGORIES, BfclEntry, bfcl_entry_to_conversation, load_bfcl_category
from thinkact.data.convert import load_source
from thinkact.data.openai import from_openai_record, load_openai, to_openai_record
from thinkact.data.turns import conversation_to_turns
from thinkact.evaluate.generation import message_to_grammar
from thinkact.schema import (Conversation, DataError, GoldTurn, Message, TurnSample, read_conversations,
                             read_turns, write_jsonl)
from thinkact.scoring import read_gold, read_predictions, sample_record

TAGS = grammar.GRAMMAR_TAGS
THINK_MODES = ("required", "optional", "off")
ANSWER_METHODS = ("rougeL", "f1", "f1")  # one per think mode; optional's is the TRL functions' default
BFCL_SOURCES = ("simple_python", "parallel", "parallel_multiple", "live_multiple", "live_irrelevance")
# Characters that break naive code: line and paragraph separators, NUL, a lone surrogate (one
# only: JSON reads a high and a low one side by side as one character), a right-to-left
# override, a combining mark, a replacement character, emoji.
ODD = "\u2028\u2029\x85\x1c\x00\ud800\u202e\u0301\ufffd\U0001f600\r\t"


# --------------------------------------------------------------------------- gold

def gold(seed: int) -> tuple[list[Conversation], list[TurnSample], dict[str, list[BfclEntry]]]:
    """Conversations of the bundled benchmark, turn samples (some with reasoning, some from BFCL:
    parallel calls and nested arguments) and a few BFCL entries per category."""
    from thinkact.bench.generator import coldstart_samples, generate_conversation
    from thinkact.bench.simulator import sample_goals

    rng = random.Random(seed)
    pairs = [generate_conversation(g) for g in sample_goals("train", 40, seed)]
    convs = [_odd_user_text(rng, c) for c, _ in pairs]
    samples = [s for c in convs for s in conversation_to_turns(c)]
    samples += coldstart_samples(convs, [d for _, d in pairs], n=30, seed=seed)
    bfcl = {name: load_bfcl_category(name)[:8] for name in BFCL_SOURCES}
    samples += [s for entries in bfcl.values() for e in entries
                for s in conversation_to_turns(bfcl_entry_to_conversation(e))]
    return convs, samples, bfcl


def _odd_user_text(rng: random.Random, conv: Conversation) -> Conversation:
    """The conversation with odd characters in its first user message: valid data that every
    reader must read back as it was written."""
    messages = list(conv.messages)
    i = next(k for k, m in enumerate(messages) if m.role == "user")
    messages[i] = messages[i].model_copy(update={"content": messages[i].content + "".join(rng.sample(ODD, 3))})
    return conv.model_copy(update={"messages": messages})


# --------------------------------------------------------------------------- text edits

def _span(rng: random.Random, text: str) -> tuple[int, int]:
    i = rng.randrange(len(text) + 1)
    return i, min(len(text), i + rng.randrange(1, 60))


def _nasty_value(rng: random.Random) -> str:
    """JSON text (or almost): huge and odd numbers, deep nesting, a very long string."""
    depth = rng.choice([50, 199, 200, 201, 260, 900, 5000])  # around MAX_DEPTH and past recursion
    return rng.choice([
        "9" * rng.choice([400, 4300, 4301, 20000]), "-" + "9" * 5000 + ".5e-99999", "1e999", "-1e999",
        "NaN", "Infinity", "-Infinity", "-0", "1e-400",
        "[" * depth + "]" * depth, '{"a": ' * depth + "1" + "}" * depth, "[" * depth,
        json.dumps("x" * rng.choice([10_000, 100_000])), json.dumps(rng.choice(ODD) * 50),
    ])


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(chr(rng.randrange(0x110000)) if rng.random() < 0.5 else rng.choice(ODD + "{}[]\":,<>/ ")
                   for _ in range(n))


def _delete(rng, t):
    i, j = _span(rng, t)
    return t[:i] + t[j:]


def _insert(rng, t):
    i = rng.randrange(len(t) + 1)
    piece = rng.choice([rng.choice(TAGS), rng.choice('{}[]",:\\\n'), _random_text(rng, rng.randrange(1, 20)),
                        '{"name": "x", "arguments": {}}', '"arguments": "{}"'])
    return t[:i] + piece + t[i:]


def _duplicate(rng, t):
    i, j = _span(rng, t)
    return t[:j] + t[i:j] + t[j:]


def _swap_tags(rng, t):
    a, b = rng.sample(TAGS, 2)
    return t.replace(a, "\0swap\0").replace(b, a).replace("\0swap\0", b)


def _unclose(rng, t):
    return t.replace(rng.choice([grammar.THINK_CLOSE, grammar.CALL_CLOSE]), "", 1)


def _nest_think(rng, t):
    i = rng.randrange(len(t) + 1)
    return t[:i] + rng.choice(["<think>", "<think>inner</think>", "<think><think>"]) + t[i:]


def _truncate(rng, t):
    # cut the UTF-8 bytes, as a token limit can, possibly inside a character
    data = t.encode("utf-8", "surrogatepass")
    return data[:rng.randrange(len(data) + 1)].decode("utf-8", "replace")


def _unicode(rng, t):
    i = rng.randrange(len(t) + 1)
    return t[:i] + _random_text(rng, rng.randrange(1, 30)) + t[i:]


def _json_value(rng, t):
    # a nasty value where the JSON has one: as an argument, else anywhere
    value = _nasty_value(rng)
    if '"arguments": {' in t and rng.random() < 0.8:
        return t.replace('"arguments": {', f'"arguments": {{"k": {value}, ', 1)
    i = rng.randrange(len(t) + 1)
    return t[:i] + value + t[i:]


def _reshape_call(rng, t):
    return rng.choice([
        lambda: re.sub(r'"arguments": (\{.*?\})(?=\}\n)', lambda m: '"arguments": ' + json.dumps(m.group(1)), t, count=1),
        lambda: re.sub(r', "arguments": \{.*?\}(?=\}\n)', "", t, count=1),
        lambda: t.replace('"arguments": {', '"arguments": null, "x": {', 1),
        lambda: t.replace('"arguments": {', '"arguments": [{', 1),
        lambda: t.replace('{"name": ', '{"name": 5, "n": ', 1),
        lambda: t.replace('{"name"', '[{"name"', 1),
        lambda: t.replace(grammar.CALL_CLOSE, grammar.CALL_CLOSE + "\n" + t[t.find(grammar.CALL_OPEN):], 1),
    ])()


EDITS: dict[str, Callable[[random.Random, str], str]] = {
    "delete": _delete, "insert": _insert, "duplicate": _duplicate, "swap_tags": _swap_tags,
    "unclose": _unclose, "nest_think": _nest_think, "truncate": _truncate, "unicode": _unicode,
    "json_value": _json_value, "reshape_call": _reshape_call,
}


# --------------------------------------------------------------------------- JSON mutations

def _paths(obj: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, path + (i,))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    leaves = [None, True, False, 0, -1, 2**63, 1.5, float("nan"), float("inf"), "", "x",
              rng.choice(ODD) * 3, "user", "tool", "assistant", "function_call", "observation", "[]", "{}"]
    if depth > 2 or rng.random() < 0.6:
        return rng.choice(leaves)
    if rng.random() < 0.5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["name", "role", "content", "arguments", "id", "x"]): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(3))}


def mutate_json(rng: random.Random, record: Any) -> Any:
    """A copy of `record` with one value changed: removed, replaced, retyped, wrapped, nested,
    swapped with another value of the record, or given odd characters."""
    record = json.loads(json.dumps(record))
    paths = _paths(record)
    path = rng.choice(paths)
    if not path:
        return rng.choice([_random_json(rng), [record], json.dumps(record)])
    parent, key = _get(record, path[:-1]), path[-1]
    value = parent[key]
    op = rng.randrange(8)
    if op == 0:
        del parent[key]
    elif op == 1:
        parent[key] = _random_json(rng)
    elif op == 2:
        parent[key] = json.dumps(value)  # an object sent as a JSON string
    elif op == 3:
        parent[key] = rng.choice([[value], {"value": value}])
    elif op == 4:
        for _ in range(rng.choice([20, 300])):
            value = [value]
        parent[key] = value
    elif op == 5:
        other = rng.choice(paths)
        if other and other[:len(path)] != path and path[:len(other)] != other:
            parent[key], other_parent = _get(record, other), _get(record, other[:-1])
            other_parent[other[-1]] = value
    elif op == 6 and isinstance(value, str):
        i = rng.randrange(len(value) + 1)
        parent[key] = value[:i] + _random_text(rng, rng.randrange(1, 8)) + value[i:]
    elif op == 7 and isinstance(parent, list):
        parent.insert(key, value)  # duplicated
    return record


def edit_line(rng: random.Random, line: bytes) -> bytes:
    """The line's bytes edited: truncated, bytes inserted (invalid UTF-8 too) or deleted, a line
    break inserted, a value made huge, deeply nested, NaN."""
    i = rng.randrange(len(line) + 1)
    op = rng.randrange(6)
    if op == 0:
        return line[:i]
    if op == 1:
        return line[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4))) + line[i:]
    if op == 2:
        return line[:i] + line[i + rng.randrange(1, 30):]
    if op == 3:
        return line[:i] + b"\n" + line[i:]
    if op == 4:
        value = _nasty_value(rng).encode()
        return re.sub(rb"(?<=[:\[,] )-?\d+(\.\d+)?", lambda _: value, line, count=1)
    j = line.find(b"{", 1)
    value = _nasty_value(rng).encode()
    return line[:j + 1] + b'"deep": ' + value + b", " + line[j + 1:] if j > 0 else line + value


# --------------------------------------------------------------------------- output checks

class Fuzz:
    """Counts and failures of one run; a failure is kept once per kind, with one example."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.failures: dict[str, dict[str, Any]] = {}

    def fail(self, where: str, problem: str, example: str) -> None:
        key = where + ": " + re.sub(r"'[^']*'|\"[^\"]*\"|0x[0-9a-f]+|[0-9]+", "N", problem)[:100]  # values masked
        if key in self.failures:
            self.failures[key]["count"] += 1
        else:
            self.failures[key] = {"where": where, "problem": problem[-2000:], "example": example[:2000], "count": 1}


def _unit(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _check_components(components: dict[str, Any], kind: str) -> str | None:
    for name, value in components.items():
        applies = not (name == "tool" and kind == "reply" or name == "answer" and kind == "tool_call")
        if applies and not _unit(value):
            return f"component {name} = {value!r}"
        if not applies and value is not None:
            return f"component {name} = {value!r} where it does not apply"
    return None


def check_output(sample: TurnSample, output: str, trl: list, trl_weights: list[float]) -> str | None:
    """What is wrong with how one output is scored (None: nothing)."""
    kind = sample.target.kind
    parsed = grammar.parse(output)
    if parsed.kind not in (None, "tool_call", "reply") or not all(isinstance(p, str) for p in parsed.problems):
        return f"parse gave kind {parsed.kind!r}"
    results = {}
    for think, method in zip(THINK_MODES, ANSWER_METHODS):
        results[think] = result = rewards.score_output(output, sample.target, tools=sample.tools, think=think,
                                                       answer_method=method)
        if not _unit(result.total):
            return f"score_output total = {result.total!r} (think={think})"
        if problem := _check_components(result.components, kind):
            return f"score_output {problem} (think={think})"
    target_json, tools_json = sample.target.model_dump_json(), json.dumps(sample.tools)
    values = {f.__name__: f(completions=[output], target=[target_json], tools=[tools_json])[0] for f in trl}
    if problem := _check_components({c: values[c] for c in rewards.COMPONENTS}, kind):
        return f"TRL {problem}"
    if values["binary"] not in (0.0, 1.0):
        return f"TRL binary = {values['binary']!r}"
    weighted = min(1.0, sum(w * values[c] for c, w in zip(rewards.COMPONENTS, trl_weights) if values[c] is not None))
    if abs(weighted - results["optional"].total) > 1e-9:  # the TRL functions' settings: optional, f1
        return f"TRL weighted sum {weighted} != score_output total {results['optional'].total}"
    score = metrics.score_sample(sample, output)
    if not _unit(score.reward) or (problem := _check_components(score.components, kind)):
        return f"score_sample {problem or f'reward = {score.reward!r}'}"
    if kind == "reply" and not _unit(score.reply_similarity):
        return f"score_sample reply_similarity = {score.reply_similarity!r}"
    if kind == "tool_call":
        m, p, g = score.argument_counts
        if not (0 <= m <= min(p, g)):
            return f"score_sample argument_counts = {score.argument_counts}"
    json.dumps(sample_record(score), allow_nan=False)  # the scores file holds plain JSON
    return None


def _endpoint_message(rng: random.Random, sample: TurnSample) -> dict[str, Any]:
    """The gold action as an OpenAI endpoint returns it, then mutated."""
    t = sample.target
    message = Message(role="assistant", content=t.content if t.kind == "reply" else "",
                      tool_calls=t.tool_calls, reasoning=t.reasoning)
    wire = wire_messages("", [message], reasoning=True)[0]
    for _ in range(rng.randrange(3)):
        wire = mutate_json(rng, wire)
    return wire if isinstance(wire, dict) else {"content": wire}


def fuzz_outputs(run: Fuzz, samples: list[TurnSample], n: int, rng: random.Random) -> None:
    trl, _ = rewards.make_trl_reward_funcs(binary=True)  # the five components and binary
    _, weights = rewards.make_trl_reward_funcs()
    for _ in range(n):
        sample = rng.choice(samples)
        roll = rng.random()
        kind = "mutated" if roll < 0.8 else "random" if roll < 0.9 else "endpoint"
        output = example = ""
        try:
            if kind == "mutated":
                output = grammar.render(sample.target, think=rng.random() < 0.8)
                for _ in range(rng.randrange(1, 4)):
                    output = EDITS[rng.choice(list(EDITS))](rng, output)
            elif kind == "random":
                output = "".join(rng.choice([*TAGS, '{"name": "a", "arguments": {"x": 1}}', "{", "}", "hi", "\n",
                                             _random_text(rng, 5)]) for _ in range(rng.randrange(12)))
            else:
                message = _endpoint_message(rng, sample)
                example = repr(message)
                output = message_to_grammar(message)
            example = output
            problem = check_output(sample, output, trl, weights)
        except Exception as exc:  # noqa: BLE001 - any escape is the failure being looked for
            problem = _exception(exc)
        run.counts["outputs"] += 1
        run.counts[f"outputs_{kind}"] += 1
        if problem:
            run.fail(f"output ({kind})", problem, example)


def _exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return f"{type(exc).__name__}: {exc} at " + " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))


# --------------------------------------------------------------------------- record checks

def _lines_of(records: list[Any]) -> list[bytes]:
    # as write_jsonl writes them (lone surrogates as \u escapes)
    return [json.dumps(r, ensure_ascii=False).encode("utf-8", "backslashreplace") for r in records]


def _write(path: Path, records: list[Any], mutated: int, rng: random.Random, as_list: bool = False) -> int:
    """Write `records` as JSON lines (or one JSON list), the one at `mutated` changed: its value
    or its bytes. Returns how many lines the changed record takes."""
    if rng.random() < 0.7:
        lines = _lines_of(records[:mutated] + [mutate_json(rng, records[mutated])] + records[mutated + 1:])
    else:
        lines = _lines_of(records)
        lines[mutated] = edit_line(rng, lines[mutated])
    if as_list:
        path.write_bytes(b"[" + b",\n".join(lines) + b"]\n")
    else:
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    return lines[mutated].count(b"\n") + 1


def _written_back(records: list[Any], read: Callable[[Path], list[Any]], tmp: Path) -> None:
    """Records an adapter read, written and read back: they must not change (compared as text:
    NaN is not equal to itself)."""
    write_jsonl(tmp / "back.jsonl", records)
    if [_text(r) for r in read(tmp / "back.jsonl")] != [_text(r) for r in records]:
        raise AssertionError("written and read back, a record changed")


def _text(record: Any) -> str:
    return json.dumps(record.model_dump(mode="json"), sort_keys=True)


def _conversation_case(rng: random.Random, source: str, convs: list[Conversation], tmp: Path):
    """Three conversations as canonical, OpenAI or APIGen-MT records (JSON lines, or a JSON
    list), one mutated; returns the file and the read that must keep the other two. Every
    conversation read must also cut into turns, export to every format and read back (or raise
    DataError there), and write back unchanged."""
    picked = rng.sample(convs, 3)
    mutated = rng.randrange(3)
    path = tmp / f"{source}.json"
    if source == "conversations":
        records = [c.model_dump(mode="json", exclude_none=True) for c in picked]
        read = rng.choice([lambda: (read_conversations(path), []), lambda: load_source(path, "canonical")])
    elif source.startswith("openai"):
        records = [to_openai_record(c, wire=rng.random() < 0.7) for c in picked]
        read = lambda: load_openai(path, skip_invalid=rng.random() < 0.5)  # noqa: E731
    else:
        records = [to_apigen_record(c) for c in picked]
        read = lambda: load_apigen_mt(path, skip_invalid=rng.random() < 0.5)  # noqa: E731
    changed_lines = _write(path, records, mutated, rng, as_list=source.endswith("-list"))

    def check() -> None:
        got, skipped = read()
        kept = [c for i, c in enumerate(picked) if i != mutated]
        if len(skipped) > changed_lines or any(c not in got for c in kept):
            raise AssertionError(f"an untouched record did not come back ({len(skipped)} skipped: {skipped})")
        for conv in got:
            conversation_to_turns(conv)
            for export, back in ((to_openai_record, from_openai_record), (to_apigen_record, from_apigen_record)):
                try:
                    back(json.loads(json.dumps(export(conv))), index=0)
                except DataError:
                    pass
            _written_back(got, read_conversations, tmp)

    return [path], check


def _sample_case(rng: random.Random, source: str, samples: list[TurnSample], tmp: Path):
    """Three turn samples (read as turns or as a gold file) or predictions, one mutated."""
    picked = rng.sample(samples, 3)
    mutated = rng.randrange(3)
    path = tmp / f"{source}.jsonl"
    if source == "predictions":
        _write(path, [{"id": s.id, "output": grammar.render(s.target)} for s in picked], mutated, rng)
    else:
        _write(path, [s.model_dump(mode="json", exclude_none=True) for s in picked], mutated, rng)

    def check() -> None:
        kept = [s for i, s in enumerate(picked) if i != mutated]
        if source == "predictions":
            got = read_predictions(path)
            if any(got.get(s.id) != grammar.render(s.target) for s in kept):
                raise AssertionError("an untouched prediction did not come back")
            return
        if source == "turns":
            got, expected, read = read_turns(path), kept, read_turns
        else:  # the gold reader keeps what scoring reads of each sample
            got, read = read_gold(path), read_gold
            expected = [GoldTurn.model_validate(s.model_dump()) for s in kept]
        if any(s not in got for s in expected):
            raise AssertionError("an untouched turn sample did not come back")
        _written_back(got, read, tmp)

    return [path], check


def _bfcl_case(rng: random.Random, bfcl: dict[str, list[BfclEntry]], tmp: Path):
    """Three entries of one category and their answers, in a folder laid out as bfcl-eval's,
    one record of one of the two files mutated; every entry read must convert."""
    name = rng.choice(list(bfcl))
    picked = rng.sample(bfcl[name], 3)
    mutated = rng.randrange(3)
    folder = tmp / "bfcl"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "possible_answer").mkdir(parents=True)
    files = {"question": folder / f"BFCL_v4_{name}.json",
             "answer": folder / "possible_answer" / f"BFCL_v4_{name}.json"}
    records = {"question": [{"id": e.id, "question": e.question, "function": e.functions} for e in picked],
               "answer": [{"id": e.id, "ground_truth": e.ground_truth} for e in picked]}
    if not BFCL_CATEGORIES[name]:  # irrelevance: no answers
        del files["answer"]
    changed = rng.choice(list(files))
    for which, path in files.items():
        if which == changed:
            _write(path, records[which], mutated, rng)
        else:
            path.write_bytes(b"".join(line + b"\n" for line in _lines_of(records[which])))

    def check() -> None:
        for entry in load_bfcl_category(name, data=folder):
            bfcl_entry_to_conversation(entry)

    # the answers file changed can leave a question without its answer: either file is named
    return [files[changed], *(p for p in files.values() if p != files[changed])], check


def fuzz_records(run: Fuzz, convs: list[Conversation], samples: list[TurnSample],
                 bfcl: dict[str, list[BfclEntry]], n: int, rng: random.Random, tmp: Path) -> None:
    sources = ("conversations", "openai", "openai-list", "apigen-mt", "apigen-mt-list",
               "turns", "gold", "predictions", "bfcl")
    for _ in range(n):
        source = rng.choice(sources)
        if source == "bfcl":
            paths, check = _bfcl_case(rng, bfcl, tmp)
        elif source in ("turns", "gold", "predictions"):
            paths, check = _sample_case(rng, source, samples, tmp)
        else:
            paths, check = _conversation_case(rng, source, convs, tmp)
        example = paths[0].read_bytes().decode("utf-8", "replace")
        try:
            check()
            run.counts["records_read"] += 1
        except DataError as exc:
            run.counts["records_refused"] += 1
            # a JSON list names the record, or the line where json can tell it
            if exc.file not in map(str, paths) or (exc.line is None and not source.endswith("-list")):
                run.fail(f"records ({source})", f"DataError names no file or line it read: {exc}", example)
        except Exception as exc:  # noqa: BLE001 - any escape is the failure being looked for
            run.fail(f"records ({source})", _exception(exc), example)
        run.counts["records"] += 1


# --------------------------------------------------------------------------- run

def run(outputs: int, records: int, seed: int = 0) -> dict[str, Any]:
    """Fuzz `outputs` outputs and `records` record files; returns the figures."""
    rng = random.Random(seed)
    convs, samples, bfcl = gold(seed)
    result = Fuzz()
    start = time.perf_counter()
    fuzz_outputs(result, samples, outputs, rng)
    output_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fuzz_records(result, convs, samples, bfcl, records, rng, Path(tmp))
    record_seconds = time.perf_counter() - start
    failures = sorted(result.failures.values(), key=lambda f: -f["count"])
    return {"seed": seed, "gold_samples": len(samples), **dict(sorted(result.counts.items())),
            "outputs_per_s": round(result.counts["outputs"] / max(output_seconds, 1e-9), 1),
            "records_per_s": round(result.counts["records"] / max(record_seconds, 1e-9), 1),
            "failure_count": sum(f["count"] for f in failures), "failures": failures}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outputs", type=int, default=100_000)
    ap.add_argument("--records", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(json.dumps(run(args.outputs, args.records, args.seed), indent=2, ensure_ascii=True))


if __name__ == "__main__":
    main()
