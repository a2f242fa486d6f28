"""Training configuration: YAML files validated by pydantic, and the presets shipped with thinkact.

Two kinds of file:
- a *pipeline* config (`thinkact pipeline --preset NAME` or `--config F.yaml`): model, data,
  the settings of all three stages and of evaluation. Presets live in thinkact/recipes/, and
  they are the only place stage settings are written down;
- a *stage* config (`thinkact train sft|coldstart|grpo --config F.yaml`): which model to start
  from, which turn samples to train on, where to write, and the stage's settings. A preset's
  stage is trained by name (`thinkact train <stage> --preset NAME`), and `thinkact config
  export` writes a pipeline config's three stages as stage configs (`pipeline_stage_config`).

A stage's settings are thinkact's own (what it trains on and how: think mode, reward, replay,
shared-prefix GRPO, LoRA, ...) plus a `trl:` section: keyword arguments of the TRL config class
the stage builds (`trl.SFTConfig` for SFT and the cold start, `trl.GRPOConfig` for GRPO),
handed to it as they are: learning rate, batch size, epochs, steps, logging, group size, KL
beta, temperature, ...

A pipeline config may start from another with `base: <preset name or YAML path>`: the base's
keys are read first and the file's own keys merged over them (mappings key by key, anything
else replaced), so a recipe that changes only a few settings follows its base's others when
those change.

Every key is checked before any model loads, `trl:` keys against the fields of the TRL class: an
unknown key or a bad value stops with the file, the line and the key (and a close match for a
misspelt key).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import MISSING
from dataclasses import fields as dataclass_fields
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, ValidationError,
                      field_validator, model_validator)
from pydantic.errors import PydanticUserError
from pydantic_core import PydanticCustomError

from thinkact.episode_rewards import EpisodeWeights
from thinkact.rewards import RewardWeights
from thinkact.schema import DataError

STAGES = ("sft", "coldstart", "grpo")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- TRL keywords


# TRL keywords thinkact fills from its own settings; a `trl:` section that sets one is refused,
# naming the setting to use instead.
SET_BY_THINKACT = {"output_dir": "the stage folder (`out`)", "seed": "the stage's `seed`",
                   "reward_weights": "`reward.weights`"}
# Short names users reach for, and the TRL keys they mean (for the hint on an unknown key).
TRL_NAMES = {"epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size",
             "grad_accum": "gradient_accumulation_steps", "lr_scheduler": "lr_scheduler_type",
             "warmup": "warmup_steps", "lr": "learning_rate"}


def _trl_class(name: str) -> type:
    import trl

    return getattr(trl, name)


@functools.cache
def trl_fields(config: str) -> dict[str, Any]:
    """The keyword fields of trl.<config> (a dataclass), by name."""
    return {f.name: f for f in dataclass_fields(_trl_class(config)) if f.init}


@functools.cache
def _trl_hints(config: str) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(_trl_class(config))
    except NameError:  # an annotation that does not resolve: values are left to TRL
        return {}


@functools.cache
def _trl_type(config: str, key: str) -> TypeAdapter | None:
    """A checker of the type of trl.<config>'s field `key`; None where the annotation cannot be
    read or checked (the value is then left to TRL)."""
    hint = _trl_hints(config).get(key)
    if hint is None:
        return None
    try:
        return TypeAdapter(hint)
    except PydanticUserError:
        return None


def trl_default(config: str, key: str) -> Any:
    field = trl_fields(config)[key]
    return field.default_factory() if field.default is MISSING else field.default


def _close(key: str, candidates: Any) -> str | None:
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return close[0] if close else None


def check_trl(config: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` checked as keyword arguments of trl.<config>: each key one of its fields, each
    value of the field's type, read as pydantic reads YAML values (YAML reads `1e-5` as a
    string; it is a number here). Raises a pydantic error whose context names the key
    (`_error_loc`)."""
    fields = trl_fields(config)
    checked = {}
    for key, value in values.items():
        if key in SET_BY_THINKACT and key in fields:
            raise PydanticCustomError("trl_key", f"thinkact sets '{key}' from {SET_BY_THINKACT[key]}",
                                      {"trl_key": key})
        if key not in fields:
            close = _close(key, fields)
            raise PydanticCustomError("trl_key", f"unknown key '{key}': not a field of trl.{config}" + (
                f" (did you mean '{close}'?)" if close else ""), {"trl_key": key})
        adapter = _trl_type(config, key)
        if adapter is not None:
            try:
                read = adapter.validate_python(value)
            except ValidationError as exc:
                raise PydanticCustomError("trl_key", f"{exc.errors()[0]['msg']} (got {value!r})",
                                          {"trl_key": key}) from None
            # The value as written unless the check had to convert it (a step count of 1 stays
            # 1 rather than the 1.0 of a field typed float; "1e-5" becomes a number).
            value = value if read == value else read
        checked[key] = value
    return checked


