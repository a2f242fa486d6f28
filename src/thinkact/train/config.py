"""Training configuration: YAML files validated by pydantic, and the presets shipped with thinkact.

Two kinds of file:
- a *stage* config (`thinkact train sft|coldstart|grpo --config F.yaml`): which model to start
  from, which turn samples to train on, where to write, and the stage's settings;
- a *pipeline* config (`thinkact pipeline --preset NAME` or `--config F.yaml`): model, data,
  the settings of all three stages and of evaluation. Presets live in thinkact/recipes/.

A pipeline config may start from another with `base: <preset name or YAML path>`: the base's
keys are read first and the file's own keys merged over them (mappings key by key, anything
else replaced), so a recipe that changes only a few settings follows its base's others when
those change.

Every key is checked before any model loads: an unknown key or a bad value stops with the file,
the line and the key (and a close match for a misspelt key).
"""

from __future__ import annotations

import difflib
from dataclasses import fields as dataclass_fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from thinkact.episode_rewards import EpisodeWeights
from thinkact.rewards import RewardWeights
from thinkact.schema import DataError

STAGES = ("sft", "coldstart", "grpo")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Strict):
    """LoRA through PEFT; absent means full fine-tuning."""

    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainSettings(_Strict):
    """What every stage shares: optimisation, precision, checkpoints, logging."""

    learning_rate: PositiveFloat = 1e-4
    epochs: PositiveFloat = 1.0
    max_steps: int = Field(-1, ge=-1)  # > 0 overrides epochs
    batch_size: PositiveInt = 8  # per device (GRPO: completions, not prompts)
    grad_accum: PositiveInt = 1
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup",
                          "cosine_with_min_lr"] = "cosine"
    warmup: float = Field(0.0, ge=0)  # < 1: share of the steps; >= 1: a number of steps
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: PositiveFloat = 1.0
    max_length: PositiveInt = 1024  # SFT: prompt + completion tokens; longer samples are left out
    logging_steps: PositiveInt = 5
    save_steps: PositiveInt = 50  # checkpoints make a killed run resumable
    save_total_limit: PositiveInt = 1
    seed: int = 0
    # None = decide from the machine: on for a GPU (bf16 where supported), off on CPU, where
    # bf16 matmuls are ~100x slower and checkpointing only costs time.
    bf16: bool | None = None
    gradient_checkpointing: bool | None = None
    lora: LoraSettings | None = None
    report_to: list[Literal["tensorboard", "trackio", "wandb"]] = Field(default_factory=list)
    dataloader_num_workers: int = Field(0, ge=0)


class SFTSettings(TrainSettings):
    """Base SFT: the action without reasoning, loss on the completion only."""

    think: bool = False
    # Without thinking, the action follows an empty think block (Qwen3's form for a turn with no
    # reasoning), so every action is trained after `</think>` and the cold start only fills the
    # block. False: the action alone, as for models whose template knows no think block.
    empty_think: bool = True
    # Batches of samples of similar length, in random order (train.sft.bucketed_batches): less
    # padding, so more real tokens a second when prompt lengths vary as much as conversations do.
    group_by_length: bool = False
    # One row per conversation instead of one per turn (train.datasets.merge_turns): every
    # action of a conversation in one forward pass over its longest prompt.
    merge_turns: bool = False


