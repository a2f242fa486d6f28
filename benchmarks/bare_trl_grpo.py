"""The GRPO step thinkact runs, written as a plain TRL script: the reference for thinkact's
overhead. Same model, prompts, reward functions, batch and settings as `thinkact train grpo`
with the values below, nothing of thinkact's training code (no config layer, stage runner,
callbacks or logging). Prints JSON: seconds per step and completions/s over the steps after the
first (which pays for warm-up).

    python benchmarks/bare_trl_grpo.py --model MODEL_DIR --data TURNS.jsonl --steps 6
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from thinkact.chat import build_prompt
from thinkact.rewards import RewardWeights, make_trl_reward_funcs
from thinkact.schema import read_turns


class StepClock(TrainerCallback):
    def __init__(self):
        self.ends: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model folder (tokenizer with its chat template)")
    ap.add_argument("--chat-template", default=None, help="a .jinja file to use instead of the model's")
    ap.add_argument("--data", required=True, help="turn samples JSONL")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32, help="completions per step")
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--max-completion-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--beta", type=float, default=0.0)
    ap.add_argument("--loss-type", default="dapo")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--weights", default="{}", help="reward weights as JSON (defaults: thinkact.rewards)")
    ap.add_argument("--budget", type=int, default=64, help="reasoning words with full efficiency credit")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    tok = AutoTokenizer.from_pretrained(args.model)
    if args.chat_template:
        tok.chat_template = open(args.chat_template, encoding="utf-8").read()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    samples = read_turns(args.data)
    dataset = Dataset.from_list([{"prompt": build_prompt(tok, s), "target": s.target.model_dump_json(exclude_none=True),
                                  "tools": json.dumps(s.tools)} for s in samples])
    funcs, weights = make_trl_reward_funcs(RewardWeights(**json.loads(args.weights)), think="required",
                                           budget=args.budget)
    cpu = not torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, learning_rate=args.lr, max_steps=args.steps,
            per_device_train_batch_size=args.batch, num_generations=args.generations,
            max_completion_length=args.max_completion_length, reward_weights=weights,
            beta=args.beta, loss_type=args.loss_type, temperature=args.temperature, seed=args.seed,
            data_seed=args.seed,
            lr_scheduler_type="cosine", logging_steps=1, save_strategy="no", report_to="none",
            use_cpu=cpu, bf16=not cpu, fp16=False, activation_checkpointing=not cpu, disable_tqdm=True)
        clock = StepClock()
        trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=dataset,
                              processing_class=tok, callbacks=[clock])
        trainer.train()
    seconds = (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)
    print(json.dumps({"runner": "bare_trl", "steps": args.steps, "completions_per_step": args.batch,
                      "seconds_per_step": round(seconds, 3),
                      "completions_per_s": round(args.batch / seconds, 3)}))


if __name__ == "__main__":
    main()
