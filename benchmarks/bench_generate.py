"""Time `thinkact data generate` at the default sizes and report how hard the data is; prints
one JSON object.

    python benchmarks/bench_generate.py [--seed 0] [--repeat 3] [--out DIR]

Reported: wall time of each full generation (all files written; best and all runs), whether
repeated runs gave byte-identical files, the action statistics of each split (share of replies
and tool calls, distinct tools, actions per conversation) and the turn and conversation accuracy
of the majority-action and copy-last-action baselines on test and ood.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from thinkact.bench.generator import generate
from thinkact.bench.quality import baselines
from thinkact.data.turns import make_turns
from thinkact.schema import read_conversations, read_turns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="Keep the last generation here.")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        times, checksums = [], []
        for i in range(args.repeat):
            out = args.out if args.out and i == args.repeat - 1 else Path(tmp) / f"run{i}"
            start = time.perf_counter()
            manifest = generate(out, seed=args.seed, progress=False)
            times.append(round(time.perf_counter() - start, 3))
            checksums.append(manifest["files"])
        train = make_turns(read_conversations(out / "train.jsonl"))
        result = {
            "seed": args.seed,
            "sizes": manifest["sizes"],
            "coldstart": manifest["coldstart"],
            "generate_seconds_best": min(times),
            "generate_seconds_runs": times,
            "byte_identical_runs": all(c == checksums[0] for c in checksums),
            "stats": {split: {k: v for k, v in s.items() if k != "procedures"}
                      for split, s in manifest["stats"].items()},
            "baselines": {split: baselines(train, read_turns(out / f"{split}_turns.jsonl"))
                          for split in ("test", "ood")},
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
