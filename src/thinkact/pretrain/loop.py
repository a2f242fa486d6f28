"""Pretraining: fit the tokenizer, then train the small Qwen3 on generated text until the copy
probe passes.

The recipe follows what made copying form quickly on this kind of CPU: learning rate 2e-3,
short contexts first, dense in repeated identifiers (until the emphasised copy tokens are
mostly right), then packed contexts of 1,024 tokens (the length of the quickstart's prompts),
and a cosine decay at the end. The loss covers every token, with the tokens
a model must copy or look up weighted up. Every batch is a pure function of (seed, step), so a
run that is killed and restarted from its last checkpoint sees exactly the data it would have.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from thinkact.pretrain.corpus import TextSource, document
from thinkact.pretrain.model import build_model, generation_config, n_params
from thinkact.pretrain.probe import copy_probe, encode_segments
from thinkact.pretrain.tokenizer import save_tokenizer, train_tokenizer
from thinkact.progress import Progress


@dataclass
class PretrainConfig:
    max_steps: int = 5000
    seed: int = 0
    vocab_size: int = 1536
    sizes: dict[str, int] = field(default_factory=dict)  # overrides of model.QUICKSTART
    short_tokens: int = 4096  # tokens per batch while contexts are short
    long_tokens: int = 4096
    short_len: int = 128
    long_len: int = 1024
    # document mix per phase: shares of (copy, lookup, repeat) documents, the rest prose; and
    # the filler characters a long-phase document draws (short-phase documents draw 0-120)
    short_mix: tuple[float, float, float] = (0.5, 0.0, 0.4)
    long_mix: tuple[float, float, float] = (0.4, 0.2, 0.2)
    long_chars: tuple[int, int] = (200, 3000)
    switch_acc: float = 0.9  # emphasised-token accuracy that ends the short phase ...
    short_max_steps: int = 1000  # ... or this many steps, whichever comes first
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup: int = 50
    decay_frac: float = 0.25  # last share of max_steps: cosine decay to min_lr
    emphasis: float = 5.0  # loss weight of tokens to copy or look up
    pool_size: int = 20000  # domain texts drawn once and sampled from
    probe_every: int = 100
    probe_n: int = 200
    target: float = 0.95
    threads: int = 0  # torch threads; 0 keeps torch's default


def domain_source() -> TextSource:
    """The bundled domains' natural text (train split only: test and ood stay unseen)."""
    from thinkact.bench.corpus import domain_text

    return lambda seed, n: domain_text(seed, n, splits=("train",))


def lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    decay_from = int(cfg.max_steps * (1 - cfg.decay_frac))
    if step < decay_from:
        return cfg.lr
    t = (step - decay_from) / max(1, cfg.max_steps - decay_from)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def make_batch(tokenizer: Any, pool: list[str], cfg: PretrainConfig, step: int, long: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed rows of documents separated by the pad/end-of-text token; returns input ids and
    per-token loss weights (0 on padding)."""
    rng = random.Random(f"{cfg.seed}:{step}")
    seq, tokens = (cfg.long_len, cfg.long_tokens) if long else (cfg.short_len, cfg.short_tokens)
    rows = max(1, tokens // seq)
    # short contexts: one copy per document and little filler; long: the full mix
    chars, mix = (cfg.long_chars, cfg.long_mix) if long else ((0, 120), cfg.short_mix)
    sep = tokenizer.pad_token_id
    x = torch.full((rows, seq), sep, dtype=torch.long)
    w = torch.zeros((rows, seq))
    for r in range(rows):
        ids: list[int] = []
        wts: list[float] = []
        while len(ids) < seq:
            segs = document(rng, pool, rng.randint(*chars), *mix)
            d_ids, d_mask = encode_segments(tokenizer, segs)
            ids += d_ids + [sep]
            wts += [cfg.emphasis if m else 1.0 for m in d_mask] + [1.0]
        x[r] = torch.tensor(ids[:seq])
        w[r] = torch.tensor(wts[:seq])
    return x, w


def weighted_loss(model: Any, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Weighted next-token loss, and the accuracy on emphasised tokens (for the phase switch)."""
    logits = model(input_ids=x).logits[:, :-1]
    target, wt = x[:, 1:], w[:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1),
                                            reduction="none").view_as(target)
    loss = (nll * wt).sum() / wt.sum()
    emph = wt > 1
    acc = ((logits.argmax(-1) == target) & emph).sum().item() / max(1, emph.sum().item())
    return loss, acc


