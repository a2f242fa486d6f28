"""Where evaluation time goes for one model: prompt prefill against decoding, with and without
the shared-prefix path; prints one JSON object.

    python benchmarks/bench_eval_split.py --model DIR --data TURNS.jsonl [--n 8]
        [--batch-size 8] [--max-new-tokens 32] [--no-baseline]

Runs the HF back-end (`HFGenerator`) on the first `--n` turn samples twice: as evaluation runs
it (the system prompt and tool list that samples share prefilled once per batch, turns of a
conversation reusing the prompt before them), and with both switched off (every prompt
prefilled whole; `--no-baseline` skips this run). For each: seconds, samples/s, prompt tokens
run through the model, prefill and decode seconds, generated tokens, and whether the outputs
agree between the two runs.
"""

from __future__ import annotations

import argparse
import json
import time

from thinkact.chat import build_prompt
from thinkact.evaluate.generation import HFGenerator
from thinkact.models import load_for_inference
from thinkact.schema import read_turns


def run(model, tok, samples, *, batch_size: int, max_new_tokens: int, shared: bool) -> tuple[dict, list[str]]:
    gen = HFGenerator(model, tok, batch_size=batch_size, max_new_tokens=max_new_tokens,
                      prefix_cache=shared, reuse_bytes=2 ** 30 if shared else 0)
    start = time.perf_counter()
    outputs = gen.generate(samples)
    seconds = time.perf_counter() - start
    timing = {k: round(v, 2) if isinstance(v, float) else v for k, v in gen.timing.items()}
    return {"seconds": round(seconds, 2), "samples_per_s": round(len(samples) / seconds, 3),
            "new_tokens": gen.new_tokens, **timing}, outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    samples = read_turns(args.data)[:args.n]
    model, tok = load_for_inference(args.model)
    prompt_tokens = sum(len(tok(build_prompt(tok, s), add_special_tokens=False)["input_ids"]) for s in samples)
    out = {"model": args.model, "samples": len(samples), "batch_size": args.batch_size,
           "max_new_tokens": args.max_new_tokens, "prompt_tokens": prompt_tokens}
    out["shared_prefix"], shared = run(model, tok, samples, batch_size=args.batch_size,
                                       max_new_tokens=args.max_new_tokens, shared=True)
    if not args.no_baseline:
        out["whole_prompts"], whole = run(model, tok, samples, batch_size=args.batch_size,
                                          max_new_tokens=args.max_new_tokens, shared=False)
        out["outputs_equal"] = sum(a == b for a, b in zip(shared, whole))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
