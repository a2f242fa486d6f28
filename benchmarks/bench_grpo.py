"""GRPO throughput: thinkact's shared-prefix trainer against bare TRL, printed as JSON.

Both runners train the quickstart preset's GRPO step (its model, `compact_tools` chat template,
learning rate, temperature, loss, reward functions and weights; 32 completions per step in groups
of 8, at most 96 completion tokens) on the same prompts: training turns of the bundled benchmark.
The cold-start model is not shipped; the shipped base model has its architecture and shapes.

- `bare_trl`: TRL's GRPOTrainer built as a plain script would (benchmarks/bare_trl_grpo.py).
- `thinkact`: `thinkact.train.grpo.build_grpo_trainer` with the preset's settings
  (`shared_prefix` on: `SharedPrefixGRPOTrainer`).
- `thinkact_no_skip` (with --no-skip-variant): the same with tied groups computed like the
  others, to show what sharing the prompt buys alone.

Each run is its own process (peak memory is its maximum resident set), runners alternate, and
each figure leaves out the first step (warm-up); the summary compares the best run of each
(and each repeat's pair). Per step, the time is split into generation
(rollouts), log-prob passes (forwards: policy, and old/reference when TRL needs them), backward,
rewards, and the rest (optimizer, decoding, logging). Completions per second counts a step's 32
completions over its wall time; mean completion length is reported since sampling differs.

    python benchmarks/bench_grpo.py                 # 2 alternating runs of each, 5 steps a run
    python benchmarks/bench_grpo.py --repeats 3 --steps 6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNERS = ("bare_trl", "thinkact")


def instrument(trainer) -> dict:
    """Wrap the trainer's phases with clocks; returns {step: {phase: seconds}} filled while training."""
    from transformers import TrainerCallback

    steps: list[dict] = []
    current = defaultdict(float)
    depth = {"logps": 0}

    def timed(name, fn, nested=None):
        def wrapper(*args, **kwargs):
            if nested is not None and depth[nested]:
                return fn(*args, **kwargs)
            if nested is not None:
                depth[nested] += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                current[name] += time.perf_counter() - t0
                if nested is not None:
                    depth[nested] -= 1
        return wrapper

    trainer._generate_single_turn = timed("generation", trainer._generate_single_turn)
    trainer._calculate_rewards = timed("rewards", trainer._calculate_rewards)
    trainer._get_per_token_logps_and_entropies = timed("logprob_passes", trainer._get_per_token_logps_and_entropies,
                                                       nested="logps")
    trainer.accelerator.backward = timed("backward", trainer.accelerator.backward)

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            current.clear()
            current["_start"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            total = time.perf_counter() - current.pop("_start")
            phases = {k: round(v, 4) for k, v in current.items()}
            phases["other"] = round(total - sum(current.values()), 4)
            phases["total"] = round(total, 4)
            steps.append(phases)

    trainer.add_callback(Clock())
    return {"steps": steps}


def build_bare(model_dir: str, template: str, data: str, out: str, g, steps: int):
    """TRL's GRPOTrainer as benchmarks/bare_trl_grpo.py builds it."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from thinkact.chat import build_prompt
    from thinkact.rewards import make_trl_reward_funcs
    from thinkact.schema import read_turns

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = template
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    dataset = Dataset.from_list([{"prompt": build_prompt(tok, s), "target": s.target.model_dump_json(exclude_none=True),
                                  "tools": json.dumps(s.tools)} for s in read_turns(data)])
    funcs, weights = make_trl_reward_funcs(g.reward.weights, think="required", budget=g.reward.budget)
    t = g.trl_value
    config = GRPOConfig(
        output_dir=out, learning_rate=t("learning_rate"), max_steps=steps,
        per_device_train_batch_size=t("per_device_train_batch_size"), num_generations=t("num_generations"),
        max_completion_length=t("max_completion_length"), mask_truncated_completions=t("mask_truncated_completions"),
        reward_weights=weights, beta=t("beta"), loss_type=t("loss_type"), temperature=t("temperature"),
        top_p=t("top_p"), seed=g.seed, data_seed=g.seed, lr_scheduler_type=t("lr_scheduler_type"), logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, bf16=False, fp16=False, activation_checkpointing=False,
        disable_tqdm=True)
    return GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=dataset, processing_class=tok)


def build_thinkact(model_dir: str, template: str, data: str, out: str, g, steps: int):
    from thinkact.train.config import StageConfig
    from thinkact.train.grpo import build_grpo_trainer

    cfg = StageConfig(stage="grpo", model=model_dir, chat_template=template, data=data, out=out,
                      train=g.with_trl(max_steps=steps, logging_steps=1, save_steps=10**6))
    return build_grpo_trainer(cfg, out)


def child(args) -> None:
    """One run: build the runner's trainer, train `steps` steps, print its figures as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    from thinkact.train.config import load_pipeline_config
    from thinkact.models import read_chat_template, resolve_model

    preset = load_pipeline_config(preset="quickstart")
    g = preset.grpo.model_copy(update={"seed": args.seed, "max_prompt_length": None,
                                       "shared_prefix": args.runner != "bare_trl"})
    model_dir = resolve_model(preset.model.name)
    with tempfile.TemporaryDirectory() as out:
        if args.runner == "bare_trl":
            trainer = build_bare(model_dir, read_chat_template(preset.model.chat_template), args.data, out, g, args.steps)
        else:
            trainer = build_thinkact(model_dir, preset.model.chat_template, args.data, out, g, args.steps)
            if args.runner == "thinkact_no_skip":
                trainer._can_skip = lambda inputs: False
        clock = instrument(trainer)
        trainer.train()
    steps = clock["steps"][1:]  # the first step pays for warm-up
    logs = [r for r in trainer.state.log_history if "completions/mean_length" in r][1:]
    mean = {k: round(sum(s[k] for s in steps) / len(steps), 3) for k in steps[0]}
    batch = g.trl_value("per_device_train_batch_size")
    print(json.dumps({
        "runner": args.runner, "steps_timed": len(steps), "completions_per_step": batch,
        "seconds_per_step": mean["total"], "completions_per_s": round(batch / mean["total"], 3),
        "seconds_per_step_by_phase": mean,
        "mean_completion_length": round(sum(r["completions/mean_length"] for r in logs) / len(logs), 1),
        "skipped_groups_per_step": (round(sum(r.get("skipped_groups", 0) for r in logs) / len(logs), 2)
                                    if args.runner != "bare_trl" else None),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def run(runner: str, data: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", runner, "--data", str(data), "--steps", str(args.steps),
           "--seed", str(args.seed), "--threads", str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{runner} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="steps per run; the first is not timed")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each runner")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--no-skip-variant", action="store_true", help="also time thinkact with tied groups computed")
    ap.add_argument("--child", choices=[*RUNNERS, "thinkact_no_skip"], help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.runner = args.child
        child(args)
        return

    sys.path.insert(0, str(HERE))
    from bench_train import make_data

    runners = [*RUNNERS, "thinkact_no_skip"] if args.no_skip_variant else list(RUNNERS)
    results: dict[str, list] = {r: [] for r in runners}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp) / "data", args.seed)
        for _ in range(args.repeats):
            for r in runners:
                results[r].append(run(r, data, args))
    best = {r: min(results[r], key=lambda x: x["seconds_per_step"]) for r in runners}
    summary = {f"{r}_completions_per_s": best[r]["completions_per_s"] for r in runners}
    summary["speedup"] = round(best["thinkact"]["completions_per_s"] / best["bare_trl"]["completions_per_s"], 2)
    summary["speedup_per_repeat"] = [round(t["completions_per_s"] / b["completions_per_s"], 2)
                                     for t, b in zip(results["thinkact"], results["bare_trl"])]
    summary["peak_rss_mb"] = {r: max(x["peak_rss_mb"] for x in results[r]) for r in runners}
    summary["seconds_per_step_by_phase"] = {r: best[r]["seconds_per_step_by_phase"] for r in runners}
    print(json.dumps({"settings": {"preset": "quickstart", "completions_per_step": 32, "num_generations": 8,
                                   "max_completion_length": 96, "steps_per_run": args.steps,
                                   "repeats": args.repeats, "threads": args.threads},
                      "summary": summary, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
