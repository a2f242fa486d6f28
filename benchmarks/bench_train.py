"""Training throughput of thinkact's stages, printed as JSON.

- SFT: tokens/s (non-padding tokens, prompt and completion) and turns/s (turn samples, i.e.
  actions, trained a second) of `thinkact train sft` with the preset's settings; with its padding
  mask kept (train.sft.causal_mask_only off); in batches of 8; without merged conversations
  (one row per turn); then without length-grouped batches either.
- GRPO: completions/s of `thinkact train grpo`, and of the same GRPO step written as a bare TRL
  script (benchmarks/bare_trl_grpo.py: same model, prompts, rewards, batch, settings, seed), run
  alternately to share the machine's load fairly; thinkact's overhead is their ratio (negative:
  faster, with the shared-prefix trainer; benchmarks/bench_grpo.py breaks that down).

Each figure leaves out the first step (warm-up). Checkpoints are not saved inside the timed
steps (thinkact saves every `save_steps`; that is resumability, not the step).

    python benchmarks/bench_train.py                       # the shipped quickstart model
    python benchmarks/bench_train.py --model DIR --repeats 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

from transformers import TrainerCallback

from thinkact.train.config import GRPOSettings, SFTSettings, StageConfig, load_pipeline_config
from thinkact.models import read_chat_template, resolve_model
from thinkact.train.stage import train_stage

HERE = Path(__file__).resolve().parent


class Clock(TrainerCallback):
    """Step end times and epochs, and the trainer's token count at each logged step."""

    def __init__(self):
        self.ends: list[float] = []
        self.epochs: list[float] = []
        self.tokens: list[tuple[float, float]] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())
        self.epochs.append(state.epoch)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "num_tokens" in logs:
            self.tokens.append((time.perf_counter(), logs["num_tokens"]))


def make_data(out: Path, seed: int) -> Path:
    from thinkact.bench.generator import generate
    from thinkact.data.turns import make_turns
    from thinkact.schema import read_conversations, write_jsonl

    generate(out, seed=seed, sizes={"train": 60, "test": 1, "ood": 1}, coldstart=8, progress=False)
    path = out / "turns_train.jsonl"
    write_jsonl(path, make_turns(read_conversations(out / "train.jsonl"), keep_reasoning=False))
    return path


def bench_sft(model: str, template: str | None, data: Path, work: Path, settings: SFTSettings,
              keep_mask: bool = False) -> dict:
    """The preset's SFT settings (its epochs, or `max_steps`) on `data`, the first step left out."""
    clock = Clock()
    cfg = StageConfig(stage="sft", model=model, chat_template=template, data=str(data), out=str(work / "sft"),
                      train=settings.with_trl(logging_steps=1, save_steps=10**6))
    with mock.patch("thinkact.train.sft.causal_mask_only", lambda model: None) if keep_mask else nullcontext():
        train_stage(cfg, overwrite=True, callbacks=(clock,))
    (t0, n0), (t1, n1) = clock.tokens[1], clock.tokens[-1]
    turns = sum(1 for line in data.read_text().splitlines() if line.strip())
    elapsed = clock.ends[-1] - clock.ends[0]
    return {"steps": len(clock.ends), "batch": settings.trl_value("per_device_train_batch_size"),
            "merge_turns": settings.merge_turns,
            "group_by_length": settings.group_by_length, "padding_mask": keep_mask,
            "tokens_per_s": round((n1 - n0) / (t1 - t0), 1),
            "turns_per_s": round(turns * (clock.epochs[-1] - clock.epochs[0]) / elapsed, 2),
            "seconds_per_step": round(elapsed / (len(clock.ends) - 1), 3)}


def bench_grpo(model: str, template: str | None, data: Path, work: Path, steps: int, g: GRPOSettings) -> dict:
    clock = Clock()
    cfg = StageConfig(stage="grpo", model=model, chat_template=template, data=str(data), out=str(work / "grpo"),
                      train=g.with_trl(max_steps=steps, save_steps=10**6, logging_steps=1))
    train_stage(cfg, overwrite=True, callbacks=(clock,))
    seconds = (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)
    batch = g.trl_value("per_device_train_batch_size")
    return {"runner": "thinkact", "steps": steps, "completions_per_step": batch,
            "seconds_per_step": round(seconds, 3), "completions_per_s": round(batch / seconds, 3)}


def bench_bare(model: str, template: str | None, data: Path, steps: int, g: GRPOSettings, work: Path) -> dict:
    t = g.trl_value
    cmd = [sys.executable, str(HERE / "bare_trl_grpo.py"), "--model", model, "--data", str(data),
           "--steps", str(steps), "--batch", str(t("per_device_train_batch_size")),
           "--generations", str(t("num_generations")), "--max-completion-length", str(t("max_completion_length")),
           "--lr", str(t("learning_rate")), "--seed", str(g.seed), "--beta", str(t("beta")),
           "--loss-type", t("loss_type"), "--temperature", str(t("temperature")), "--budget", str(g.reward.budget),
           "--weights", g.reward.weights.model_dump_json()]
    if template:
        path = work / "template.jinja"
        path.write_text(read_chat_template(template))
        cmd += ["--chat-template", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quickstart", help="model, chat template and GRPO settings from this preset")
    ap.add_argument("--model", default=None, help="instead of the preset's model")
    ap.add_argument("--sft-steps", type=int, default=-1, help="-1: the preset's epochs over the 60-conversation set")
    ap.add_argument("--skip-grpo", action="store_true")
    ap.add_argument("--grpo-steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2, help="alternating thinkact / bare TRL GRPO runs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    preset = load_pipeline_config(preset=args.preset)
    model = resolve_model(args.model or preset.model.name)
    template = None if args.model else preset.model.chat_template
    g = preset.grpo.model_copy(update={"seed": args.seed, "max_prompt_length": None})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_data(work / "data", args.seed)
        # the preset's SFT settings; its padding mask kept; batches of 8; one row per turn; random batches too
        s = preset.sft.with_trl(max_steps=args.sft_steps).model_copy(update={"seed": args.seed})
        # (thinkact settings, TRL keys, padding mask kept)
        variants = [({}, {}, False), ({}, {}, True), ({}, {"per_device_train_batch_size": 8}, False),
                    ({"merge_turns": False}, {}, False), ({"merge_turns": False, "group_by_length": False}, {}, False)]
        sft = [bench_sft(model, template, data, work, s.with_trl(**trl).model_copy(update=own), keep_mask=keep)
               for own, trl, keep in variants]
        if args.skip_grpo:
            print(json.dumps({"model": model, "preset": args.preset, "sft": sft}, indent=2))
            return
        ours, bare = [], []
        for _ in range(args.repeats):
            ours.append(bench_grpo(model, template, data, work, args.grpo_steps, g))
            bare.append(bench_bare(model, template, data, args.grpo_steps, g, work))
    best_ours = min(r["seconds_per_step"] for r in ours)
    best_bare = min(r["seconds_per_step"] for r in bare)
    batch = g.trl_value("per_device_train_batch_size")
    print(json.dumps({
        "model": model, "preset": args.preset, "sft": sft,
        "grpo": {"thinkact": ours, "bare_trl": bare,
                 "thinkact_completions_per_s": round(batch / best_ours, 3),
                 "bare_trl_completions_per_s": round(batch / best_bare, 3),
                 "thinkact_slowdown": round(best_ours / best_bare - 1, 4)},
    }, indent=2))


if __name__ == "__main__":
    main()
