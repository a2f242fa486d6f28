"""The quickstart base model: tokenizer, generated corpus, small Qwen3, copy probe, and the
pretraining loop that builds the checkpoint shipped in thinkact/assets/quickstart-base."""

from __future__ import annotations

from importlib import import_module
from importlib.resources import files
from pathlib import Path
from typing import Any

QUICKSTART_MODEL_DIR = Path(str(files("thinkact") / "assets" / "quickstart-base"))

# Imported on first use: reading the path above should not load torch.
_LAZY = {"PretrainConfig": "loop", "pretrain": "loop", "copy_probe": "probe"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"thinkact.pretrain.{_LAZY[name]}"), name)
    raise AttributeError(name)


__all__ = ["QUICKSTART_MODEL_DIR", "PretrainConfig", "pretrain", "copy_probe"]
