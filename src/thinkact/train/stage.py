"""Run one training stage, resumably.

A stage folder holds:
    config.yaml        the resolved stage config (a rerun with other settings is refused)
    checkpoint-<step>/ TRL checkpoints while training (removed once the model is saved)
    train_log.jsonl    every logged step
    runs/              TensorBoard events, when the config reports to tensorboard
    model/             the final model, its tokenizer and config.yaml; present = stage done

Killed at any moment and run again, a stage continues from its last complete checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from transformers import PrinterCallback

from thinkact.rundir import CONFIG, LOG, MODEL, stage_done, tmp_beside
from thinkact.schema import DataError, write_atomic
from thinkact.train.callbacks import JsonlLogger, RichProgress, trim_log
from thinkact.train.config import StageConfig, comparable, dump_config, upgrade_saved_stage


def last_checkpoint(folder: str | Path) -> tuple[str | None, int]:
    """The newest complete checkpoint and its step. The trainer writes trainer_state.json last,
    so a checkpoint without a readable one was cut short: it is removed."""
    folder = Path(folder)
    best, best_step = None, 0
    if not folder.is_dir():
        return None, 0
    for ckpt in sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])):
        try:
            state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
            step = int(state["global_step"])
        except (OSError, ValueError, KeyError):
            shutil.rmtree(ckpt, ignore_errors=True)
            continue
        if step >= best_step:
            best, best_step = str(ckpt), step
    return best, best_step


def _identity(cfg: StageConfig) -> dict[str, Any]:
    # What must not change between a run and its resumption: the stage and its settings.
    # Paths may be spelt differently (relative, absolute) without changing the work.
    return {"stage": cfg.stage, "chat_template": cfg.chat_template, "mixed": bool(cfg.mix_data),
            "train": comparable(cfg.train)}


def check_resumable(cfg: StageConfig) -> None:
    """Refuse to continue a stage that was started with other settings."""
    saved = Path(cfg.out) / CONFIG
    if not saved.is_file():
        return
    import yaml

    try:
        old = StageConfig.model_validate(upgrade_saved_stage(yaml.safe_load(saved.read_text(encoding="utf-8"))))
    except Exception:  # unreadable: treat as changed
        old = None
    if old is None or _identity(old) != _identity(cfg):
        raise DataError(f"the stage in {cfg.out} was started with other settings; "
                        "remove the folder, pass --overwrite, or write to another --out", file=saved)


def run_stage(cfg: StageConfig, build_trainer: Callable[[StageConfig, str], Any], *,
              overwrite: bool = False, console: Any = None, callbacks: tuple = ()) -> Path:
    """Train one stage (or finish a killed one) and save its model; returns the model folder."""
    from accelerate import PartialState

    main = PartialState().is_main_process  # under `accelerate launch`, one process writes files
    out = Path(cfg.out)
    if overwrite and out.exists() and main:
        shutil.rmtree(out)
    check_resumable(cfg)
    if stage_done(out):
        return out / MODEL
    text = dump_config(cfg)
    ckpt, step = last_checkpoint(out)
    if main:
        write_atomic(out / CONFIG, text)
        trim_log(out / LOG, step if ckpt else 0)
    PartialState().wait_for_everyone()
    quiet_libraries()
    trainer = build_trainer(cfg, str(out))
    trainer.remove_callback(PrinterCallback)  # the progress bar shows the figures; the log keeps them
    trainer.add_callback(JsonlLogger(out / LOG))
    trainer.add_callback(RichProgress(cfg.stage, console=console))
    for cb in callbacks:
        trainer.add_callback(cb)
    trainer.train(resume_from_checkpoint=ckpt)
    final = save_trained(trainer, out / MODEL, text)
    if main:  # the model is safe: the optimizer states are no longer needed
        for ckpt in out.glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)
    return final


def save_trained(trainer: Any, final: Path, config_text: str) -> Path:
    """Save the trained model as a plain HF folder (LoRA merged in), atomically."""
    tmp = tmp_beside(final)
    if trainer.accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):  # PEFT: ship the merged weights, not an adapter
        if trainer.accelerator.is_main_process:
            model.merge_and_unload().save_pretrained(tmp)
    else:
        trainer.save_model(str(tmp))  # gathers sharded weights under DeepSpeed / FSDP
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(tmp)
        (tmp / CONFIG).write_text(config_text, encoding="utf-8")
        for junk in ("training_args.bin",):
            (tmp / junk).unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    trainer.accelerator.wait_for_everyone()
    return final


def quiet_libraries() -> None:
    """No per-file progress bars from datasets / transformers under thinkact's own, and no
    deprecation notice about calls thinkact does not make."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def train_stage(cfg: StageConfig, *, overwrite: bool = False, console: Any = None,
                callbacks: tuple = ()) -> Path:
    """`thinkact train <stage>`: the stage's trainer, run resumably."""
    if cfg.stage == "grpo":
        from thinkact.train.grpo import build_grpo_trainer as build
    elif cfg.stage == "grpo_episodes":
        from thinkact.train.grpo_episodes import build_episode_trainer as build
    else:
        from thinkact.train.sft import build_sft_trainer as build
    return run_stage(cfg, build, overwrite=overwrite, console=console, callbacks=callbacks)
