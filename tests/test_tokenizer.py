"""The quickstart tokenizer: copy-friendly pre-tokenization, tags that survive TRL's decoding,
and a chat template consistent with the action grammar."""

import json

import pytest
from transformers import AutoTokenizer

from thinkact.chat import build_prompt
from thinkact.grammar import CALL_CLOSE, CALL_OPEN, GRAMMAR_TAGS, render_call
from thinkact.pretrain import QUICKSTART_MODEL_DIR
from thinkact.pretrain.corpus import placeholder_text
from thinkact.pretrain.tokenizer import train_tokenizer
from thinkact.schema import Message, Target, ToolCall, TurnSample

TOOLS = [{"name": "get_order", "description": "Look up an order.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]}},
         {"name": "cancel_order", "description": "Cancel an order.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                          "reason": {"type": "string", "enum": ["no longer needed", "ordered by mistake"]}}}}]


@pytest.fixture(scope="module", params=["fitted", "shipped"])
def tok(request):
    if request.param == "shipped":
        return AutoTokenizer.from_pretrained(QUICKSTART_MODEL_DIR)
    return train_tokenizer(placeholder_text(0, 3000), vocab_size=400)


def test_vocab_is_small_and_specials_are_set(tok):
    assert len(tok) <= 2100
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.convert_tokens_to_ids("<|im_start|>") != tok.unk_token_id
    for tag in GRAMMAR_TAGS:
        assert tok.tokenize(tag) == [tag]


def test_digits_are_one_per_token(tok):
    pieces = tok.tokenize("W2378156")
    assert pieces == ["W", "2", "3", "7", "8", "1", "5", "6"]


@pytest.mark.parametrize("ident", ["jVek0CHt", "sa7udl", "k3mPqz9A", "abc123def", "4WQ150XK"])
def test_mixed_identifiers_are_one_character_per_token(tok, ident):
    assert tok.tokenize(ident) == list(ident)


def test_plain_words_merge(tok):
    # merges stay inside plain words, where they shorten prompts
    assert len(tok.tokenize("order refund")) < len("order refund")
    assert tok.tokenize("mia_garcia_4516")[-5:] == ["_", "4", "5", "1", "6"]


@pytest.mark.parametrize("ident", ["W2378156", "mia_garcia_4516", "k3mPqz9A", "ORD-55120", "abc123def"])
def test_identifier_same_tokens_in_text_and_json(tok, ident):
    alone = tok(ident, add_special_tokens=False)["input_ids"]
    in_text = tok(f"Hi, my order is {ident} and it is late.", add_special_tokens=False)["input_ids"]
    in_json = tok(json.dumps({"order_id": ident}), add_special_tokens=False)["input_ids"]
    for ids in (in_text, in_json):
        assert any(ids[i:i + len(alone)] == alone for i in range(len(ids))), (ident, ids)


def test_tags_survive_skip_special_tokens(tok):
    text = f"<think>\nok\n</think>\n\n{CALL_OPEN}\n{{\"name\": \"x\", \"arguments\": {{}}}}\n{CALL_CLOSE}"
    ids = tok(text + tok.eos_token, add_special_tokens=False)["input_ids"]
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert decoded == text  # the tags stay, the end-of-turn token goes


def test_template_tool_call_turn_equals_render_call(tok):
    calls = [ToolCall(name="get_order", arguments={"order_id": "W2378156", "note": "ü, ok", "n": 3}),
             ToolCall(name="cancel_order", arguments={"order_id": "W1", "reason": "no longer needed"})]
    msgs = [{"role": "user", "content": "Where is W2378156?"},
            {"role": "assistant", "content": "",
             "tool_calls": [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                            for c in calls]}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    turn = text.split("<|im_start|>assistant\n", 1)[1].split("<|im_end|>", 1)[0]
    # an earlier action follows an empty think block, as base SFT's completions render it
    assert turn == "<think>\n\n</think>\n\n" + "\n".join(render_call(c) for c in calls)


def test_build_prompt_renders_tools_and_history(tok):
    sample = TurnSample(
        id="c#1", conversation_id="c", turn_index=1, system="You are a support agent.", tools=TOOLS,
        context=[Message(role="user", content="Cancel W2378156 please."),
                 Message(role="assistant", tool_calls=[ToolCall(name="get_order", arguments={"order_id": "W2378156"})]),
                 Message(role="tool", name="get_order", content='{"status": "pending"}'),
                 Message(role="tool", name="get_order", content='{"items": 2}')],
        target=Target(kind="reply", content="Done."))
    prompt = build_prompt(tok, sample)
    assert prompt.startswith("<|im_start|>system\nYou are a support agent.")
    # compact: one JSON line per tool, parameters as name -> type or allowed values
    lines = prompt.split("Tools:\n", 1)[1].split("<|im_end|>", 1)[0].split("\n")
    assert [json.loads(line) for line in lines] == [
        {"name": "get_order", "description": "Look up an order.", "parameters": {"order_id": "string"}},
        {"name": "cancel_order", "description": "Cancel an order.",
         "parameters": {"order_id": "string", "reason": ["no longer needed", "ordered by mistake"]}}]
    assert render_call(sample.context[1].tool_calls[0]) in prompt
    # both tool results in one user turn, Qwen3-style
    assert ("<|im_start|>user\n<tool_response>\n{\"status\": \"pending\"}\n</tool_response>\n"
            "<tool_response>\n{\"items\": 2}\n</tool_response><|im_end|>\n") in prompt
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    # the earlier action after an empty think block (Qwen3's form); no other think block
    assert prompt.count("<think>") == 1
    assert "<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>" in prompt


def test_no_tools_no_system_header(tok):
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
