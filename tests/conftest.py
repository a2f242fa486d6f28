"""Shared fixtures: a tiny random Qwen3 with a small tokenizer, and a handful of turn samples.

The model learns nothing useful; it runs every code path of training and evaluation in seconds.
"""

from __future__ import annotations

import pytest

from thinkact.schema import Message, Target, ToolCall, TurnSample, write_jsonl

TOOLS = [{"name": "get_order", "description": "Look up an order by its id.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]}}]
SYSTEM = "You are a support agent for an online shop."


def make_samples(n: int = 8, reasoning: bool = False) -> list[TurnSample]:
    """Alternating call and reply turns over distinct order ids."""
    out = []
    for i in range(n):
        oid = f"W{1000 + 37 * i}"
        ask = Message(role="user", content=f"Where is my order {oid}?")
        if i % 2 == 0:
            context = [ask]
            target = Target(kind="tool_call", tool_calls=[ToolCall(name="get_order", arguments={"order_id": oid})],
                            reasoning=f"The user asks about order {oid}; look it up." if reasoning else None)
        else:
            context = [ask, Message(role="assistant", tool_calls=[ToolCall(name="get_order", arguments={"order_id": oid})]),
                       Message(role="tool", name="get_order", content=f'{{"order_id": "{oid}", "status": "shipped"}}')]
            target = Target(kind="reply", content=f"Your order {oid} has shipped.",
                            reasoning="The order is shipped; tell the user." if reasoning else None)
        out.append(TurnSample(id=f"c{i}#0", conversation_id=f"c{i}", turn_index=0, system=SYSTEM,
                              tools=TOOLS, context=context, target=target))
    return out


def corpus(samples: list[TurnSample]) -> list[str]:
    return [m.content for s in samples for m in s.context] + [SYSTEM, str(TOOLS)] + [
        s.target.content or str(s.target.tool_calls) for s in samples]


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A small BPE fitted to these samples and the bundled benchmark's text, so both tokenize
    into short sequences."""
    from thinkact.bench.corpus import domain_text
    from thinkact.pretrain.tokenizer import train_tokenizer

    return train_tokenizer(corpus(make_samples(16, reasoning=True)) + list(domain_text(0, 300)), vocab_size=512)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """An HF folder: a tiny random Qwen3 (hidden 64, 2 layers) and a small ChatML tokenizer whose
    grammar tags are added tokens that are not special."""
    from thinkact.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tiny_tokenizer)


@pytest.fixture(scope="session")
def turn_files(tmp_path_factory):
    """train.jsonl (no reasoning) and coldstart.jsonl (with reasoning) turn samples."""
    d = tmp_path_factory.mktemp("turns")
    write_jsonl(d / "train.jsonl", make_samples(8))
    write_jsonl(d / "coldstart.jsonl", make_samples(4, reasoning=True))
    return {"train": d / "train.jsonl", "coldstart": d / "coldstart.jsonl"}
