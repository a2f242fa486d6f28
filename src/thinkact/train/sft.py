"""Base SFT and the cold start: TRL's SFTTrainer on {prompt, completion} rows, loss on the
completion only.

Base SFT renders the action alone (think=False); the cold start continues from the SFT model on
the small reasoning set with the think block before each action (think=True). Both are the same
trainer with different data and settings.
"""

from __future__ import annotations

import random
import re
from typing import Any

from thinkact.schema import DataError, TurnSample, read_turns
from thinkact.train.config import StageConfig, trainer_kwargs
from thinkact.train.datasets import sft_dataset
from thinkact.train.models import load_model_and_tokenizer


def lora_config(settings: Any) -> Any:
    if settings.lora is None:
        return None
    from peft import LoraConfig

    lora = settings.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type="CAUSAL_LM")


def mixed_turns(path: str | None, n: int, seed: int) -> list[TurnSample]:
    """`n` turns drawn (seeded) from `path`, their reasoning removed."""
    if not path:
        raise DataError("coldstart mix > 0 needs mix_data: the training turns to mix in")
    pool = read_turns(path)
    picked = random.Random(seed).sample(pool, min(n, len(pool)))
    return [t.model_copy(update={"target": t.target.model_copy(update={"reasoning": None})}) for t in picked]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentences(text: str, n: int) -> str:
    """The first `n` sentences of `text` (split after . ! or ? followed by a space)."""
    return " ".join(_SENTENCE_END.split(text.strip())[:n])


def shorten_reasoning(samples: list[TurnSample], n: int) -> list[TurnSample]:
    return [t.model_copy(update={"target": t.target.model_copy(
                update={"reasoning": first_sentences(t.target.reasoning, n)})})
            if t.target.reasoning else t for t in samples]


def build_sft_trainer(cfg: StageConfig, output_dir: str) -> Any:
    from trl import SFTConfig, SFTTrainer

    s = cfg.train
    samples = read_turns(cfg.data)
    if s.think and not any(x.target.reasoning for x in samples):
        raise DataError("think is on but no sample carries reasoning", file=cfg.data)
    if getattr(s, "reasoning_sentences", None):
        samples = shorten_reasoning(samples, s.reasoning_sentences)
    styles = [("think" if s.think else "action")] * len(samples)
    if getattr(s, "mix", 0):
        mixed = mixed_turns(cfg.mix_data, s.mix, s.seed)
        samples, styles = samples + mixed, styles + [s.mix_style] * len(mixed)
    model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.chat_template)
    dataset, dropped = sft_dataset(samples, tokenizer, think=styles, max_length=s.max_length)
    if dropped:
        print(f"{cfg.stage}: left out {dropped} of {len(samples)} samples longer than {s.max_length} tokens")
    args = SFTConfig(**trainer_kwargs(s, output_dir), max_length=s.max_length,
                     completion_only_loss=True, packing=False, dataset_num_proc=None,
                     train_sampling_strategy="group_by_length" if s.group_by_length else "random")
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=lora_config(s))
