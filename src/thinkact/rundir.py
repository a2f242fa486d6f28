"""Where thinkact's commands keep their files: the layout of a run folder, in one place.

    RUN_DIR/run_config.yaml          the resolved config (a rerun with another is refused)
    RUN_DIR/data/                    <split>.jsonl conversations, turns_<split>.jsonl, coldstart.jsonl
    RUN_DIR/stages/<stage>/          a training stage's folder: config.yaml, train_log.jsonl,
                                     checkpoint-<step>/ while training, model/ once done
    RUN_DIR/eval/<stage>/<split>/    one evaluation: scores.json, predictions.jsonl, gold.jsonl,
                                     generation.json (errors.jsonl for an endpoint's failures)
    RUN_DIR/.tmp/<stage>/<split>/    an evaluation being written (renamed into eval/ when whole)
    RUN_DIR/results.json, results.md the table over stages and splits
    RUN_DIR/timings.json             wall seconds of each step
    RUN_DIR/seed-<k>/                with several training seeds: one run folder per seed
    RUN_DIR/report/                  `thinkact report`'s default folder
    RUN_DIR/ablate/                  `thinkact ablate`'s default folder (AblationDir)

Only names live here, no behaviour: the pipeline, the stage runner, the evaluation and the
report all spell a place the same way by asking for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A training stage's folder (thinkact.train.stage), inside a run or on its own: the resolved
# config, the log, and the final model, which carries a copy of the config once it is whole.
MODEL, CONFIG, LOG = "model", "config.yaml", "train_log.jsonl"

# One evaluation of turn samples (thinkact.evaluate.runner).
SCORES, PREDICTIONS, GOLD = "scores.json", "predictions.jsonl", "gold.jsonl"
GENERATION = "generation.json"  # timing: samples, seconds, samples/s
ERRORS = "errors.jsonl"  # {"id", "error"}: samples an endpoint gave no answer for

DRY_RUN_MODEL = "dry-run-model"  # the tiny random model `thinkact pipeline --dry-run` builds


def stage_done(folder: str | Path) -> bool:
    """A stage is done once its model folder holds the config (saved last, see train.stage)."""
    return (Path(folder) / MODEL / CONFIG).is_file()


def tmp_beside(path: Path) -> Path:
    """Where a folder is built before it is renamed to `path`, so it appears whole or not at all."""
    return path.with_name(path.name + ".tmp")


def side_file(out: str | Path, name: str) -> Path:
    """A file that belongs to results file `out`, named after it: runs/x.json, "predictions.jsonl"
    -> runs/x.predictions.jsonl, so runs into one folder keep their own."""
    return Path(out).with_suffix("." + name)


@dataclass(frozen=True)
class EvalFiles:
    """The files one evaluation of turn samples writes."""

    scores: Path
    predictions: Path
    gold: Path
    generation: Path
    errors: Path

    @classmethod
    def in_folder(cls, folder: str | Path) -> EvalFiles:
        """A run's evaluation folder: scores.json, predictions.jsonl, ... inside it."""
        folder = Path(folder)
        return cls(*(folder / name for name in (SCORES, PREDICTIONS, GOLD, GENERATION, ERRORS)))

    @classmethod
    def beside(cls, out: str | Path) -> EvalFiles:
        """`thinkact eval --out runs/x.json`: the scores in runs/x.json, the other files named
        after it (runs/x.predictions.jsonl, ...)."""
        return cls(Path(out), *(side_file(out, name) for name in (PREDICTIONS, GOLD, GENERATION, ERRORS)))