class ColdstartSettings(SFTSettings):
    """Cold start: a short SFT on the small reasoning set, the think block before each action."""

    think: bool = True
    learning_rate: PositiveFloat = 5e-5
    epochs: PositiveFloat = 3.0
    # Training turns without reasoning added to the cold-start set, so a small model keeps its
    # actions while it learns the format. 0 = the method's cold start: the small reasoning set
    # alone. mix_style renders them (thinkact.train.datasets.RENDER_STYLES): "after_think" puts
    # an empty think block at the end of the prompt (Qwen3's form with thinking off), so the
    # model is not taught to skip reasoning; "think" puts it in the completion; "action" omits it.
    mix: int = Field(0, ge=0)
    mix_style: Literal["after_think", "think", "action"] = "after_think"
    # Keep only the first N sentences of each reasoning (None: all of it). A model too small to
    # ground three sentences of reasoning in the context makes them up, and the made-up text
    # leads its action astray; the first sentence (what the user wants) it can learn.
    reasoning_sentences: PositiveInt | None = None
    # Replay: `replay` training turns whose gold action is learned after reasoning the model
    # wrote itself. A first pass trains the reasoning set alone (same settings) and writes its
    # reasoning for these turns (greedy, at most `replay_tokens` tokens); the stage then trains
    # the SFT model on the reasoning set plus these turns, the loss on their actions only. The
    # reasoning set alone teaches a small model to think but not to act after its own thoughts
    # (96 examples of that against thousands of actions after an empty block); replay teaches
    # the actions it already knows to follow the reasoning it actually writes, with no more
    # reasoning labels than the reasoning set.
    replay: int = Field(0, ge=0)
    replay_tokens: PositiveInt = 64
    # Replayed turns whose first-pass output was right (well-formed, right action) are learned
    # whole, reasoning included: reasoning the model wrote that led to the right action, filtered
    # by outcome alone (STaR). The others keep the loss on the action.
    replay_learn_right: bool = True


class RewardSettings(_Strict):
    """The composite reward (thinkact.rewards): one TRL reward function per component, each
    logged; `weights` are normalised there so the best action scores 1."""

    weights: RewardWeights = Field(default_factory=RewardWeights)
    # "binary": 1 for a fully right action in a valid format, else 0 (rewards.binary_reward;
    # the weights then only shape what is logged, not what is learned)
    kind: Literal["composite", "binary"] = "composite"
    answer_method: Literal["f1", "rougeL", "embedding"] = "f1"
    budget: PositiveInt = 64  # reasoning words with full efficiency credit


class GRPOSettings(TrainSettings):
    """GRPO from the cold-start model: prompt = context, completion = one action."""

    learning_rate: PositiveFloat = 1e-6
    think: bool = True
    num_generations: int = Field(8, ge=2)  # group size
    beta: float = Field(0.0, ge=0)  # KL coefficient; 0 skips the reference model
    epsilon: PositiveFloat = 0.2
    epsilon_high: PositiveFloat | None = None  # DAPO's clip-higher
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: PositiveInt = 1
    temperature: PositiveFloat = 1.0
    top_p: float = Field(1.0, gt=0, le=1)
    max_completion_length: PositiveInt = 256
    mask_truncated_completions: bool = False
    max_prompt_length: PositiveInt | None = None  # longer prompts are left out of the GRPO set
    use_vllm: bool | None = None  # None = when vLLM is installed and a GPU is present
    vllm_mode: Literal["colocate", "server"] = "colocate"
    # Each distinct prompt computed once per group, in rollouts and in every log-prob pass
    # (train.prefix_grpo.SharedPrefixGRPOTrainer): TRL's results, several times faster when
    # prompts are long. Where it does not apply (vLLM rollouts, gradient checkpointing, ...)
    # that part runs TRL's own path, with a warning. False: TRL's GRPOTrainer as it is.
    shared_prefix: bool = True
    reward: RewardSettings = Field(default_factory=RewardSettings)

    @model_validator(mode="after")
    def _groups_fit(self) -> "GRPOSettings":
        if (self.batch_size * self.grad_accum) % self.num_generations:
            raise ValueError(
                f"batch_size x grad_accum ({self.batch_size} x {self.grad_accum}) counts completions and "
                f"must be a multiple of num_generations ({self.num_generations})")
        return self


