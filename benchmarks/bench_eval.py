"""Evaluation speed of the HF back-end on bench turns, and whether two versions agree; prints
one JSON object.

    python benchmarks/bench_eval.py [--model DIR] [--chat-template compact_tools|none]
        [--data TURNS.jsonl] [--n 1576] [--batch-size 64] [--max-new-tokens 128]
        [--save OUTPUTS.json] [--compare OUTPUTS.json]

Defaults: the shipped quickstart base model with the `compact_tools` template (what the
pipeline evaluates as the vanilla stage) and the pipeline's evaluation settings. `--data`
defaults to the bundled benchmark's test turns at seed 0 (300 conversations, 1,576 turns),
generated into a temporary folder; `--n` keeps that many turns spread evenly over the file
(consecutive turns of a conversation share their prompts, so a spread-out subset reuses less
than the full split). `--save` writes the outputs; `--compare` counts the outputs equal to a
saved run's (run the same command under another version of the code to check that a change
keeps every greedy output).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import thinkact
from thinkact.evaluate.generation import HFGenerator
from thinkact.models import load_for_inference
from thinkact.schema import read_turns

QUICKSTART = Path(thinkact.__file__).parent / "assets" / "quickstart-base"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(QUICKSTART))
    ap.add_argument("--chat-template", default="compact_tools", help="'none': the model's own.")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--n", type=int, default=None, help="Turns to evaluate (default: all).")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--compare", type=Path, default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from thinkact.bench.generator import generate

            generate(tmp, seed=0, sizes={"train": 1, "ood": 1}, progress=False)
            data = Path(tmp) / "test_turns.jsonl"
        turns = read_turns(data)
    if args.n and args.n < len(turns):
        step = len(turns) // args.n
        turns = turns[::step][:args.n]
    template = None if args.chat_template == "none" else args.chat_template
    model, tok = load_for_inference(args.model, template)
    gen = HFGenerator(model, tok, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    start = time.perf_counter()
    outputs = gen.generate(turns)
    seconds = time.perf_counter() - start
    result = {"model": args.model, "turns": len(turns), "batch_size": args.batch_size,
              "max_new_tokens": args.max_new_tokens, "threads": torch.get_num_threads(),
              "seconds": round(seconds, 2), "samples_per_s": round(len(turns) / seconds, 2),
              "new_tokens": gen.new_tokens, "new_tokens_per_s": round(gen.new_tokens / seconds, 1),
              "thinkact": str(Path(thinkact.__file__).parent)}
    if args.save:
        args.save.write_text(json.dumps(outputs, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.compare:
        other = json.loads(args.compare.read_text(encoding="utf-8"))
        result["identical_outputs"] = sum(a == b for a, b in zip(outputs, other))
        result["compared"] = len(other)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