class DataDir:
    """RUN_DIR/data: conversations per split, their turn samples, the cold-start set."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def conversations(self, split: str) -> Path:
        return self.path / f"{split}.jsonl"

    def turns(self, split: str) -> Path:
        return self.path / f"turns_{split}.jsonl"

    @property
    def coldstart(self) -> Path:
        return self.path / "coldstart.jsonl"


class RunDir:
    """A pipeline run folder (`thinkact pipeline --out RUN_DIR`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def config(self) -> Path:
        return self.path / "run_config.yaml"

    @property
    def data(self) -> DataDir:
        return DataDir(self.path / "data")

    # ---- training stages

    def stage(self, stage: str) -> Path:
        return self.path / "stages" / stage

    def stage_model(self, stage: str) -> Path:
        return self.stage(stage) / MODEL

    def stage_log(self, stage: str) -> Path:
        return self.stage(stage) / LOG

    def stage_done(self, stage: str) -> bool:
        return stage_done(self.stage(stage))

    # ---- evaluations

    def eval_dir(self, stage: str, split: str | None = None) -> Path:
        """eval/<stage>/<split>/, or eval/<stage>/ with every split of a stage."""
        folder = self.path / "eval" / stage
        return folder / split if split is not None else folder

    def eval(self, stage: str, split: str) -> EvalFiles:
        return EvalFiles.in_folder(self.eval_dir(stage, split))

    def evaluations(self) -> dict[tuple[str, str], Path]:
        """(stage, split) -> eval folder, for every finished evaluation (one with scores)."""
        return {(p.parent.parent.name, p.parent.name): p.parent for p in (self.path / "eval").glob(f"*/*/{SCORES}")}

    def evaluated_stages(self) -> set[str]:
        return {p.name for p in (self.path / "eval").glob("*") if p.is_dir()}

    @property
    def tmp(self) -> Path:
        """Work in progress, outside eval/ so that only finished results appear there."""
        return self.path / ".tmp"

    def eval_tmp(self, stage: str, split: str) -> Path:
        return self.tmp / stage / split

    # ---- results

    @property
    def results(self) -> Path:
        return self.path / "results.json"

    @property
    def results_md(self) -> Path:
        return self.path / "results.md"

    @property
    def timings(self) -> Path:
        return self.path / "timings.json"

    @property
    def report(self) -> Path:
        return self.path / "report"

    @property
    def ablation(self) -> AblationDir:
        return AblationDir(self.path / "ablate")

    @property
    def dry_run_model(self) -> Path:
        return self.path / DRY_RUN_MODEL

    def is_run(self) -> bool:
        """Holds a run's training or evaluations (not only seed-<k>/ run folders)."""
        return (self.path / "eval").is_dir() or (self.path / "stages").is_dir()

    # ---- several training seeds

    def seed(self, k: int) -> RunDir:
        return RunDir(self.path / f"seed-{k}")

    def seeds(self) -> dict[int, RunDir]:
        """The seed run folders there are, by seed."""
        runs = {}
        for p in self.path.glob("seed-*"):
            try:
                runs[int(p.name[len("seed-"):])] = RunDir(p)
            except ValueError:
                continue
        return dict(sorted(runs.items()))


class AblationDir(RunDir):
    """`thinkact ablate`'s folder: like a run folder, the config it was made from (run_config.yaml)
    and eval/<variant>/<split>/ (each variant takes a stage's place); besides,

        ABLATE_DIR/<variant>/grpo/          the variant's GRPO stage
        ABLATE_DIR/<variant>/variant.yaml   what the variant is, written once it is evaluated
        ABLATE_DIR/ablate.json, ablate.md   the table (its `results`, `results_md`)
    """

    def variant(self, name: str) -> Path:
        return self.path / name

    def variant_stage(self, name: str) -> Path:
        return self.variant(name) / "grpo"

    def variant_file(self, name: str) -> Path:
        return self.variant(name) / "variant.yaml"

    def finished_variants(self) -> dict[str, Path]:
        """Variant name -> its variant.yaml, for every variant finished in the folder."""
        return {p.parent.name: p for p in sorted(self.path.glob("*/variant.yaml"))}

    @property
    def results(self) -> Path:
        return self.path / "ablate.json"

    @property
    def results_md(self) -> Path:
        return self.path / "ablate.md"
