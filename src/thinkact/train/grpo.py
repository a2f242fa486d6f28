"""GRPO: TRL's GRPOTrainer from the cold-start model on training turns.

With `shared_prefix` (the default) the trainer is `SharedPrefixGRPOTrainer`, which computes
each group's prompt once in rollouts and log-prob passes (train.prefix_grpo).

Prompt = the context (a plain string through the chat template); completion = one assistant
action. One reward function per component of the composite reward, combined by
`reward_weights`, so TRL logs each component (rewards/<component>/mean) beside the total.
thinkact logs a metric of its own beside them, `reasoning_length`: the mean words of
reasoning in the step's completions (and, with `shared_prefix`, `skipped_groups`).
"""

from __future__ import annotations

from typing import Any, Callable

from thinkact.grammar import parse
from thinkact.models import load_model_and_tokenizer
from thinkact.rewards import reasoning_words
from thinkact.schema import read_turns
from thinkact.train.config import GRPOSettings, StageConfig, on_gpu, trainer_kwargs
from thinkact.train.datasets import grpo_dataset
from thinkact.train.sft import lora_config


class LogReasoningLength:
    """A reward function that also logs `reasoning_length`: the mean words of reasoning in the
    step's completions (a class, not a closure, so it pickles like the functions it wraps)."""

    def __init__(self, func: Callable[..., list]):
        self.func = func
        self.__name__ = func.__name__  # TRL logs the reward under this name

    def __call__(self, *args: Any, completions: list | None = None, log_metric: Callable | None = None,
                 **kwargs: Any) -> list:
        if log_metric is not None and completions:
            texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
            words = [reasoning_words(parse(t).reasoning) for t in texts]
            log_metric("reasoning_length", sum(words) / len(words))
        return self.func(*args, completions=completions, log_metric=log_metric, **kwargs)


def reward_funcs(settings: GRPOSettings) -> tuple[list[Callable], list[float]]:
    """The composite reward as TRL reward functions and their weights. The reasoning must be
    there when the stage thinks, and absent (or empty) when it does not."""
    from thinkact.rewards import make_trl_reward_funcs

    r = settings.reward
    funcs, weights = make_trl_reward_funcs(r.weights, think="required" if settings.think else "off",
                                           answer_method=r.answer_method, budget=r.budget,
                                           binary=r.kind == "binary")
    return [LogReasoningLength(funcs[0]), *funcs[1:]], list(weights)


def use_vllm(settings: GRPOSettings) -> bool:
    """`trl.use_vllm` where the config sets it, else whether vLLM is installed and a GPU present."""
    if "use_vllm" in settings.trl:
        return bool(settings.trl["use_vllm"])
    from trl.import_utils import is_vllm_available

    return on_gpu() and is_vllm_available()


def grpo_args(settings: GRPOSettings, output_dir: str, weights: list[float]) -> Any:
    from trl import GRPOConfig

    return GRPOConfig(**trainer_kwargs(settings, output_dir, use_vllm=use_vllm(settings)), reward_weights=weights)


def build_grpo_trainer(cfg: StageConfig, output_dir: str) -> Any:
    if cfg.train.shared_prefix:
        from thinkact.train.prefix_grpo import SharedPrefixGRPOTrainer as GRPOTrainer
    else:
        from trl import GRPOTrainer

    s = cfg.train
    samples = read_turns(cfg.data)
    model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.chat_template)
    dataset, dropped = grpo_dataset(samples, tokenizer, max_prompt_length=s.max_prompt_length)
    if dropped:
        print(f"grpo: left out {dropped} of {len(samples)} prompts longer than {s.max_prompt_length} tokens")
    funcs, weights = reward_funcs(s)
    return GRPOTrainer(model=model, reward_funcs=funcs, args=grpo_args(s, output_dir, weights),
                       train_dataset=dataset, processing_class=tokenizer, peft_config=lora_config(s))
