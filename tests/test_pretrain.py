"""Pretraining: the generated corpus stays off the task, the loop resumes exactly, and the
shipped base model copies but does not already do the task."""

import json
import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from thinkact.chat import build_prompt
from thinkact.grammar import GRAMMAR_TAGS
from thinkact.pretrain import QUICKSTART_MODEL_DIR, copy_probe
from thinkact.pretrain.corpus import document, placeholder_text
from thinkact.pretrain.loop import PretrainConfig, lr_at, pretrain
from thinkact.pretrain.model import TINY, build_model
from thinkact.pretrain.probe import probe_examples, probe_identifier
from thinkact.schema import Message, Target, TurnSample


def test_corpus_has_no_grammar_and_cued_spans_appear_earlier():
    rng = random.Random(0)
    pool = list(placeholder_text(1, 300))
    for _ in range(300):
        segs = document(rng, pool, rng.randint(20, 1500), copy_share=0.4, lookup_share=0.3, repeat_share=0.2)
        text = "".join(t for t, _ in segs)
        assert not any(tag in text for tag in GRAMMAR_TAGS) and "<|im_start|>" not in text
        pos = 0
        for t, emph in segs:
            if emph:  # what the model must copy or look up was stated before
                assert t in text[:pos], (t, text)
            pos += len(t)


def test_probe_identifiers_are_letters_and_digits_and_unseen_shape():
    rng = random.Random(3)
    ids = [probe_identifier(rng) for _ in range(200)]
    assert all(8 <= len(s) <= 12 and s.isalnum() for s in ids)
    assert all(any(c.isdigit() for c in s) and any(c.isalpha() for c in s) for s in ids)
    docs = probe_examples(20, seed=0, pool=list(placeholder_text(2, 200)))
    assert all(sum(emph for _, emph in d) == 1 for d in docs)


def test_lr_schedule_warms_up_holds_and_decays():
    cfg = PretrainConfig(max_steps=100, warmup=10, decay_frac=0.2, lr=1e-3, min_lr=1e-4)
    assert lr_at(0, cfg) < lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(50, cfg) == pytest.approx(1e-3)
    assert lr_at(85, cfg) < 1e-3 and lr_at(100, cfg) == pytest.approx(1e-4)


def _tiny_cfg(**kw):
    return PretrainConfig(max_steps=6, vocab_size=400, sizes=TINY, short_tokens=128, long_tokens=256, short_len=32,
                          long_len=64, short_max_steps=3, probe_every=3, probe_n=4, pool_size=200, warmup=2, **kw)


def test_tiny_pretrain_resumes_exactly(tmp_path):
    src = placeholder_text
    full = pretrain(tmp_path / "full", _tiny_cfg(), text_source=src, log=lambda s: None)
    part = pretrain(tmp_path / "cut", _tiny_cfg(), text_source=src, stop_after=4, log=lambda s: None)
    assert part["step"] == 4 and not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = pretrain(tmp_path / "cut", _tiny_cfg(), text_source=src, log=lambda s: None)
    assert full["step"] == resumed["step"] == 6
    a = load_file(tmp_path / "full" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "cut")
    tok = AutoTokenizer.from_pretrained(tmp_path / "cut")
    assert model.config.vocab_size == len(tok)
    log = json.loads((tmp_path / "cut" / "pretrain_log.json").read_text())
    assert [h["step"] for h in log["history"]] == [3, 4, 6]


@pytest.fixture(scope="module")
def shipped():
    return (AutoModelForCausalLM.from_pretrained(QUICKSTART_MODEL_DIR),
            AutoTokenizer.from_pretrained(QUICKSTART_MODEL_DIR))


def test_shipped_checkpoint_copies_unseen_identifiers(shipped):
    # The shipped checkpoint scores 0.95 on the full probe (n=200, seed 0; see MODEL_CARD.md);
    # on this smaller sample of other identifiers it must still copy at least 90% exactly.
    model, tok = shipped
    assert copy_probe(model, tok, n=48, seed=12345) >= 0.9


def test_probe_gives_an_untrained_model_nothing(shipped):
    _, tok = shipped
    torch.manual_seed(0)
    assert copy_probe(build_model(tok), tok, n=16, seed=12345) == 0.0


def test_shipped_checkpoint_does_not_already_call_tools(shipped):
    model, tok = shipped
    tools = [{"name": "get_order_details", "description": "Get the status and items of an order.",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                             "required": ["order_id"]}}]
    users = ["Hi, where is my order #W2378156?", "Can you check order #W9911002 for me?",
             "I want to know the status of order #W5550123.", "My package #W7781234 has not arrived."]
    prompts = [build_prompt(tok, TurnSample(id=f"c{i}#0", conversation_id=f"c{i}", turn_index=0,
                                            system="You are a retail support agent.", tools=tools,
                                            context=[Message(role="user", content=u)],
                                            target=Target(kind="reply", content="x")))
               for i, u in enumerate(users)]
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=40, do_sample=False)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=False)
    assert sum("<tool_call>" in t for t in texts) == 0, texts
