"""Wall time of `thinkact score` on 20,000 predictions, printed as JSON.

Gold: the first 20,000 training turns of the bundled benchmark (seed 0, with reasoning).
Predictions, one per gold turn, drawn with a fixed seed to look like a model's: the gold action
with its think block (40%), without it (15%), a call with one argument value changed or a reply
with words dropped (15%), the other kind of action (10%), malformed output (10%: bad JSON,
unclosed tags, text beside a call), or the gold action after reasoning far over budget (10%).
Each run is the whole command in a fresh process (start-up and imports included), best of
`--repeat`; its CPU time (user + system) is reported beside the wall time, since on a shared
machine the wall time also measures the other processes.

    python benchmarks/bench_score.py [--n 20000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from thinkact import grammar
from thinkact.schema import Target, ToolCall, TurnSample, write_jsonl


def make_gold(out: Path, n: int, seed: int) -> list[TurnSample]:
    from thinkact.bench.generator import generate
    from thinkact.data.turns import make_turns
    from thinkact.schema import read_conversations

    generate(out, seed=seed, sizes={"train": max(200, n // 4), "test": 1, "ood": 1}, coldstart=8, progress=False)
    turns = make_turns(read_conversations(out / "train.jsonl"), keep_reasoning=True)
    if len(turns) < n:
        raise SystemExit(f"only {len(turns)} turns generated, {n} asked")
    return turns[:n]


def fake_output(sample: TurnSample, rng: random.Random) -> str:
    t = sample.target
    u = rng.random()
    if u < 0.40:
        return grammar.render(t, think=True)
    if u < 0.55:
        return grammar.render(t, think=False)
    if u < 0.70:  # a near miss
        if t.kind == "tool_call":
            calls = []
            for c in t.tool_calls:
                args = dict(c.arguments)
                if args:
                    key = rng.choice(sorted(args))
                    args[key] = str(args[key])[::-1] + "x"
                calls.append(ToolCall(name=c.name, arguments=args))
            return grammar.render(Target(kind="tool_call", tool_calls=calls, reasoning=t.reasoning))
        words = t.content.split()
        kept = " ".join(w for w in words if rng.random() < 0.7) or "ok"
        return grammar.render(Target(kind="reply", content=kept, reasoning=t.reasoning))
    if u < 0.80:  # the other kind of action
        if t.kind == "tool_call":
            return grammar.render(Target(kind="reply", content="Let me check that for you.", reasoning=t.reasoning))
        name = sample.tools[0]["name"] if sample.tools else "lookup"
        return grammar.render(Target(kind="tool_call", tool_calls=[ToolCall(name=name, arguments={"id": "X1"})],
                                     reasoning=t.reasoning))
    if u < 0.90:  # malformed
        text = grammar.render(t, think=True)
        kind = rng.randrange(3)
        if kind == 0:
            return text.replace("}", "", 1) if "}" in text else text + " {"
        if kind == 1:
            return text.replace(grammar.THINK_CLOSE, "", 1)
        return text + "\nAnything else?"
    long = " ".join([t.reasoning or "I should look at the request carefully."] * 12)
    return grammar.render(t.model_copy(update={"reasoning": long}), think=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="keep gold, predictions and scores here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp())
    try:
        gold = make_gold(tmp / "data", args.n, args.seed)
        rng = random.Random(args.seed)
        write_jsonl(tmp / "gold.jsonl", gold)
        write_jsonl(tmp / "pred.jsonl", [{"id": s.id, "output": fake_output(s, rng)} for s in gold])
        cmd = [str(Path(sys.executable).with_name("thinkact")), "score", "--gold", str(tmp / "gold.jsonl"),
               "--pred", str(tmp / "pred.jsonl"), "--out", str(tmp / "scores.json")]
        if not Path(cmd[0]).is_file():
            cmd[:1] = [sys.executable, "-m", "thinkact.cli"]
        walls, cpus = [], []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(round(time.perf_counter() - t0, 3))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 3))
        metrics = json.loads((tmp / "scores.json").read_text())["metrics"]
        print(json.dumps({"n_predictions": args.n, "wall_s_best": min(walls), "wall_s": walls,
                          "cpu_s_best": min(cpus), "cpu_s": cpus,
                          "metrics": {k: v for k, v in metrics.items() if not isinstance(v, dict)}}, indent=2))
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for name in ("gold.jsonl", "pred.jsonl", "scores.json"):
                shutil.copy(tmp / name, args.keep / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