# --------------------------------------------------------------------------- stage settings


class LoraSettings(_Strict):
    """LoRA through PEFT; absent means full fine-tuning."""

    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainSettings(_Strict):
    """What every stage shares: the seed, LoRA, and `trl`, the keywords of the stage's TRL config.

    `trl` keys are checked against the fields of trl.<TRL_CONFIG> when the config is read.
    thinkact's own choices for the stage (TRL_DEFAULTS, where they differ from TRL's defaults)
    are filled in under the file's keys, so a resolved config shows them; what depends on the
    machine (precision, gradient checkpointing, vLLM) is decided when the trainer is built
    (`trainer_kwargs`), under the file's keys too."""

    TRL_CONFIG: ClassVar[str]
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = {
        "lr_scheduler_type": "cosine",
        "logging_steps": 5,
        "save_steps": 50,  # checkpoints make a killed run resumable
        "save_total_limit": 1,
    }

    # TRL's seed (and data_seed, unless `trl` sets it) and thinkact's own draws (mixed-in and
    # replayed turns); a pipeline's `seeds` set it per run
    seed: int = 0
    lora: LoraSettings | None = None
    trl: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("trl", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return {} if value is None else value  # `trl:` with nothing under it

    @field_validator("trl")
    @classmethod
    def _trl_keywords(cls, value: dict[str, Any]) -> dict[str, Any]:
        # the file's keys first, in its order, then thinkact's defaults it leaves as they are
        defaults = {k: v for k, v in cls.TRL_DEFAULTS.items() if k not in value}
        return check_trl(cls.TRL_CONFIG, {**value, **defaults})

    def trl_value(self, key: str) -> Any:
        """What the stage's TRL config gets for `key` (short of machine-dependent choices): the
        config's value, else TRL's default."""
        return self.trl[key] if key in self.trl else trl_default(self.TRL_CONFIG, key)

    def with_trl(self, **values: Any) -> "TrainSettings":
        """A copy with these `trl` keys set, checked like the file's."""
        return self.model_validate({**self.model_dump(), "trl": {**self.trl, **values}})


class SFTSettings(TrainSettings):
    """Base SFT: the action without reasoning, loss on the completion only. `trl.max_length`
    (prompt + completion tokens) also leaves longer samples out rather than cutting them."""

    TRL_CONFIG: ClassVar[str] = "SFTConfig"
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = {**TrainSettings.TRL_DEFAULTS, "learning_rate": 1e-4,
                                              "num_train_epochs": 1.0}

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

    TRL_DEFAULTS: ClassVar[dict[str, Any]] = {**SFTSettings.TRL_DEFAULTS, "learning_rate": 5e-5,
                                              "num_train_epochs": 3.0}

    think: bool = True
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
    """GRPO from the cold-start model: prompt = context, completion = one action. In `trl`,
    `per_device_train_batch_size` counts completions, not prompts, and `use_vllm` defaults to
    whether vLLM is installed and a GPU present."""

    TRL_CONFIG: ClassVar[str] = "GRPOConfig"
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = {**TrainSettings.TRL_DEFAULTS, "num_train_epochs": 1.0,
                                              "max_completion_length": 256}

    think: bool = True
    max_prompt_length: PositiveInt | None = None  # longer prompts are left out of the GRPO set
    # Each distinct prompt computed once per group, in rollouts and in every log-prob pass
    # (train.prefix_grpo.SharedPrefixGRPOTrainer): TRL's results, several times faster when
    # prompts are long. Where it does not apply (vLLM rollouts, gradient checkpointing, ...)
    # that part runs TRL's own path, with a warning. False: TRL's GRPOTrainer as it is.
    shared_prefix: bool = True
    reward: RewardSettings = Field(default_factory=RewardSettings)

    @model_validator(mode="after")
    def _groups_fit(self) -> "GRPOSettings":
        # TRL's own check, made when the config is read rather than once the model is loaded:
        # a generation batch (one process) holds whole groups.
        batch, groups = self.trl_value("per_device_train_batch_size"), self.trl_value("num_generations")
        if groups is None or groups < 2:
            raise ValueError(f"num_generations (the group size) must be at least 2 (got {groups})")
        size = self.trl_value("generation_batch_size")
        if size is None:
            steps = "steps_per_generation" if self.trl_value("steps_per_generation") else \
                "gradient_accumulation_steps"
            what = f"per_device_train_batch_size x {steps} ({batch} x {self.trl_value(steps)})"
            size = batch * self.trl_value(steps)
        else:
            what = f"generation_batch_size ({size})"
        if size % groups:
            raise ValueError(f"{what} counts completions and must be a multiple of num_generations ({groups})")
        return self


class GRPOEpisodesSettings(GRPOSettings):
    """GRPO on whole conversations in the bundled simulator (train.grpo_episodes): a rollout is
    an episode of a training goal, the loss on the model's own tokens only, the reward the
    goal's completion plus the mean per-turn reward (`reward`, against the oracle's action in
    each state; thinkact.episode_rewards). `trl.max_completion_length` bounds each action;
    `trl.num_generations` episodes of one goal make a group."""

    goals: PositiveInt = 256  # training goals (bench.simulator.sample_goals on the train split)
    goal_seed: int = 0  # their database and sampling seed (the pipeline uses data.seed)
    max_actions: PositiveInt = 12  # agent actions before the episode is cut (a failure)
    episode_reward: EpisodeWeights = Field(default_factory=EpisodeWeights)

    @model_validator(mode="after")
    def _transformers_rollouts(self) -> "GRPOEpisodesSettings":
        if self.trl_value("use_vllm"):
            raise ValueError("episode rollouts generate with transformers; use_vllm must be false or unset")
        return self


SETTINGS = {"sft": SFTSettings, "coldstart": ColdstartSettings, "grpo": GRPOSettings,
            "grpo_episodes": GRPOEpisodesSettings}


class StageConfig(_Strict):
    """One stage, as `thinkact train <stage>` runs it (a file's, or a pipeline config's stage from
    `pipeline_stage_config`)."""

    stage: Literal["sft", "coldstart", "grpo", "grpo_episodes"]
    model: str  # preset model name (quickstart, smollm2), HF folder or hub id
    chat_template: str | None = None  # a .jinja file, or a template name shipped with TRL
    data: str | None = None  # turn samples JSONL (grpo_episodes: none, its goals come from the simulator)
    out: str  # stage folder: checkpoint-<step>/, model/, train_log.jsonl
    mix_data: str | None = None  # coldstart with train.mix or train.replay > 0: the turns to draw from
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
    # intervals (thinkact.seeds). None: one run with the stages' own seeds.
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


# --------------------------------------------------------------------------- configs thinkact saved


def upgrade_settings(settings: type[TrainSettings], data: Any) -> Any:
    """One stage's settings as an older thinkact saved them (TRL's keywords beside thinkact's own,
    some under short names: epochs, batch_size, ...) in the current form: each key that is not a
    field of `settings` goes under `trl:` by its TRL name (TRL_NAMES) if trl.<TRL_CONFIG> has that
    field, and is left out if not (a GRPO `max_length`). A None left out too: it meant "thinkact
    decides", as an unset key does now. Settings already in the current form come back as they are.
    For saved files only: a file a user writes keeps the error that points to `trl:`."""
    if not isinstance(data, dict):
        return data
    fields = trl_fields(settings.TRL_CONFIG)
    own: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in data.items():
        if key in settings.model_fields:
            own[key] = value
            continue
        name = TRL_NAMES.get(key, key)
        if value is not None and name in fields and name not in SET_BY_THINKACT:
            moved[name] = value
    if moved:
        own["trl"] = {**moved, **(own.get("trl") or {})}  # a `trl:` key wins over a flat one
    return own


def upgrade_saved(data: Any) -> Any:
    """A pipeline config thinkact saved (RUN/run_config.yaml), in the current form whatever the
    version that wrote it (upgrade_settings for each stage section)."""
    if not isinstance(data, dict):
        return data
    return {k: upgrade_settings(SETTINGS[k], v) if k in SETTINGS else v for k, v in data.items()}


def upgrade_saved_stage(data: Any) -> Any:
    """A stage config thinkact saved (a stage folder's config.yaml), in the current form."""
    if not isinstance(data, dict) or data.get("stage") not in SETTINGS:
        return data
    return {**data, "train": upgrade_settings(SETTINGS[data["stage"]], data.get("train"))}


# TRL keywords trainer_kwargs (and the stages' own keywords) fill when `trl` leaves them unset, so
# that unset is not TRL's default there.
FILLED_BY_THINKACT = {"bf16", "use_cpu", "logging_first_step", "data_seed", "disable_tqdm",
                      "gradient_checkpointing", "activation_checkpointing", "completion_only_loss",
                      "packing", "use_vllm"}


def _unset_values(config: str) -> dict[str, Any]:
    """What trl.<config> gets for each key `trl` leaves unset and thinkact does not fill: TRL's default."""
    return {k: trl_default(config, k) for k in trl_fields(config)
            if k not in FILLED_BY_THINKACT and k not in SET_BY_THINKACT}


def comparable(cfg: BaseModel) -> dict[str, Any]:
    """cfg.model_dump(mode="json") for comparing the settings a run or stage was started with to
    those it is resumed with: each stage's `trl` with TRL's default under every key it leaves unset
    (but those thinkact fills itself), so that a key set to its default and the key left unset
    compare equal."""
    data = cfg.model_dump(mode="json")
    if isinstance(cfg, TrainSettings):
        trl = {**_unset_values(cfg.TRL_CONFIG), **data["trl"]}
        if trl.get("report_to") in ([], ["none"]):
            trl["report_to"] = "none"  # no integration, spelt another way
        data["trl"] = trl
        return data
    for name in type(cfg).model_fields:
        value = getattr(cfg, name)
        if isinstance(value, BaseModel):
            data[name] = comparable(value)
    return data


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


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the keys at `loc` (for 'did you mean' hints)."""
    for key in loc:
        field = model.model_fields.get(str(key))
        if field is None:
            return None
        ann = field.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return None
        model = candidates[0]
    return model


def _unknown_key(key: str, model: type[BaseModel] | None) -> str:
    """The message for a key `model` does not have: a close match among its keys, or, in stage
    settings, the `trl:` key it may mean."""
    if model is None:
        return "unknown key"
    config = getattr(model, "TRL_CONFIG", None)
    trl_keys = trl_fields(config) if config else {}
    name = TRL_NAMES.get(key, key)
    close = None if name in trl_keys else _close(key, model.model_fields)
    if close:
        return f"unknown key (did you mean '{close}'?)"
    close = name if name in trl_keys else _close(key, trl_keys)
    if close:
        return f"unknown key (did you mean 'trl.{close}'? settings of trl.{config} go under `trl:`)"
    return "unknown key"


def _error_loc(err: dict[str, Any]) -> tuple[Any, ...]:
    """Where a pydantic error is, as keys into the YAML: without the union-member names pydantic
    puts in the location (class names), with the `trl:` key a TRL check names."""
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p[:1].isupper()))
    if err["type"] == "trl_key":
        loc += (err["ctx"]["trl_key"],)
    return loc


def _validation_error(exc: ValidationError, model: type[BaseModel], path: Path, text: str,
                      prefix: tuple[str, ...] = ()) -> DataError:
    err = exc.errors()[0]
    loc = _error_loc(err)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = _unknown_key(str(loc[-1]), _model_at(model, loc[:-1]))
    elif err["type"] not in ("missing", "trl_key") and "input" in err and not isinstance(err["input"], dict):
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
        raise DataError("this is a pipeline config (for thinkact pipeline --config; `thinkact config export` "
                        "writes its stages as stage configs); stage configs hold stage, model, data (turn "
                        "samples), out, train: {...}", file=path)
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


def missing_inputs(cfg: StageConfig, path: str | Path | None = None) -> list[DataError]:
    """The stage's inputs that are not there yet: turn samples, mixed-in turns, a chat template
    file, a model folder given as a local path; each located in the config file at `path` (if
    the config came from a file). Nothing is loaded, and a hub id is not looked up."""
    text = Path(path).read_text(encoding="utf-8") if path is not None else ""
    wanted = [(field, getattr(cfg, field), "file") for field in ("data", "mix_data")]
    if cfg.chat_template and cfg.chat_template.endswith(".jinja"):
        wanted.append(("chat_template", cfg.chat_template, "file"))
    if _local_path(cfg.model):
        wanted.append(("model", cfg.model, "folder"))
    found = []
    for field, value, kind in wanted:
        where = Path(value).expanduser() if value else None
        if where is not None and not (where.is_file() if kind == "file" else where.is_dir()):
            found.append(DataError(f"no such {kind}: {value}", file=path,
                                   line=_yaml_line(text, (field,)) if path is not None else None, field=field))
    return found


def check_with_trl(cfg: StageConfig, path: str | Path | None = None) -> None:
    """Build the TRL config the stage's trainer would get, so that TRL's own checks (keys that
    exclude each other, values it refuses) run before any model loads; a refusal is located at
    `train.trl` of the config file at `path` (if the config came from a file)."""
    if cfg.stage == "grpo":
        from thinkact.train.grpo import grpo_args, reward_funcs

        def build() -> Any:
            return grpo_args(cfg.train, cfg.out, reward_funcs(cfg.train)[1])
    elif cfg.stage == "grpo_episodes":
        from thinkact.train.grpo import grpo_args
        from thinkact.train.grpo_episodes import reward_funcs as episode_reward_funcs

        def build() -> Any:
            return grpo_args(cfg.train.with_trl(use_vllm=False), cfg.out, episode_reward_funcs(cfg.train)[1])
    else:
        from trl import SFTConfig

        from thinkact.train.sft import sft_kwargs

        def build() -> Any:
            return SFTConfig(**sft_kwargs(cfg.train, cfg.out))
    try:
        build()
    except DataError:
        raise
    except ValueError as exc:
        line = _yaml_line(Path(path).read_text(encoding="utf-8"), ("train", "trl")) if path is not None else None
        raise DataError(f"trl.{cfg.train.TRL_CONFIG} refuses these settings: {exc}", file=path, line=line,
                        field="train.trl") from None


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
        loc = _error_loc(exc.errors()[0])
        file, text, _ = max(reversed(layers), key=lambda layer: _depth(layer[2], loc))
        raise _validation_error(exc, PipelineConfig, file, text) from None


def load_pipeline_source(source: str | Path) -> PipelineConfig:
    """A pipeline config named by a preset name or given as a YAML file (as `base:` takes it)."""
    source = str(source)
    if source.endswith((".yaml", ".yml")) or "/" in source or Path(source).is_file():
        return load_pipeline_config(source)
    return load_pipeline_config(preset=source)


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML (every default written out), saved beside checkpoints."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def stage_config(pipeline: PipelineConfig, stage: str, *, model: str, data: str, out: str,
                 chat_template: str | None = None, mix_data: str | None = None) -> StageConfig:
    """The stage config the pipeline runs for `stage` (the same thing `thinkact train` reads)."""
    return StageConfig(stage=stage, model=model, chat_template=chat_template, data=data, out=out,
                       mix_data=mix_data, train=getattr(pipeline, stage))


# --------------------------------------------------------------------------- a pipeline's stages


def pipeline_stage_config(pipeline: PipelineConfig, stage: str, run: str | Path,
                          seed: int | None = None) -> StageConfig:
    """The stage config `thinkact pipeline` runs for `stage` with run folder `run`: the pipeline's
    settings for the stage, the run's data (RUN/data/, which the pipeline's first step writes),
    the model of the stage before (RUN/stages/<stage>/model) and the stage's folder in the run.
    A stage trained from it by hand is one the pipeline finds done. A config with `seeds` runs
    one folder per seed (RUN/seed-<k>/): `seed` names which."""
    from thinkact.rundir import RunDir

    run = RunDir(run)
    if pipeline.seeds is not None:
        if seed not in pipeline.seeds:
            raise DataError(f"this config trains once per seed of {pipeline.seeds}, each in RUN/seed-<k>/: name "
                            "one of them" + (f" (got {seed})" if seed is not None else ""), field="seed")
        pipeline, run = pipeline.for_seed(seed), run.seed(seed)
    elif seed is not None:
        raise DataError("this config has no seeds; its stages are seeded by their own `seed`", field="seed")
    data = run.data
    if stage == "grpo_episodes":  # no data file: goals from the simulator, with the data seed
        if pipeline.grpo_episodes is None:
            raise DataError("this config has no grpo_episodes section (the quickstart-episodes preset has one)",
                            field="grpo_episodes")
        return StageConfig(stage=stage, model=str(run.stage_model("coldstart")), out=str(run.stage(stage)),
                           train=pipeline.grpo_episodes.model_copy(update={"goal_seed": pipeline.data.seed}))
    before = {"sft": None, "coldstart": "sft", "grpo": "coldstart"}[stage]
    draws = stage == "coldstart" and bool(pipeline.coldstart.mix or pipeline.coldstart.replay)
    return stage_config(pipeline, stage,
                        model=str(run.stage_model(before)) if before else pipeline.model.name,
                        data=str(data.coldstart if stage == "coldstart" else data.turns("train")),
                        out=str(run.stage(stage)),
                        chat_template=pipeline.model.chat_template if stage == "sft" else None,
                        mix_data=str(data.turns("train")) if draws else None)


def export_stage_configs(source: str | Path, out: str | Path, run: str | Path | None = None,
                         seed: int | None = None) -> list[Path]:
    """Write the three stages of a pipeline config (a preset name or a YAML file) as stage
    configs, OUT/{sft,coldstart,grpo}.yaml, for run folder `run` (default runs/<name>); returns
    the files. Each is what `thinkact train <stage> --preset` runs, every setting written out."""
    from thinkact.schema import write_atomic

    pipeline = load_pipeline_source(source)
    name = pipeline.preset or Path(str(source)).stem
    run = Path(run) if run is not None else Path("runs") / name
    out = Path(out)
    written = []
    for stage in STAGES:
        cfg = pipeline_stage_config(pipeline, stage, run, seed)
        path = out / f"{stage}.yaml"
        origin = f"preset {name}" if pipeline.preset else f"pipeline config {source}"
        header = (f"# The {stage} stage of {origin} for run folder {run}, as `thinkact config export` wrote it.\n"
                  f"# thinkact train {stage} --config {path}\n")
        write_atomic(path, header + dump_config(cfg))
        written.append(path)
    return written


# --------------------------------------------------------------------------- machine-aware args


def on_gpu() -> bool:
    from thinkact.models import device

    return device() == "cuda"


# `report_to` integrations whose package has the integration's name
REPORTING_PACKAGES = {"tensorboard", "trackio", "wandb", "mlflow", "comet_ml", "clearml", "dvclive", "swanlab"}


def _check_report_to(report_to: str | list[str] | None) -> None:
    """Fail before training starts, with the package to install, rather than deep inside the
    Trainer once the model is loaded."""
    import importlib.util

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    missing = [n for n in names if n in REPORTING_PACKAGES and importlib.util.find_spec(n) is None]
    if missing:
        raise DataError(f"trl.report_to needs {', '.join(missing)}: pip install {' '.join(missing)}, "
                        "or leave it out of report_to", field="trl.report_to")


def warmup_kwargs(warmup: float) -> dict[str, Any]:
    """`warmup_steps` (< 1: a share of the steps; >= 1: a number of steps) as the installed
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


