"""Base SFT and the cold start: TRL's SFTTrainer on {prompt, completion} rows, loss on the
completion only (with `merge_turns`, on tokenized rows of whole conversations whose
`completion_mask` marks every action; see train.datasets.merge_turns).

Base SFT renders each action after an empty think block (Qwen3's no-think form; `empty_think`);
the cold start continues from the SFT model on the small reasoning set with the reasoning in
that block (think=True), optionally with replayed training turns (`replay_turns`). Both are the
same trainer with different data and settings.
"""

from __future__ import annotations

import random
import re
from typing import Any

from thinkact.models import load_model_and_tokenizer, merged
from thinkact.schema import DataError, TurnSample, read_turns
from thinkact.train.config import StageConfig, trainer_kwargs
from thinkact.train.datasets import sft_dataset


def sft_kwargs(settings: Any, output_dir: str) -> dict[str, Any]:
    """The SFTConfig keywords of a stage: its rows are prompt + completion (or tokenized rows with
    a completion mask), the loss on the completion only, one sample per row."""
    return trainer_kwargs(settings, output_dir, completion_only_loss=True, packing=False)


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
        raise DataError("coldstart mix or replay > 0 needs mix_data: the training turns to draw from")
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


REPLAY = "replay.jsonl"


def replay_turns(cfg: StageConfig, reasoning_set: list[TurnSample]) -> list[TurnSample]:
    """`cfg.train.replay` training turns carrying reasoning the model wrote itself (see
    ColdstartSettings.replay): a first pass trains the stage's model on the reasoning set alone,
    then writes its reasoning for each turn, greedily, as evaluation would. Kept in the stage
    folder, so a resumed stage reuses the same turns."""
    import tempfile
    from pathlib import Path

    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from thinkact.evaluate.generation import HFGenerator
    from thinkact.grammar import parse
    from thinkact.metrics import score_sample
    from thinkact.schema import write_jsonl

    s = cfg.train
    path = Path(cfg.out) / REPLAY
    if path.is_file():
        return read_turns(path)
    pool = mixed_turns(cfg.mix_data, s.replay, s.seed + 1)
    print(f"{cfg.stage}: replay: a first pass on {len(reasoning_set)} reasoning turns, then its "
          f"reasoning for {len(pool)} training turns")
    model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.chat_template)
    causal_mask_only(model)
    dataset, _ = sft_dataset(reasoning_set, tokenizer, think=True, max_length=s.trl_value("max_length"))
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(**{**sft_kwargs(s, tmp), "save_strategy": "no", "report_to": "none"})
        first = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                           peft_config=lora_config(s))
        first.remove_callback(PrinterCallback)  # no per-step dicts on the console
        first.train()
        model = merged(first.accelerator.unwrap_model(first.model))  # plain weights decode faster
    model.eval()
    outputs = HFGenerator(model, tokenizer, batch_size=32, max_new_tokens=s.replay_tokens).generate(pool)
    turns = []
    for t, o in zip(pool, outputs, strict=True):
        parsed = parse(o)
        # Whether the first pass got the whole turn right from this reasoning, in a well-formed
        # output: such reasoning led to the right action, and is worth learning (STaR).
        right = parsed.valid and bool(parsed.reasoning) and score_sample(t, o).turn_correct
        turns.append(t.model_copy(update={
            "target": t.target.model_copy(update={"reasoning": parsed.reasoning or None}),
            "meta": {**t.meta, "replay_right": right}}))
    written = sum(bool(t.target.reasoning) for t in turns)
    right = sum(t.meta["replay_right"] for t in turns)
    print(f"{cfg.stage}: replay: reasoning written for {written} of {len(turns)} turns, "
          f"{right} of them led to the right action")
    write_jsonl(path, turns)
    return turns


def bucketed_batches(lengths: list[int], batch_size: int, seed: int, window: int = 50) -> list[int]:
    """Sample indices whose consecutive `batch_size` slices are batches of similar length, the
    batches in random order.

    Shuffle, sort each window of `window` batches by length, cut it into batches, shuffle all
    full batches (leftovers go last). transformers' LengthGroupedSampler keeps each window in
    descending order instead, so an epoch walks from long prompts to short ones again and again;
    on the quickstart that order alone cost base SFT its call-or-reply decision (it ended each
    window on short first turns, mostly replies, and stopped calling tools).
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * window
    for w in range(0, len(order), span):
        chunk = sorted(order[w:w + span], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    rng.shuffle(full)
    return [i for b in full + [b for b in batches if len(b) < batch_size] for i in b]


class BucketedSampler:
    """`bucketed_batches` as a torch sampler; each pass (epoch) draws a new order."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        order = bucketed_batches(self.lengths, self.batch_size, self.seed + self.epoch)
        self.epoch += 1
        return iter(order)


def causal_mask_only(model: Any) -> None:
    """Let right-padded training batches reach attention without their padding mask.

    Under the causal mask a token never sees the pads after it, and pads carry no loss, so a
    right-padded batch computes the same loss without the padding mask; SDPA then runs its
    is_causal kernel instead of the masked one (12% more tokens/s in the quickstart's SFT on
    CPU; benchmarks/bench_train.py). Left-padded batches (a pad before a real token), cached
    forwards and anything outside training keep their mask.
    """
    def drop_mask(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        cached = kwargs.get("past_key_values") is not None or kwargs.get("cache") is not None
        if (module.training and not cached and mask is not None and mask.dim() == 2
                and bool((mask[:, 1:] <= mask[:, :-1]).all())):
            kwargs = {**kwargs, "attention_mask": None}
        return args, kwargs

    model.base_model.register_forward_pre_hook(drop_mask, with_kwargs=True)


def _bucketed_trainer_class() -> type:
    from trl import SFTTrainer

    class BucketedSFTTrainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset=None):
            data = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [len(ids) for ids in data["input_ids"]]
            return BucketedSampler(lengths, self.args.train_batch_size, self.args.seed)

    return BucketedSFTTrainer


def build_sft_trainer(cfg: StageConfig, output_dir: str) -> Any:
    from trl import SFTConfig, SFTTrainer

    s = cfg.train
    samples = read_turns(cfg.data)
    if s.think and not any(x.target.reasoning for x in samples):
        raise DataError("think is on but no sample carries reasoning", file=cfg.data)
    if getattr(s, "reasoning_sentences", None):
        samples = shorten_reasoning(samples, s.reasoning_sentences)
    styles = [("think" if s.think else "empty_think" if s.empty_think else "action")] * len(samples)
    reasoning_set = samples
    if getattr(s, "mix", 0):
        mixed = mixed_turns(cfg.mix_data, s.mix, s.seed)
        samples, styles = samples + mixed, styles + [s.mix_style] * len(mixed)
    if getattr(s, "replay", 0):
        replayed = replay_turns(cfg, reasoning_set)
        samples += replayed
        styles += ["think" if s.replay_learn_right and t.meta.get("replay_right") else "after_reasoning"
                   for t in replayed]
    model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.chat_template)
    causal_mask_only(model)
    max_length = s.trl_value("max_length")
    dataset, dropped = sft_dataset(samples, tokenizer, think=styles, max_length=max_length,
                                   merge=s.merge_turns)
    if dropped:
        print(f"{cfg.stage}: left out {dropped} of {len(samples)} samples longer than {max_length} tokens")
    if s.merge_turns:
        print(f"{cfg.stage}: {len(samples) - dropped} turns merged into {len(dataset)} rows")
    args = SFTConfig(**sft_kwargs(s, output_dir))
    trainer_class = _bucketed_trainer_class() if s.group_by_length else SFTTrainer
    return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora_config(s))
