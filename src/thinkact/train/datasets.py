"""Turn samples -> HF datasets for TRL, with plain-string prompts and completions.

The prompt is the context through the tokenizer's chat template and the completion is the
action through the grammar (thinkact.chat), exactly as evaluation asks the model. SFT rows are
{prompt, completion}, or with `merge` one tokenized row per conversation carrying all its
actions (merge_turns); GRPO rows are {prompt, target, tools, tool_results}, where `target` (the
Target as JSON), `tools` (the tool list as JSON) and `tool_results` (the context's tool message
contents as JSON) reach the reward functions as keyword arguments.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from datasets import Dataset

from thinkact.chat import build_completion, build_prompt
from thinkact.grammar import think_block
from thinkact.schema import DataError, TurnSample


def _lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


# How one SFT sample is rendered:
#   "think"        completion = think block (its reasoning, or empty) + action
#   "empty_think"  completion = an empty think block + action, reasoning dropped: Qwen3's form
#                  for a turn without thinking (base SFT). Every action is then trained after a
#                  `</think>`, so a cold start only has to teach what goes between the tags.
#   "action"       completion = the action alone
#   "after_think"  the prompt ends with an empty think block and the completion is the action:
#                  Qwen3's form for a turn with thinking switched off. The model learns actions
#                  that follow a think block without being taught to emit an empty one.
#   "after_reasoning"  the prompt ends with the sample's own think block (its reasoning) and the
#                  completion is the action: the action is learned after that reasoning, the
#                  reasoning itself is not (cold-start replay: reasoning the model wrote).
RENDER_STYLES = ("think", "empty_think", "action", "after_think", "after_reasoning")
EMPTY_THINK = think_block(None)


def sft_row(sample: TurnSample, tokenizer: Any, style: str) -> dict[str, str]:
    if style not in RENDER_STYLES:
        raise ValueError(f"unknown render style {style!r}; expected one of {RENDER_STYLES}")
    head = {"after_think": EMPTY_THINK, "after_reasoning": think_block(sample.target.reasoning)}.get(style, "")
    prompt = build_prompt(tokenizer, sample) + head
    target = sample.target.model_copy(update={"reasoning": None}) if style == "empty_think" else sample.target
    completion = build_completion(target, think=style in ("think", "empty_think"), eos=tokenizer.eos_token)
    return {"id": sample.id, "prompt": prompt, "completion": completion}


def sft_rows(samples: Sequence[TurnSample], tokenizer: Any, think: bool | Sequence[str]) -> list[dict[str, str]]:
    styles = [("think" if think else "action")] * len(samples) if isinstance(think, bool) else list(think)
    return [sft_row(s, tokenizer, style) for s, style in zip(samples, styles, strict=True)]


def sft_dataset(samples: Sequence[TurnSample], tokenizer: Any, think: bool | Sequence[str],
                max_length: int | None = None, merge: bool = False) -> tuple[Dataset, int]:
    """SFT rows (`think`: for all samples, or a render style per sample, see RENDER_STYLES);
    samples longer than `max_length` tokens are left out rather than truncated (a cut completion
    teaches a broken action). `merge`: one tokenized row per chain of turns (merge_turns).
    Returns the dataset and how many samples were left out."""
    if not samples:
        raise DataError("no turn samples to train on")
    rows: list[dict[str, Any]] = sft_rows(samples, tokenizer, think)
    if merge:
        rows = merge_turns(rows, samples, tokenizer, max_length)
    dropped = 0
    if max_length:
        lengths = ([len(r["input_ids"]) for r in rows] if merge
                   else _lengths(tokenizer, [r["prompt"] + r["completion"] for r in rows]))
        kept = [r for r, n in zip(rows, lengths) if n <= max_length]
        dropped = len(rows) - len(kept)  # merged rows over the limit are single turns
        rows = kept
    if not rows:
        raise DataError(f"every sample is longer than max_length={max_length} tokens")
    return Dataset.from_list(rows), dropped


def merge_turns(rows: Sequence[dict[str, str]], samples: Sequence[TurnSample], tokenizer: Any,
                max_length: int | None = None) -> list[dict[str, Any]]:
    """Tokenized rows {id, input_ids, completion_mask}, one per chain of turns that extend
    each other: the prompt of a conversation's turn k+1 begins with turn k's prompt and
    completion, so the last turn's text holds every earlier action, and one forward pass trains
    them all (the loss still covers the completions only). On the quickstart this is about a
    quarter of the tokens of one row per turn, for the same actions learned.

    A turn joins the chain only if its prompt tokenizes to exactly the chain's tokens followed
    by more (what the model sees in training is what it is given at evaluation) and the merged
    row stays within `max_length` (a conversation's prompts only grow, so a turn over the limit
    would otherwise take the earlier ones down with it); otherwise the chain is closed and the
    turn starts a new one. Nothing is dropped here: a turn too long on its own is its own row,
    for sft_dataset to leave out and count."""
    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    order = sorted(range(len(rows)), key=lambda i: (samples[i].conversation_id, samples[i].turn_index))
    chains: list[dict[str, Any]] = []
    for i in order:
        prompt_ids, completion_ids = encode(rows[i]["prompt"]), encode(rows[i]["completion"])
        last = chains[-1] if chains else None
        if (last is not None and last["conversation"] == samples[i].conversation_id
                and prompt_ids[:len(last["input_ids"])] == last["input_ids"]
                and (not max_length or len(prompt_ids) + len(completion_ids) <= max_length)):
            last["completion_mask"] += [0] * (len(prompt_ids) - len(last["input_ids"]))
            last["input_ids"] = prompt_ids
            last["ids"].append(rows[i]["id"])
        else:
            last = {"conversation": samples[i].conversation_id, "ids": [rows[i]["id"]],
                    "input_ids": prompt_ids, "completion_mask": [0] * len(prompt_ids)}
            chains.append(last)
        last["input_ids"] = last["input_ids"] + completion_ids
        last["completion_mask"] += [1] * len(completion_ids)
    return [{"id": ",".join(c["ids"]), "input_ids": c["input_ids"], "completion_mask": c["completion_mask"]}
            for c in chains]


def grpo_rows(samples: Sequence[TurnSample], tokenizer: Any) -> list[dict[str, str]]:
    return [{"id": s.id, "prompt": build_prompt(tokenizer, s),
             "target": s.target.model_dump_json(exclude_none=True),
             "tools": json.dumps(s.tools, ensure_ascii=False),
             "tool_results": json.dumps(s.tool_results, ensure_ascii=False)}
            for s in samples]


def grpo_dataset(samples: Sequence[TurnSample], tokenizer: Any,
                 max_prompt_length: int | None = None) -> tuple[Dataset, int]:
    """GRPO rows; prompts longer than `max_prompt_length` tokens are left out."""
    if not samples:
        raise DataError("no turn samples to train on")
    rows = grpo_rows(samples, tokenizer)
    dropped = 0
    if max_prompt_length:
        lengths = _lengths(tokenizer, [r["prompt"] for r in rows])
        kept = [r for r, n in zip(rows, lengths) if n <= max_prompt_length]
        dropped = len(rows) - len(kept)
        rows = kept
    if not rows:
        raise DataError(f"every prompt is longer than max_prompt_length={max_prompt_length} tokens")
    return Dataset.from_list(rows), dropped