def trainer_kwargs(settings: TrainSettings, output_dir: str | Path, **stage: Any) -> dict[str, Any]:
    """Keyword arguments of the stage's TRL config, in layers: thinkact's choices for the machine
    and for how it runs trainers, then the stage's own (`stage`, e.g. SFT's completion-only loss),
    then the config's `trl` keys over them, then what thinkact sets itself (the stage folder,
    the seed)."""
    import torch
    from transformers import TrainingArguments

    gpu = on_gpu()
    given = settings.trl
    below = {
        # On a CPU, bf16 matmuls are ~100x slower and checkpointing only costs time.
        "bf16": gpu and torch.cuda.is_bf16_supported() and not given.get("fp16"),
        "use_cpu": not gpu,
        "logging_first_step": True,
        "data_seed": settings.seed,
        "disable_tqdm": True,  # thinkact draws its own progress bar
        **stage,
    }
    # transformers 5 renamed gradient_checkpointing and reads the old name only where the new one
    # is unset, so a machine default under either name would override a file's setting of the other.
    if not given.keys() & {"gradient_checkpointing", "activation_checkpointing"}:
        names = {f.name for f in dataclass_fields(TrainingArguments)}
        below["activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"] = gpu
    kwargs = {**below, **given, "output_dir": str(output_dir), "seed": settings.seed}
    if "warmup_steps" in kwargs:
        kwargs.update(warmup_kwargs(kwargs.pop("warmup_steps")))
    _check_report_to(kwargs.get("report_to"))
    return kwargs
