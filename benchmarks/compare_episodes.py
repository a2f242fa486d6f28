"""Compare episode results of several models on the same goals: success and pass^k, each with a
95% bootstrap interval over goals, and each model against a reference with a paired interval;
prints one JSON object (and, with --markdown, a table after it).

    python benchmarks/compare_episodes.py --reference sft sft=runs/x/sft.json grpo=runs/x/grpo.json ...

Each file is what `thinkact eval episodes --out FILE` writes; all must cover the same goals
(split, seed, number of goals).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from thinkact.evaluate.episode_stats import compare_episodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="NAME=episode results JSON")
    ap.add_argument("--reference", default=None, help="The NAME the others are compared with.")
    ap.add_argument("--k", type=int, action="append", default=None, help="pass^k for these k (default 1, 2, 4).")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap resamples.")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    results = {}
    for item in args.results:
        name, _, path = item.partition("=")
        if not path:
            ap.error(f"expected NAME=FILE, got {item!r}")
        results[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    out = compare_episodes(results, ks=tuple(args.k or (1, 2, 4)), reference=args.reference, seed=args.seed)
    print(json.dumps(out, indent=2))
    if args.markdown:
        print(table(out))


def table(out: dict) -> str:
    metrics = list(next(iter(out["rows"].values())))
    lines = ["| model | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name, row in out["rows"].items():
        cells = [f"{row[m]['mean']:.3f} [{row[m]['ci'][0]:.2f}, {row[m]['ci'][1]:.2f}]" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, diff in out["differences"].items():
        cells = [f"{diff[m]['difference']:+.3f} [{diff[m]['difference_ci'][0]:+.2f}, {diff[m]['difference_ci'][1]:+.2f}]"
                 for m in metrics]
        lines.append(f"| {name} - {out['reference']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{out['goals']} goals x {out['trials']} trials; 95% bootstrap intervals over goals\n"


if __name__ == "__main__":
    main()
