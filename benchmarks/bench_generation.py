"""Batched vs one-at-a-time greedy generation on turn samples; prints one JSON object.

    python benchmarks/bench_generation.py [--model DIR] [--data TURNS.jsonl] [--n 256]
                                          [--batch-size 32] [--max-new-tokens 128] [--threads N]

The model defaults to the shipped quickstart model, or a random model of the same shape when
it is not built yet; the data defaults to the bundled benchmark's test turns (generated into a
temporary folder), or hand-made samples when the generator is not available. Both runs decode
the same samples greedily with the same stopping rule; the JSON says how many outputs agree.
Sequential is plain `model.generate` on one prompt at a time; batched is the evaluation back-end
(prompts prefilled one by one from the shared prompt prefix's KV cache, then decoded in
length-sorted batches from a static cache, the prefix attended to from one copy per batch); the
back-end without the shared prefix is measured too.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from thinkact.chat import build_prompt
from thinkact.evaluate.generation import HFGenerator, cut_at_stop, stop_token_ids
from thinkact.models import load_for_inference
from thinkact.schema import Message, Target, ToolCall, TurnSample, read_turns


def random_quickstart_like(folder: Path, samples: list[TurnSample]) -> Path:
    """A randomly initialised model of the quickstart's architecture, with a tokenizer fitted
    the quickstart's way to the samples' text."""
    from thinkact.pretrain.model import build_model
    from thinkact.pretrain.tokenizer import save_tokenizer, train_tokenizer

    texts = [s.system + json.dumps(s.tools) + " ".join(m.content for m in s.context)
             + json.dumps([c.model_dump() for m in s.context for c in m.tool_calls]) for s in samples]
    tok = train_tokenizer(texts, vocab_size=1536)
    torch.manual_seed(0)
    build_model(tok).save_pretrained(folder)
    save_tokenizer(tok, folder)
    return folder


def hand_made(n: int, seed: int = 0) -> list[TurnSample]:
    rng = random.Random(seed)
    tools = [{"name": "get_order", "description": "Look up an order by id.",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                             "required": ["order_id"]}},
             {"name": "cancel_order", "description": "Cancel a pending order.",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                              "reason": {"type": "string"}},
                             "required": ["order_id", "reason"]}}]
    out = []
    for i in range(n):
        oid = f"W{rng.randint(1000000, 9999999)}"
        ctx = [Message(role="user", content="Hi, " + "I need help with my order. " * rng.randint(1, 6)
                       + f"The order id is {oid}.")]
        if rng.random() < 0.5:
            ctx += [Message(role="assistant", tool_calls=[ToolCall(name="get_order", arguments={"order_id": oid})]),
                    Message(role="tool", name="get_order", content=json.dumps({"order_id": oid, "status": "pending"}))]
        out.append(TurnSample(id=f"h{i}", conversation_id=f"h{i}", turn_index=0,
                              system="You are a store support agent.", tools=tools, context=ctx,
                              target=Target(kind="reply", content="Done.")))
    return out


def default_samples(n: int) -> tuple[list[TurnSample], str]:
    """Test-split turns of the bundled benchmark (hand-made ones if it is not available)."""
    try:
        from thinkact.bench.generator import generate
    except ImportError:
        return hand_made(n), "hand-made"
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, seed=0, sizes={"train": 20, "test": max(10, n // 4), "ood": 5}, progress=False)
        samples = read_turns(Path(tmp) / "test_turns.jsonl")
    random.Random(0).shuffle(samples)
    return samples[:n], f"bundled benchmark, test split ({len(samples[:n])} turns)"


class OneByOne:
    """The baseline: plain `model.generate` on one prompt at a time (transformers' defaults:
    dynamic cache, whole prompt prefilled each time)."""

    def __init__(self, model, tok, max_new_tokens: int):
        self.model, self.tok, self.max_new_tokens = model, tok, max_new_tokens
        self.stops = stop_token_ids(tok, model)
        self.new_tokens = 0

    def generate(self, samples: list[TurnSample]) -> list[str]:
        outs = []
        for s in samples:
            ids = torch.tensor([self.tok(build_prompt(self.tok, s), add_special_tokens=False)["input_ids"]])
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                          max_new_tokens=self.max_new_tokens, eos_token_id=self.stops,
                                          pad_token_id=self.stops[0], temperature=None, top_p=None, top_k=None)
            new = cut_at_stop(out[0, ids.shape[1]:].tolist(), self.stops)
            self.new_tokens += len(new)
            outs.append(self.tok.decode(new, skip_special_tokens=False, clean_up_tokenization_spaces=False))
        return outs


def timed(gen: HFGenerator, samples: list[TurnSample]) -> tuple[list[str], float, int]:
    start = time.perf_counter()
    outs = gen.generate(samples)
    return outs, time.perf_counter() - start, gen.new_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--data")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.data:
        samples, data_name = read_turns(args.data)[:args.n], args.data
    else:
        samples, data_name = default_samples(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from thinkact.pretrain import QUICKSTART_MODEL_DIR
            if (Path(QUICKSTART_MODEL_DIR) / "config.json").is_file():
                model_dir = str(QUICKSTART_MODEL_DIR)
        model_name = model_dir or "random model shaped like the quickstart model"
        if model_dir is None:
            model_dir = random_quickstart_like(Path(tmp), samples)
        model, tok = load_for_inference(str(model_dir))

    n_params = sum(p.numel() for p in model.parameters())
    new = args.max_new_tokens
    seq_out, seq_s, new_tokens = timed(OneByOne(model, tok, new), samples)
    # The evaluation back-end, and the same without reusing the shared prefix's cache.
    bat_out, bat_s, _ = timed(HFGenerator(model, tok, batch_size=args.batch_size, max_new_tokens=new), samples)
    plain_out, plain_s, _ = timed(HFGenerator(model, tok, batch_size=args.batch_size, max_new_tokens=new,
                                              prefix_cache=False), samples)
    prompt_tokens = [len(tok(build_prompt(tok, s), add_special_tokens=False)["input_ids"]) for s in samples]
    n = len(samples)
    print(json.dumps({
        "model": str(model_name), "parameters": n_params, "data": data_name, "samples": n,
        "mean_prompt_tokens": round(sum(prompt_tokens) / n, 1), "max_new_tokens": new,
        "mean_new_tokens": round(new_tokens / n, 1), "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "sequential_seconds": round(seq_s, 2), "batched_seconds": round(bat_s, 2),
        "sequential_samples_per_s": round(n / seq_s, 3), "batched_samples_per_s": round(n / bat_s, 3),
        "speedup": round(seq_s / bat_s, 2),
        "batched_without_prefix_cache_samples_per_s": round(n / plain_s, 3),
        "speedup_without_prefix_cache": round(seq_s / plain_s, 2),
        "identical_outputs": round(sum(a == b for a, b in zip(seq_out, bat_out)) / n, 4),
        "identical_outputs_without_prefix_cache": round(sum(a == b for a, b in zip(seq_out, plain_out)) / n, 4),
    }, indent=2))


if __name__ == "__main__":
    main()