class GRPOEpisodesSettings(GRPOSettings):
    """GRPO on whole conversations in the bundled simulator (train.grpo_episodes): a rollout is
    an episode of a training goal, the loss on the model's own tokens only, the reward the
    goal's completion plus the mean per-turn reward (`reward`, against the oracle's action in
    each state; thinkact.episode_rewards). `max_completion_length` bounds each action;
    `num_generations` episodes of one goal make a group."""

    goals: PositiveInt = 256  # training goals (bench.simulator.sample_goals on the train split)
    goal_seed: int = 0  # their database and sampling seed (the pipeline uses data.seed)
    max_actions: PositiveInt = 12  # agent actions before the episode is cut (a failure)
    episode_reward: EpisodeWeights = Field(default_factory=EpisodeWeights)

    @model_validator(mode="after")
    def _transformers_rollouts(self) -> "GRPOEpisodesSettings":
        if self.use_vllm:
            raise ValueError("episode rollouts generate with transformers; use_vllm must be false or unset")
        return self


SETTINGS = {"sft": SFTSettings, "coldstart": ColdstartSettings, "grpo": GRPOSettings,
            "grpo_episodes": GRPOEpisodesSettings}


class StageConfig(_Strict):
    """One stage, as `thinkact train <stage> --config F.yaml` reads it."""

    stage: Literal["sft", "coldstart", "grpo", "grpo_episodes"]
    model: str  # preset model name (quickstart, smollm2), HF folder or hub id
    chat_template: str | None = None  # a .jinja file, or a template name shipped with TRL
    data: str | None = None  # turn samples JSONL (grpo_episodes: none, its goals come from the simulator)
    out: str  # stage folder: checkpoint-<step>/, model/, train_log.jsonl
    mix_data: str | None = None  # coldstart with train.mix > 0: the turns to mix in
    train: SFTSettings | ColdstartSettings | GRPOSettings | GRPOEpisodesSettings

    @model_validator(mode="before")
    @classmethod
    def _settings_for_stage(cls, values: Any) -> Any:
        # Validate `train` against the stage's own settings class, so a GRPO key in an SFT file
        # is an error rather than silently accepted by another member of the union.
        if isinstance(values, dict) and values.get("stage") in SETTINGS:
            train = values.get("train") or {}
            if isinstance(train, dict):
                values = {**values, "train": SETTINGS[values["stage"]].model_validate(train)}
        return values

    @model_validator(mode="after")
    def _data_given(self) -> "StageConfig":
        if self.data is None and self.stage != "grpo_episodes":
            raise ValueError(f"stage {self.stage} needs data (a turn samples file)")
        return self


class ModelSettings(_Strict):
    name: str = "quickstart"  # preset model name, HF folder or hub id
    chat_template: str | None = None


class DataSettings(_Strict):
    """Where the pipeline's conversations come from."""

    source: Literal["bench", "apigen-mt", "files"] = "bench"
    seed: int = 0
    # bench: conversations per split (the generator's defaults where absent)
    sizes: dict[Literal["train", "test", "ood"], PositiveInt] = Field(default_factory=dict)
    # files: canonical conversation files per split, and the cold-start turn samples
    train: str | None = None
    test: str | None = None
    ood: str | None = None
    coldstart: str | None = None
    # apigen-mt: share of conversations held out for test
    test_fraction: float = Field(0.1, gt=0, lt=1)
    # bench and apigen-mt: turns with reasoning in the cold-start set (the method: fewer than 100)
    coldstart_size: int = Field(96, ge=1, lt=100)
    # bench: how the cold-start reasoning is written (thinkact.bench.reasoning): "prose", two or
    # three sentences that end in the decision; "facts", what the context has established, with
    # no decision in it
    coldstart_reasoning: Literal["prose", "facts"] = "prose"

    @model_validator(mode="after")
    def _files_given(self) -> "DataSettings":
        if self.source == "files":
            missing = [k for k in ("train", "test", "coldstart") if not getattr(self, k)]
            if missing:
                raise ValueError(f"source 'files' needs paths for {missing}")
        return self


class EvalSettings(_Strict):
    batch_size: PositiveInt = 32
    max_new_tokens: PositiveInt = 256
    max_samples: PositiveInt | None = None  # per split; None = all
    splits: list[Literal["test", "ood"]] = Field(default_factory=lambda: ["test", "ood"])


