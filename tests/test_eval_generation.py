"""Generation back-ends: batched greedy decoding equals one-at-a-time decoding, outputs come
back in the samples' order, and the OpenAI-compatible back-end renders messages in our grammar."""

import json
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from thinkact import grammar
from thinkact.chat import build_prompt
from thinkact.evaluate.generation import (EndpointError, HFGenerator, OpenAIGenerator,
                                          decode_completion, error_detail, make_generator,
                                          message_to_grammar, retry_after_seconds, shared_prefix)
from thinkact.models import load_for_inference
from thinkact.schema import Message, Target, ToolCall, TurnSample

TOOLS = [{"name": "get_order", "description": "Look up an order.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]}}]


def make_samples(n: int) -> list[TurnSample]:
    """Contexts of very different lengths, so batches need padding."""
    out = []
    for i in range(n):
        words = " ".join(["please check my order"] * (1 + (i * 7) % 11))
        ctx = [Message(role="user", content=f"{words} W{1000 + i}")]
        if i % 3 == 0:
            ctx += [Message(role="assistant", tool_calls=[ToolCall(name="get_order",
                                                                   arguments={"order_id": f"W{i}"})]),
                    Message(role="tool", name="get_order", content='{"status": "shipped"}')]
        system = "Be helpful." if i % 4 else "You are a careful support agent for a shop."
        out.append(TurnSample(id=f"s{i}", conversation_id=f"c{i}", turn_index=0, system=system,
                              tools=TOOLS, context=ctx,
                              target=Target(kind="reply", content="It shipped.")))
    return out


@pytest.fixture(scope="module")
def peaked_model_dir(tmp_path_factory):
    """A tiny random Qwen3 with large initial weights, so its greedy outputs depend on the
    prompt (small weights decode every prompt to the same token repeated, which would hide a
    padding bug)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from thinkact.pretrain.tokenizer import save_tokenizer, train_tokenizer

    path = tmp_path_factory.mktemp("tiny")
    texts = [s.context[0].content + json.dumps(TOOLS) for s in make_samples(20)]
    tok = train_tokenizer(texts * 3, vocab_size=300)
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=8, max_position_embeddings=1024, initializer_range=0.5,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    Qwen3ForCausalLM(cfg).save_pretrained(path)
    save_tokenizer(tok, path)
    return path


@pytest.fixture(scope="module")
def tiny(peaked_model_dir):
    return load_for_inference(str(peaked_model_dir))


@pytest.mark.slow
def test_batched_greedy_equals_sequential(tiny):
    """Plain one-at-a-time `generate` against the batched back-end (prompts prefilled one by
    one from two groups' shared prefixes, laid side by side with left padding, decoded together
    from a static cache): the same greedy outputs, in the samples' order."""
    import torch

    model, tok = tiny
    samples = make_samples(11)
    one = []  # plain transformers generate, one prompt at a time
    for s in samples:
        ids = torch.tensor([tok(build_prompt(tok, s), add_special_tokens=False)["input_ids"]])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=16, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        one.append(decode_completion(tok, out[0, ids.shape[1]:].tolist(), [tok.eos_token_id]))
    done = []
    batched = HFGenerator(model, tok, batch_size=4, max_new_tokens=16).generate(samples, done.append)
    assert batched == one
    assert sum(done) == len(samples)
    assert HFGenerator(model, tok, batch_size=4, max_new_tokens=16, prefix_cache=False).generate(samples) == one
    # each output is what that prompt alone gives, and outputs differ between prompts
    assert len(set(one)) > 3
    assert HFGenerator(model, tok, batch_size=1, max_new_tokens=16).generate(samples[5:6]) == [one[5]]


def test_rows_that_differ_only_in_their_last_token(tiny):
    """Prompts whose own part is a single token: nothing to prefill beyond the shared prefix."""
    import torch

    model, tok = tiny
    head = "<|im_start|>user\nplease check my order W1234 and tell me its status<|im_end|>\n<|im_start|>"
    prompts = [head + "a", head + "b", head + "c"]
    assert len({len(tok(p)["input_ids"]) for p in prompts}) == 1
    plain = []
    for p in prompts:
        ids = torch.tensor([tok(p, add_special_tokens=False)["input_ids"]])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=8, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        plain.append(decode_completion(tok, out[0, ids.shape[1]:].tolist(), [tok.eos_token_id]))
    assert HFGenerator(model, tok, batch_size=3, max_new_tokens=8).generate_prompts(prompts) == plain


@pytest.mark.slow
def test_the_kv_cache_goes_by_the_installed_transformers_name(tiny, recwarn):
    """A model whose forward hides its keywords (a PEFT wrapper) still gets its KV cache under
    the name the installed transformers takes: the same outputs, no deprecation warning."""
    import copy

    from peft import LoraConfig, get_peft_model

    model, tok = tiny
    samples = make_samples(5)
    plain = HFGenerator(model, tok, batch_size=4, max_new_tokens=8).generate(samples)
    # a fresh LoRA adapter adds zero, so the wrapped model decodes exactly as the plain one
    wrapped = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert HFGenerator(wrapped, tok, batch_size=4, max_new_tokens=8).generate(samples) == plain
    assert not [w for w in recwarn if "past_key_values" in str(w.message)]


def test_shared_prefix():
    a, b, c = [1, 2, 3, 4, 5], [1, 2, 3, 9], [1, 2, 3]
    assert shared_prefix([a, b], min_tokens=2) == [1, 2, 3]
    assert shared_prefix([a, c], min_tokens=2) == [1, 2]  # c keeps one token of its own
    assert shared_prefix([a, b], min_tokens=4) == []  # too short to be worth a cache
    assert shared_prefix([a], min_tokens=1) == []  # nothing to share


def test_decode_keeps_grammar_tags_and_cuts_at_eos(tiny):
    _, tok = tiny
    text = '<think>\nok\n</think>\n\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>'
    ids = tok(text, add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    assert decode_completion(tok, ids + [eos, 5, 6], [eos]) == text
    assert grammar.parse(decode_completion(tok, ids, [eos])).valid


def test_make_generator_errors():
    with pytest.raises(ValueError, match="endpoint"):
        make_generator("openai", "m")
    with pytest.raises(ValueError, match="unknown back-end"):
        make_generator("tgi", "m")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="vLLM"):
            make_generator("vllm", "some/dir")


# --------------------------------------------------------------------------- OpenAI endpoint

def test_request_pairs_tool_results_with_calls():
    s = make_samples(1)[0]
    msgs = OpenAIGenerator("http://localhost:1/v1", "m").request(s)["messages"]
    assert msgs[0] == {"role": "system", "content": s.system}
    call = msgs[2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"order_id": "W0"}
    # only the keys OpenAI's wire format has: strict servers refuse a tool message with a name
    assert msgs[3] == {"role": "tool", "tool_call_id": call["id"], "content": '{"status": "shipped"}'}


def test_message_to_grammar():
    call = {"role": "assistant", "content": None, "reasoning_content": "need the order",
            "tool_calls": [{"id": "a", "type": "function",
                            "function": {"name": "get_order", "arguments": '{"order_id": "W1"}'}}]}
    p = grammar.parse(message_to_grammar(call))
    assert p.valid and p.reasoning == "need the order"
    assert p.tool_calls == [ToolCall(name="get_order", arguments={"order_id": "W1"})]
    reply = grammar.parse(message_to_grammar({"role": "assistant", "content": "Hello there."}))
    assert reply.valid and reply.kind == "reply" and reply.reasoning is None
    bad = grammar.parse(message_to_grammar({"content": "", "tool_calls": [
        {"function": {"name": "get_order", "arguments": '{"order_id": '}}]}))
    assert not bad.valid and any("bad JSON" in p for p in bad.problems)
    mixed = grammar.parse(message_to_grammar({"content": "Sure!", "tool_calls": call["tool_calls"]}))
    assert "text mixed with a tool call" in mixed.problems


@pytest.mark.parametrize("message", [
    {"tool_calls": 5}, {"tool_calls": ["get_order"]}, {"tool_calls": [{"function": ["get_order"]}]},
    {"content": {"text": "hi"}}, {"content": 7}, {"content": [{"type": "text", "text": ["hi"]}, "x"]},
    {"reasoning_content": ["x"], "tool_calls": [{"function": {"name": 5, "arguments": [1]}}]},
])
def test_message_to_grammar_keeps_malformed_messages_for_the_parser(message):
    # each raised AttributeError or TypeError before (found by fuzzing endpoint messages)
    assert isinstance(grammar.parse(message_to_grammar(message)).problems, list)


def test_message_to_grammar_reads_arguments_as_the_adapters_do():
    for raw in (None, "", '{"order_id": "W1"}', {"order_id": "W1"}):
        p = grammar.parse(message_to_grammar({"tool_calls": [{"function": {"name": "get_order", "arguments": raw}}]}))
        assert p.valid and p.tool_calls[0].arguments == ({"order_id": "W1"} if raw else {})


class _Canned(BaseHTTPRequestHandler):
    """Answers a call when the last message is a user message, a reply otherwise."""
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, body))
        if body["messages"][-1]["role"] == "user":
            order = body["messages"][-1]["content"].split()[-1]
            msg = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "x", "type": "function",
                 "function": {"name": "get_order", "arguments": json.dumps({"order_id": order})}}]}
        else:
            msg = {"role": "assistant", "content": "Your order has shipped.", "reasoning": "done"}
        data = json.dumps({"choices": [{"index": 0, "message": msg}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    _Canned.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_generator_against_local_server(endpoint):
    samples = make_samples(5)
    outs = OpenAIGenerator(endpoint, "served-model", concurrency=3).generate(samples)
    assert len(_Canned.seen) == 5
    path, body = _Canned.seen[0]
    assert path == "/v1/chat/completions" and body["model"] == "served-model"
    assert body["tools"][0]["function"]["name"] == "get_order" and body["temperature"] == 0
    for s, out in zip(samples, outs):
        p = grammar.parse(out)
        assert p.valid
        if s.context[-1].role == "user":
            assert p.tool_calls[0].arguments == {"order_id": s.context[-1].content.split()[-1]}
        else:
            assert p.reply == "Your order has shipped." and p.reasoning == "done"


def test_openai_generator_reports_http_errors():
    # Nothing listens there: no retries (the backoff would take minutes), the run stops.
    gen = OpenAIGenerator("http://127.0.0.1:9/v1", "m", timeout=2, attempts=5, backoff=60)
    with pytest.raises(EndpointError, match="cannot reach http://127.0.0.1:9/v1/chat/completions"):
        gen.generate(make_samples(1))
    with pytest.raises(ValueError, match="http"):
        OpenAIGenerator("localhost:8000/v1", "m")
    with pytest.raises(ValueError, match="attempts"):
        OpenAIGenerator("http://localhost:8000/v1", "m", attempts=0)


def test_retry_after_seconds_and_an_http_date():
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("0") == 0.0
    ahead = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert 115 <= retry_after_seconds(ahead) <= 120
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # already past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    gen = OpenAIGenerator("http://localhost:8000/v1", "m", backoff=0.5, max_wait=3)
    for attempt, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        waits = [gen.wait(attempt) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits) and len(set(waits)) > 1
    assert gen.wait(1, asked=2.5) == 2.5 and gen.wait(1, asked=100) == 3  # at most max_wait


def test_error_detail_is_one_short_line():
    assert error_detail('{"error": {"message": "no such\\nmodel", "type": "x"}}') == "no such model"
    assert error_detail('{"object": "error", "message": "The model `m` does not exist."}') == \
        "The model `m` does not exist."
    assert error_detail('{"error": "overloaded"}') == "overloaded"
    assert error_detail("<html>\n  Bad gateway\n</html>") == "<html> Bad gateway </html>"
    assert error_detail("x" * 300).endswith("...") and len(error_detail("x" * 300)) == 203


def test_samples_without_a_shared_prefix_are_still_batched(tiny):
    """Each sample with its own tools (as in BFCL) forms a group of one; they are batched
    together rather than one at a time."""
    model, tok = tiny
    samples = [s.model_copy(update={"tools": [{**TOOLS[0], "name": f"tool_{i}"}]})
               for i, s in enumerate(make_samples(6))]
    gen = HFGenerator(model, tok, batch_size=4, max_new_tokens=6)
    sizes = []
    original = gen._decode_batch
    gen._decode_batch = lambda rows, *a: sizes.append(len(rows)) or original(rows, *a)
    out = gen.generate(samples)
    assert sizes == [4, 2]
    assert out == HFGenerator(model, tok, batch_size=1, max_new_tokens=6).generate(samples)


def conversation_turns(n_conv: int = 3, turns: int = 4) -> list[TurnSample]:
    """Turns of a few conversations: each turn's context extends the one before, so each prompt
    starts the next one."""
    out = []
    for c in range(n_conv):
        ctx: list[Message] = []
        for t in range(turns):
            ctx = ctx + [Message(role="user", content=f"please check my order W{100 * c + t} " * (1 + c))]
            out.append(TurnSample(id=f"c{c}#{t}", conversation_id=f"c{c}", turn_index=t, system="Be helpful.",
                                  tools=TOOLS, context=ctx, target=Target(kind="reply", content="ok")))
            ctx = ctx + [Message(role="assistant", content=f"Order W{100 * c + t} has shipped.")]
    return out


def plain_generate(model, tok, samples, max_new_tokens, stops):
    """transformers' own generate, one prompt at a time."""
    import torch

    outs = []
    for s in samples:
        ids = torch.tensor([tok(build_prompt(tok, s), add_special_tokens=False)["input_ids"]])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=tok.pad_token_id)
        outs.append(decode_completion(tok, out[0, ids.shape[1]:].tolist(), stops))
    return outs


@pytest.mark.slow
def test_turns_of_a_conversation_reuse_the_prompts_before_them(tiny, monkeypatch):
    """A turn's prompt starts the next turn's: the shorter ones are read from the longer one's
    keys and values instead of being prefilled again, with the outputs of plain generate."""
    from thinkact.evaluate import generation

    model, tok = tiny
    samples = conversation_turns()
    stores = []
    real = generation.PromptKV
    monkeypatch.setattr(generation, "PromptKV", lambda budget: stores.append(real(budget)) or stores[-1])
    gen = HFGenerator(model, tok, batch_size=4, max_new_tokens=12)
    calls = []
    prefill = gen._prefill
    gen._prefill = lambda ids, kv: calls.append(len(ids)) or prefill(ids, kv)
    out = gen.generate(samples)
    assert out == plain_generate(model, tok, samples, 12, gen.stops)
    (store,) = stores
    assert store.hits == 9 and store.misses == 3  # one prefill per conversation, its longest turn
    assert len(calls) == 1 + 3  # the shared prefix, then one per conversation
    off = HFGenerator(model, tok, batch_size=4, max_new_tokens=12, reuse_bytes=0)
    assert off.generate(samples) == out
    # a budget smaller than any prompt keeps nothing and changes nothing
    assert HFGenerator(model, tok, batch_size=4, max_new_tokens=12, reuse_bytes=16).generate(samples) == out


def test_rows_leave_the_batch_once_ended(tiny, monkeypatch):
    """Rows that end at different steps: the batch shrinks as they end and stops when all have,
    and every output is plain generate's with the same stop tokens."""
    import torch

    from thinkact.evaluate import generation

    model, tok = tiny
    samples = [s for i, s in enumerate(make_samples(12)) if i % 4]  # one group: one batch of 9
    free = []
    for s in samples:
        ids = torch.tensor([tok(build_prompt(tok, s), add_special_tokens=False)["input_ids"]])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=16, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        free.append(out[0, ids.shape[1]:].tolist())
    # the token whose first appearance ends rows at the most different steps
    first = {t: [ids.index(t) if t in ids else 16 for ids in free] for ids_ in free for t in ids_}
    stop = max(sorted(first), key=lambda t: len(set(first[t])))
    assert len(set(first[stop])) >= 3
    gen = HFGenerator(model, tok, batch_size=9, max_new_tokens=16)
    gen.stops = gen.stops + [stop]
    sizes = []
    real_keep = generation.keep_cache_rows
    monkeypatch.setattr(generation, "keep_cache_rows",
                        lambda cache, keep: sizes.append(int(keep.sum())) or real_keep(cache, keep))
    out = gen.generate(samples)
    assert out == plain_generate(model, tok, samples, 16, gen.stops)
    assert sizes and sizes == sorted(sizes, reverse=True) and sizes[-1] < 9