def _save_checkpoint(ckpt: Path, model: Any, optim: Any, state: dict[str, Any]) -> None:
    """Write to a fresh folder, then swap it in, so a kill never leaves a torn checkpoint."""
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optim.state_dict(), "state": state}, tmp / "trainer_state.pt")
    old = ckpt.with_name(ckpt.name + ".old")
    if ckpt.exists():
        os.replace(ckpt, old)
    os.replace(tmp, ckpt)
    shutil.rmtree(old, ignore_errors=True)


def _fit_tokenizer(out: Path, pool: list[str], cfg: PretrainConfig):
    rng = random.Random(f"tokenizer:{cfg.seed}")
    docs = ["".join(t for t, _ in document(rng, pool, rng.randint(200, 1500), 0.4, 0.2))
            for _ in range(3000)]
    texts: Iterator[str] = iter(pool + docs)  # the pool holds the tools' JSON schemas too
    tok = train_tokenizer(texts, cfg.vocab_size)
    save_tokenizer(tok, out)
    return tok


def pretrain(out_dir: str | Path, cfg: PretrainConfig | None = None, *,
             text_source: TextSource | None = None, stop_after: int | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) the base model in `out_dir`; returns the run's summary.

    `stop_after` ends the run after that many steps in this call (a checkpoint is written), as
    if it were killed; calling again resumes it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = cfg or PretrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    source = text_source or domain_source()
    pool = list(source(cfg.seed, cfg.pool_size))
    probe_src = list(source(10_000_019 + cfg.seed, 2000))

    if (out / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(out)
    else:
        tokenizer = _fit_tokenizer(out, pool, cfg)

    ckpt = out / "checkpoint"
    optim_state = None
    state: dict[str, Any] = {"step": 0, "long_from": None, "wall_s": 0.0, "tokens": 0,
                             "history": [], "config": asdict(cfg)}
    if (ckpt / "trainer_state.pt").exists():
        model = AutoModelForCausalLM.from_pretrained(ckpt)
        saved = torch.load(ckpt / "trainer_state.pt", weights_only=False)
        optim_state, state = saved["optimizer"], saved["state"]
        log(f"resuming from step {state['step']}")
    else:
        model = build_model(tokenizer, **cfg.sizes)
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01)
    if optim_state:
        optim.load_state_dict(optim_state)

    passed = bool(state["history"]) and state["history"][-1]["probe"] >= cfg.target
    done_here = 0
    acc_ema = 0.0
    columns = (TextColumn("pretrain"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("pretrain", total=cfg.max_steps, completed=state["step"], info="")
        while not passed and state["step"] < cfg.max_steps:
            step = state["step"]
            long = state["long_from"] is not None
            t0 = time.perf_counter()
            x, w = make_batch(tokenizer, pool, cfg, step, long)
            for g in optim.param_groups:
                g["lr"] = lr_at(step, cfg)
            loss, acc = weighted_loss(model, x, w)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            dt = time.perf_counter() - t0
            state["wall_s"] += dt
            state["tokens"] += int((w > 0).sum())
            state["step"] = step = step + 1
            done_here += 1
            acc_ema = acc if step == 1 else 0.9 * acc_ema + 0.1 * acc
            if not long and (acc_ema >= cfg.switch_acc or step >= cfg.short_max_steps):
                state["long_from"] = step
            info = (f"loss {loss.item():.3f} copy-tok {acc_ema:.2f} {'long' if long else 'short'} "
                    f"{x.numel() / dt:,.0f} tok/s")
            if step % cfg.probe_every == 0 or step == cfg.max_steps or done_here == stop_after:
                t1 = time.perf_counter()
                score = copy_probe(model, tokenizer, n=cfg.probe_n, seed=cfg.seed, pool=probe_src)
                state["wall_s"] += time.perf_counter() - t1
                state["history"].append({"step": step, "loss": round(loss.item(), 4), "copy_tok": round(acc_ema, 3),
                                         "long": long, "probe": score,
                                         "wall_s": round(state["wall_s"], 1)})
                log(json.dumps(state["history"][-1]))
                passed = score >= cfg.target
                _save_checkpoint(ckpt, model, optim, state)
                info += f" probe {score:.2f}"
            bar.update(task, completed=step, info=info)
            if done_here == stop_after:
                break

    summary = {"step": state["step"], "probe": state["history"][-1]["probe"] if state["history"] else None,
               "passed": passed, "params": n_params(model), "vocab_size": len(tokenizer),
               "wall_s": round(state["wall_s"], 1), "tokens": state["tokens"],
               "tokens_per_s": round(state["tokens"] / max(state["wall_s"], 1e-9)),
               "long_from": state["long_from"], "history": state["history"], "config": asdict(cfg)}
    if passed or state["step"] >= cfg.max_steps:
        model.save_pretrained(out)
        generation_config(tokenizer).save_pretrained(out)
        (out / "pretrain_log.json").write_text(json.dumps(summary, indent=1))
    return summary