class PipelineConfig(_Strict):
    """Everything `thinkact pipeline` does: data, the three stages, evaluation."""

    preset: str | None = None
    model: ModelSettings = Field(default_factory=ModelSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    sft: SFTSettings = Field(default_factory=SFTSettings)
    coldstart: ColdstartSettings = Field(default_factory=ColdstartSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    # Episode GRPO after the three stages, from the cold-start model (stages/grpo_episodes/);
    # None: not run.
    grpo_episodes: GRPOEpisodesSettings | None = None
    # Training seeds: one complete run per seed (RUN_DIR/seed-<k>/), every stage's `seed` set
    # to k, data and evaluation identical, then results aggregated over the seeds with
    # intervals (thinkact.train.seeds). None: one run with the stages' own seeds.
    seeds: list[int] | None = None

    @model_validator(mode="after")
    def _distinct_seeds(self) -> "PipelineConfig":
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise ValueError(f"seeds must be distinct and at least one (got {self.seeds})")
        return self

    def for_seed(self, seed: int) -> "PipelineConfig":
        """The single run of `seed`: every stage's seed set to it, nothing else changed."""
        update = {s: getattr(self, s).model_copy(update={"seed": seed}) for s in STAGES}
        if self.grpo_episodes is not None:
            update["grpo_episodes"] = self.grpo_episodes.model_copy(update={"seed": seed})
        return self.model_copy(update={**update, "seeds": None})


# --------------------------------------------------------------------------- loading


def _yaml_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the key at `loc` in a YAML text, or of its nearest existing parent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at `loc` (for 'did you mean' hints)."""
    for key in loc:
        field = model.model_fields.get(str(key))
        if field is None:
            return []
        ann = field.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return []
        model = candidates[0]
    return list(model.model_fields)


def _validation_error(exc: ValidationError, model: type[BaseModel], path: Path, text: str,
                      prefix: tuple[str, ...] = ()) -> DataError:
    err = exc.errors()[0]
    # Drop the union-member names pydantic puts in the location (they are class names).
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p[:1].isupper()))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        close = difflib.get_close_matches(str(loc[-1]), _allowed_keys(model, loc[:-1]), n=1)
        if close:
            msg += f" (did you mean '{close[0]}'?)"
    elif err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
        msg += f" (got {err['input']!r})"
    loc = prefix + loc
    return DataError(msg, file=path, line=_yaml_line(text, loc), field=".".join(map(str, loc)) or None)


def _validate(model: type[BaseModel], data: Any, path: Path, text: str, prefix: tuple[str, ...] = ()):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, model, path, text, prefix) from None


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read config ({exc.strerror})", file=path) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(f"invalid YAML ({getattr(exc, 'problem', exc)})", file=path,
                        line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise DataError(f"expected a mapping of keys, got {type(data).__name__}", file=path)
    return data, text


# Top-level keys only one kind of config has, to tell a user who gave the other kind.
STAGE_ONLY = {"stage", "train", "out", "mix_data"}
PIPELINE_ONLY = {"base", "preset", "sft", "coldstart", "grpo", "eval", "seeds", "grpo_episodes"}


def _is_pipeline(data: dict[str, Any]) -> bool:
    return not data.keys() & STAGE_ONLY and (bool(data.keys() & PIPELINE_ONLY) or any(
        isinstance(data.get(k), dict) for k in ("model", "data")))


def load_stage_config(path: str | Path, stage: str | None = None) -> StageConfig:
    """Read and check a stage config; `stage` (from the command) must match the file's."""
    path = Path(path)
    data, text = _read_yaml(path)
    if _is_pipeline(data):
        raise DataError("this is a pipeline config (for thinkact pipeline --config); stage configs look like "
                        "configs/quickstart/sft.yaml: stage, model, data (turn samples), out, train: {...}",
                        file=path)
    if stage is not None:
        data.setdefault("stage", stage)
        if data["stage"] != stage:
            raise DataError(f"this file configures stage '{data['stage']}', not '{stage}'",
                            file=path, line=_yaml_line(text, ("stage",)), field="stage")
    if data.get("stage") in SETTINGS:
        # Check `train` against the stage's own settings first, so errors name the right keys.
        train = _validate(SETTINGS[data["stage"]], data.get("train") or {}, path, text, ("train",))
        data = {**data, "train": train}
    return _validate(StageConfig, data, path, text)


def _local_path(model: str) -> bool:
    """A model name that can only be a folder (hub ids are `name` or `org/name`)."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def missing_inputs(cfg: StageConfig, path: str | Path) -> list[DataError]:
    """The stage's inputs that are not there yet: turn samples, mixed-in turns, a chat template
    file, a model folder given as a local path; each located in the config file at `path`.
    Nothing is loaded, and a hub id is not looked up."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    wanted = [(field, getattr(cfg, field), "file") for field in ("data", "mix_data")]
    if cfg.chat_template and cfg.chat_template.endswith(".jinja"):
        wanted.append(("chat_template", cfg.chat_template, "file"))
    if _local_path(cfg.model):
        wanted.append(("model", cfg.model, "folder"))
    found = []
    for field, value, kind in wanted:
        where = Path(value).expanduser() if value else None
        if where is not None and not (where.is_file() if kind == "file" else where.is_dir()):
            found.append(DataError(f"no such {kind}: {value}", file=path, line=_yaml_line(text, (field,)),
                                   field=field))
    return found


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in (resources.files("thinkact") / "recipes").iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    path = Path(str((resources.files("thinkact") / "recipes") / f"{name}.yaml"))
    if not path.is_file():
        raise DataError(f"unknown preset '{name}'; known presets: {', '.join(preset_names())}")
    return path


def merge_config(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: mappings merged key by key, any other value replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge_config(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def _config_layers(path: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    """The file and the chain of `base` files it starts from, base first, `base` keys removed."""
    layers: list[tuple[Path, str, dict[str, Any]]] = []
    seen: list[Path] = []
    while True:
        if path.resolve() in seen:
            chain = " -> ".join(p.name for p in [*seen, path.resolve()])
            raise DataError(f"config bases form a loop ({chain})", file=path)
        seen.append(path.resolve())
        data, text = _read_yaml(path)
        base = data.pop("base", None)
        layers.insert(0, (path, text, data))
        if base is None:
            return layers
        if not isinstance(base, str) or not base:
            raise DataError("base must be a preset name or a YAML file", file=path,
                            line=_yaml_line(text, ("base",)), field="base")
        if base.endswith((".yaml", ".yml")) or "/" in base:
            path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
            if not path.is_file():
                raise DataError(f"base config {base} not found", file=layers[0][0],
                                line=_yaml_line(layers[0][1], ("base",)), field="base")
        else:
            try:
                path = preset_path(base)
            except DataError as exc:
                raise DataError(exc.reason, file=layers[0][0],
                                line=_yaml_line(layers[0][1], ("base",)), field="base") from None


def _depth(data: Any, loc: tuple[Any, ...]) -> int:
    """How many leading keys of `loc` a YAML mapping holds."""
    for n, key in enumerate(loc):
        if isinstance(data, dict) and str(key) in data:
            data = data[str(key)]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return n
    return len(loc)


def load_pipeline_config(path: str | Path | None = None, preset: str | None = None) -> PipelineConfig:
    """A pipeline config from a file, or from a shipped preset (`quickstart` when neither);
    a `base` is resolved first (see the module docstring)."""
    if path is None:
        preset = preset or "quickstart"
        path = preset_path(preset)
    layers = _config_layers(Path(path))
    for file, _, layer in layers:
        if layer.keys() & {"stage", "train"}:
            stage = layer.get("stage") if layer.get("stage") in STAGES else "<stage>"
            raise DataError(f"this is a stage config (for thinkact train {stage}); pipeline configs look like "
                            "the presets in thinkact/recipes/: model: {name}, data: {source}, sft: {...}, "
                            "coldstart: {...}, grpo: {...}, eval: {...}", file=file)
    data: dict[str, Any] = {}
    for _, _, layer in layers:
        data = merge_config(data, layer)
    if preset is not None:
        data.setdefault("preset", preset)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        # Name the file that set the offending key: the most derived one that holds most of it.
        loc = tuple(p for p in exc.errors()[0].get("loc", ()) if not (isinstance(p, str) and p[:1].isupper()))
        file, text, _ = max(reversed(layers), key=lambda layer: _depth(layer[2], loc))
        raise _validation_error(exc, PipelineConfig, file, text) from None


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML (every default written out), saved beside checkpoints."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def stage_config(pipeline: PipelineConfig, stage: str, *, model: str, data: str, out: str,
                 chat_template: str | None = None, mix_data: str | None = None) -> StageConfig:
    """The stage config the pipeline runs for `stage` (the same thing `thinkact train` reads)."""
    return StageConfig(stage=stage, model=model, chat_template=chat_template, data=data, out=out,
                       mix_data=mix_data, train=getattr(pipeline, stage))


# --------------------------------------------------------------------------- machine-aware args


def on_gpu() -> bool:
    from thinkact.models import device

    return device() == "cuda"


def _check_report_to(report_to: list[str]) -> None:
    """Fail before training starts, with the package to install, rather than deep inside the
    Trainer once the model is loaded (each integration's package has its name)."""
    import importlib.util

    missing = [name for name in report_to if importlib.util.find_spec(name) is None]
    if missing:
        raise DataError(f"train.report_to needs {', '.join(missing)}: pip install {' '.join(missing)}, "
                        "or leave it out of report_to", field="train.report_to")


def warmup_kwargs(warmup: float) -> dict[str, Any]:
    """`warmup` (< 1: a share of the steps; >= 1: a number of steps) as the installed
    TrainingArguments reads it. transformers 5 takes a share as a float `warmup_steps`;
    transformers 4 counts `warmup_steps` in steps (0.05 would be 0.05 steps) and takes a share
    as `warmup_ratio`."""
    from transformers import TrainingArguments

    if warmup >= 1:
        return {"warmup_steps": int(warmup)}
    steps = next(f for f in dataclass_fields(TrainingArguments) if f.name == "warmup_steps")
    if steps.type in (float, "float"):
        return {"warmup_steps": warmup}
    return {"warmup_ratio": warmup}


def trainer_kwargs(settings: TrainSettings, output_dir: str | Path) -> dict[str, Any]:
    """TrainingArguments keywords every stage shares, with precision and checkpointing decided
    from the machine unless the config says otherwise."""
    import torch
    from transformers import TrainingArguments

    gpu = on_gpu()
    bf16 = settings.bf16 if settings.bf16 is not None else gpu and torch.cuda.is_bf16_supported()
    ckpt = settings.gradient_checkpointing if settings.gradient_checkpointing is not None else gpu
    names = {f.name for f in dataclass_fields(TrainingArguments)}
    # transformers 5 renamed gradient_checkpointing; use the new name where it exists.
    ckpt_key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    _check_report_to(settings.report_to)
    return {
        "output_dir": str(output_dir),
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps,
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "lr_scheduler_type": settings.lr_scheduler,
        **warmup_kwargs(settings.warmup),
        "weight_decay": settings.weight_decay,
        "max_grad_norm": settings.max_grad_norm,
        "logging_steps": settings.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "bf16": bf16,
        "fp16": False,
        ckpt_key: ckpt,
        "use_cpu": not gpu,
        "report_to": list(settings.report_to) or "none",
        "dataloader_num_workers": settings.dataloader_num_workers,
        "disable_tqdm": True,  # thinkact draws its own progress bar
    }
