"""`thinkact pipeline`: data, three training stages, evaluation of every stage, results table.

    RUN_DIR/run_config.yaml                    the resolved config (a rerun with another is refused)
    RUN_DIR/data/                              conversations per split, turn samples, cold-start set
    RUN_DIR/stages/{sft,coldstart,grpo}/       see thinkact.train.stage
    RUN_DIR/eval/<stage>/<split>/              predictions.jsonl, scores.json (stage: vanilla too)
    RUN_DIR/results.json, results.md           the table: stage x split, core metrics, each with a 95%
                                               bootstrap interval over conversations (evaluate.results)
    RUN_DIR/timings.json                       wall seconds of each step

Resumable: every step's output is a file or folder that appears complete or not at all (written
beside, then renamed), so a run killed at any moment and started again with the same arguments
skips what is done and continues the stage it was in from its last checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from thinkact.schema import (DataError, TurnSample, read_conversations, read_log, read_turns, write_atomic,
                             write_jsonl)
from thinkact.train.config import PipelineConfig, STAGES, StageConfig, dump_config, stage_config

EVAL_STAGES = ("vanilla", *STAGES, "grpo_episodes")
# How each stage's outputs are scored: the base SFT model must not think, the reasoning stages
# must; the vanilla model is free to do either.
THINK = {"vanilla": "optional", "sft": "off", "coldstart": "required", "grpo": "required",
         "grpo_episodes": "required"}
SPLITS = ("train", "test", "ood")
HEADLINE = ("turn_accuracy", "decision_accuracy", "exact_call_accuracy", "reply_similarity",
            "format_validity", "mean_reward", "mean_reasoning_length")


# --------------------------------------------------------------------------- run folder


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


def open_run(cfg: PipelineConfig, out: Path, overwrite: bool) -> None:
    """Start a run folder, or check that an existing one was started with this config."""
    saved = out / "run_config.yaml"
    if overwrite and out.exists():
        shutil.rmtree(out)
    if saved.is_file():
        old = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
        try:  # compare resolved settings, defaults filled in
            old = PipelineConfig.model_validate(old).model_dump(mode="json")
        except ValueError:
            pass
        changes = _diff(old, cfg.model_dump(mode="json"))
        if changes:
            shown = "; ".join(changes[:5]) + (f"; ... ({len(changes)} changes)" if len(changes) > 5 else "")
            raise DataError(f"this run was started with another config ({shown}); run it with the "
                            "same settings to resume, pass --overwrite to start over, or choose another --out",
                            file=saved)
    elif out.exists() and any(out.iterdir()):
        raise DataError("the folder exists and is not a thinkact run; choose another --out", file=out)
    write_atomic(saved, dump_config(cfg))


def _record_time(out: Path, step: str, seconds: float) -> None:
    path = out / "timings.json"
    times = json.loads(path.read_text()) if path.is_file() else {}
    times[step] = round(seconds, 1)
    write_atomic(path, json.dumps(times, indent=2) + "\n")


# --------------------------------------------------------------------------- data


def _bench(cfg: PipelineConfig, tmp: Path) -> None:
    from thinkact.bench.generator import generate

    generate(tmp, seed=cfg.data.seed, sizes=dict(cfg.data.sizes), coldstart=cfg.data.coldstart_size,
             reasoning_style=cfg.data.coldstart_reasoning)


def _apigen_mt(cfg: PipelineConfig, tmp: Path) -> None:
    """APIGen-MT-5k from the hub, split by conversation; the bundled benchmark's held-out
    procedures serve as the ood split; the cold start is the training turns with reasoning
    (the data's `think` tool calls)."""
    from thinkact.data.apigen_mt import load_apigen_mt
    from thinkact.data.turns import make_turns

    convs, _ = load_apigen_mt("hub", skip_invalid=True)
    rng = random.Random(cfg.data.seed)
    rng.shuffle(convs)
    n_test = max(1, int(len(convs) * cfg.data.test_fraction))
    write_jsonl(tmp / "test.jsonl", convs[:n_test])
    write_jsonl(tmp / "train.jsonl", convs[n_test:])
    thought = [t for t in make_turns(convs[n_test:]) if t.target.reasoning]
    if not thought:
        raise DataError("no training turn carries reasoning: no cold-start set", file="hub")
    write_jsonl(tmp / "coldstart.jsonl", rng.sample(thought, min(cfg.data.coldstart_size, len(thought))))
    bench = tmp / "bench"
    _bench(cfg, bench)
    shutil.copy(bench / "ood.jsonl", tmp / "ood.jsonl")
    shutil.rmtree(bench)


def _files(cfg: PipelineConfig, tmp: Path) -> None:
    """The user's files, copied so the run folder holds everything it was made from."""
    for split in ("train", "test", "ood", "coldstart"):
        src = getattr(cfg.data, split)
        if src:
            if not Path(src).is_file():
                raise DataError("no such file", file=src, field=f"data.{split}")
            shutil.copy(src, tmp / f"{split}.jsonl")


def prepare_data(cfg: PipelineConfig, data_dir: Path) -> dict[str, Path]:
    """Conversations per split, their turn samples, and the cold-start set, in `data_dir`.
    Training turns lose their reasoning: base SFT and GRPO learn from actions only."""
    from thinkact.data.turns import make_turns

    if not data_dir.is_dir():
        tmp = data_dir.with_name(data_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        {"bench": _bench, "apigen-mt": _apigen_mt, "files": _files}[cfg.data.source](cfg, tmp)
        for split in SPLITS:
            if (tmp / f"{split}.jsonl").is_file():
                convs = read_conversations(tmp / f"{split}.jsonl")
                write_jsonl(tmp / f"turns_{split}.jsonl", make_turns(convs, keep_reasoning=False))
        cold = read_turns(tmp / "coldstart.jsonl")
        if not any(t.target.reasoning for t in cold):
            raise DataError("no cold-start sample carries reasoning", file=tmp / "coldstart.jsonl")
        tmp.rename(data_dir)
    files = {f"turns_{s}": data_dir / f"turns_{s}.jsonl" for s in SPLITS}
    files["coldstart"] = data_dir / "coldstart.jsonl"
    return {k: p for k, p in files.items() if p.is_file()}


def eval_subset(samples: list[TurnSample], n: int | None, seed: int) -> list[TurnSample]:
    """All samples, or a seeded random `n` of them in file order."""
    if n is None or n >= len(samples):
        return samples
    keep = sorted(random.Random(seed).sample(range(len(samples)), n))
    return [samples[i] for i in keep]


# --------------------------------------------------------------------------- evaluation


def evaluate_stage(cfg: PipelineConfig, stage: str, model_path: str, splits: dict[str, list[TurnSample]],
                   out: Path, chat_template: str | None = None, think: str | None = None) -> None:
    """Evaluate one model on every split it has not been evaluated on yet, into
    out/eval/<stage>/<split>/; `think`: the think rule it is scored with (default: the stage's)."""
    from thinkact.evaluate.runner import SCORES, evaluate_model
    from thinkact.models import load_for_inference

    todo = [s for s in splits if not (out / "eval" / stage / s / SCORES).is_file()]
    if not todo:
        return
    model, tok = load_for_inference(model_path, chat_template)
    r = cfg.grpo.reward
    for split in todo:
        final = out / "eval" / stage / split
        tmp = out / ".tmp" / stage / split  # outside eval/: only finished results appear there
        shutil.rmtree(tmp, ignore_errors=True)
        start = time.perf_counter()
        evaluate_model(model, splits[split], out_dir=tmp, tokenizer=tok, think=think or THINK[stage],
                       batch_size=cfg.eval.batch_size, max_new_tokens=cfg.eval.max_new_tokens,
                       weights=r.weights, answer_method=r.answer_method, budget=r.budget,
                       parse="strict")  # trained models are held to the grammar their rewards read
        shutil.rmtree(final, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(final)
        _record_time(out, f"eval/{stage}/{split}", time.perf_counter() - start)


# --------------------------------------------------------------------------- results


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def grpo_summary(log_path: Path, window: int = 5) -> dict[str, Any]:
    """Reward at the start and end of GRPO (mean of the first / last `window` logged steps,
    fewer when there are fewer than two windows' worth, so the two never share a step), the
    share of groups without learning signal, and reasoning length over training."""
    rows = [r for r in read_log(log_path) if isinstance(r.get("reward"), (int, float))]
    if not rows:
        return {}

    def ends(key: str) -> tuple[float | None, float | None, int]:
        xs = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        n = max(1, min(window, len(xs) // 2))
        return _mean(xs[:n]), _mean(xs[-n:]), n

    first, last, n = ends("reward")
    think_first, think_last, _ = ends("reasoning_length")
    return {"steps": rows[-1]["step"], "window": n, "reward_first": first, "reward_last": last,
            "frac_reward_zero_std": _mean([r["frac_reward_zero_std"] for r in rows
                                           if isinstance(r.get("frac_reward_zero_std"), (int, float))]),
            "reasoning_length_first": think_first, "reasoning_length_last": think_last}


def collect_results(out: Path, splits: list[str]) -> dict[str, Any]:
    """The run's rows (each evaluation's metrics with 95% bootstrap intervals over conversations
    and its sample sizes), GRPO against base SFT with a paired interval, GRPO's training
    summary and the timings."""
    from thinkact.evaluate.results import run_results

    results = run_results(out, splits)
    timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").is_file() else {}
    return {**results, "grpo": grpo_summary(out / "stages" / "grpo" / "train_log.jsonl"), "timings": timings}


def write_results(out: Path, results: dict[str, Any]) -> None:
    from thinkact.evaluate.report import build_table, table_markdown, table_note

    write_atomic(out / "results.json", json.dumps(results, indent=2) + "\n")
    table = build_table(results["rows"])
    md = table_markdown(table) + table_note(table, results) if results["rows"] else "(no results)\n"
    write_atomic(out / "results.md", md)


def print_summary(console: Console, out: Path, results: dict[str, Any]) -> None:
    from thinkact.evaluate.results import comparison_line, fmt_interval

    by = {(r["stage"], r["split"]): r for r in results["rows"]}
    splits = [s for s in ("test", "ood") if any(k[1] == s for k in by)]
    columns = [("turn_accuracy", "turn acc.", 3), ("mean_reward", "reward", 3),
               ("mean_reasoning_length", "think", 1)]
    table = Table(title=f"{out / 'results.md'} (95% bootstrap intervals over conversations; think: "
                        "reasoning words)", title_justify="left")
    table.add_column("split", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    for _, label, _ in columns:
        table.add_column(label, justify="right", no_wrap=True)
    for split in splits:
        for stage in EVAL_STAGES:
            if (stage, split) in by:
                row = by[(stage, split)]
                intervals = row.get("intervals") or {}
                table.add_row(split, stage, *[fmt_interval(row["metrics"].get(key), intervals.get(key), digits)
                                              for key, _, digits in columns])
        if split != splits[-1]:
            table.add_section()
    console.print(table)
    sizes = {s: by[(st, s)]["n"] for st in EVAL_STAGES for s in splits if (st, s) in by and "n" in by[(st, s)]}
    if sizes:
        console.print("; ".join(f"{s}: {n['turns']} turns in {n['conversations']} conversations"
                                for s, n in sizes.items()) + (
            f"; {len(results['seeds'])} training seeds" if results.get("seeds") else ""), highlight=False)
    g = results.get("grpo") or {}
    if g.get("steps") is not None:
        console.print(f"GRPO, {g['steps']} steps: reward {g['reward_first']:.3f} -> {g['reward_last']:.3f}; "
                      f"frac_reward_zero_std {g['frac_reward_zero_std']:.2f}; reasoning words "
                      f"{g['reasoning_length_first'] or 0:.1f} -> {g['reasoning_length_last'] or 0:.1f}",
                      highlight=False)
    for seed, g in (results.get("grpo_per_seed") or {}).items():
        if g.get("steps") is not None:
            console.print(f"GRPO seed {seed}, {g['steps']} steps: reward {g['reward_first']:.3f} -> "
                          f"{g['reward_last']:.3f}; reasoning words {g['reasoning_length_first'] or 0:.1f} -> "
                          f"{g['reasoning_length_last'] or 0:.1f}", highlight=False)
    for c in results.get("comparisons", []):
        console.print(comparison_line(c), highlight=False)
    total = sum(results.get("timings", {}).values())
    console.print(f"time: {total / 60:.1f} min over all steps (timings.json)", highlight=False)


# --------------------------------------------------------------------------- dry run

DRY_RUN_MODEL = "dry-run-model"


def dry_run_config(cfg: PipelineConfig, out: Path) -> PipelineConfig:
    """The same pipeline, shrunk to run anywhere in a minute: a tiny random model built in the
    run folder, a little of the bundled data instead of a hub download, two steps per stage, a
    few evaluation samples. Every setting that is not a size is kept, so the stage configs, TRL
    arguments, rewards and the run folder are checked as the real run would build them."""
    def shrink(settings, **extra):
        return settings.model_copy(update={"max_steps": 2, "grad_accum": 1, "logging_steps": 1,
                                           "save_steps": 1, **extra})

    g = cfg.grpo
    groups = min(g.num_generations, 4)
    data = cfg.data.model_copy(update={"source": "bench", "sizes": {"train": 16, "test": 8, "ood": 8},
                                       "coldstart_size": 16})
    return cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"name": str(out / DRY_RUN_MODEL), "chat_template": None}),
        "data": data,
        "sft": shrink(cfg.sft, batch_size=4), "coldstart": shrink(cfg.coldstart, batch_size=4),
        "grpo": shrink(g, batch_size=groups, num_generations=groups, max_completion_length=16,
                       use_vllm=False),
        "eval": cfg.eval.model_copy(update={"max_samples": 8, "max_new_tokens": 16}),
        "grpo_episodes": cfg.grpo_episodes and shrink(
            cfg.grpo_episodes, batch_size=groups, num_generations=groups, max_completion_length=16, goals=4,
            max_actions=3),
    })


def build_dry_run_model(out: Path, files: dict[str, Path]) -> None:
    """A tiny random Qwen3 with a tokenizer fitted to the run's own data."""
    from thinkact.models import build_tiny_model
    from thinkact.pretrain.tokenizer import train_tokenizer

    if (out / DRY_RUN_MODEL / "config.json").is_file():
        return
    texts = [m.content for t in read_turns(files["turns_train"])[:2000] for m in t.context] + \
            [json.dumps(t.tools) for t in read_turns(files["turns_train"])[:50]]
    build_tiny_model(out / DRY_RUN_MODEL, train_tokenizer(texts, vocab_size=512))


# --------------------------------------------------------------------------- the pipeline


# What a run of another training seed can take from a finished one instead of redoing it: the
# data (the same seed and sizes), the vanilla model's evaluation (no training, so no seed), and
# the dry run's tiny base model.
SHARED = ("data", "eval/vanilla", DRY_RUN_MODEL)


def share_outputs(source: Path, out: Path) -> None:
    """Copy the seed-independent outputs of run folder `source` into run folder `out` where
    `out` lacks them (each copied beside, then renamed, so it appears whole or not at all)."""
    for rel in SHARED:
        src, dst = source / rel, out / rel
        if src.is_dir() and not dst.exists():
            tmp = dst.with_name(dst.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            tmp.rename(dst)


def run_pipeline(cfg: PipelineConfig, out: str | Path, *, overwrite: bool = False, dry_run: bool = False,
                 console: Console | None = None, share_from: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) the whole pipeline into `out`; returns what results.json holds. A config
    with `seeds` runs once per seed (thinkact.train.seeds). `share_from`: a run folder of the
    same config but another training seed, whose data and vanilla evaluation are copied rather
    than redone."""
    from thinkact.models import resolve_model
    from thinkact.train.stage import quiet_libraries, train_stage

    console = console or Console()
    out = Path(out)
    if cfg.seeds is not None:
        from thinkact.train.seeds import run_seeds

        return run_seeds(cfg, out, overwrite=overwrite, dry_run=dry_run, console=console)
    if dry_run:
        cfg = dry_run_config(cfg, out)
    quiet_libraries()
    open_run(cfg, out, overwrite)
    if share_from is not None:
        share_outputs(Path(share_from), out)

    console.rule("data")
    start = time.perf_counter()
    had_data = (out / "data").is_dir()
    files = prepare_data(cfg, out / "data")
    if not had_data:
        _record_time(out, "data", time.perf_counter() - start)
    if dry_run:
        build_dry_run_model(out, files)
    splits = {s: eval_subset(read_turns(files[f"turns_{s}"]), cfg.eval.max_samples, cfg.data.seed)
              for s in cfg.eval.splits if f"turns_{s}" in files}
    console.print(", ".join(f"{k}: {sum(1 for _ in open(p))} samples" for k, p in files.items()), highlight=False)

    console.rule("vanilla")
    evaluate_stage(cfg, "vanilla", resolve_model(cfg.model.name), splits, out, cfg.model.chat_template)
    model = cfg.model.name
    data = {"sft": files["turns_train"], "coldstart": files["coldstart"], "grpo": files["turns_train"]}
    for stage in STAGES:
        console.rule(stage)
        draws = stage == "coldstart" and (cfg.coldstart.mix or cfg.coldstart.replay)  # from the training turns
        sc = stage_config(cfg, stage, model=model, data=str(data[stage]), out=str(out / "stages" / stage),
                          chat_template=cfg.model.chat_template if stage == "sft" else None,
                          mix_data=str(files["turns_train"]) if draws else None)
        done = (out / "stages" / stage / "model" / "config.yaml").is_file()
        start = time.perf_counter()
        model_dir = train_stage(sc, console=console)
        if not done:
            _record_time(out, f"train/{stage}", time.perf_counter() - start)
        evaluate_stage(cfg, stage, str(model_dir), splits, out)
        model = str(model_dir)
    if cfg.grpo_episodes is not None:  # episode GRPO, from the cold-start model
        console.rule("grpo_episodes")
        settings = cfg.grpo_episodes.model_copy(update={"goal_seed": cfg.data.seed})
        sc = StageConfig(stage="grpo_episodes", model=str(out / "stages" / "coldstart" / "model"),
                         out=str(out / "stages" / "grpo_episodes"), train=settings)
        done, start = (out / "stages" / "grpo_episodes" / "model" / "config.yaml").is_file(), time.perf_counter()
        model_dir = train_stage(sc, console=console)
        if not done:
            _record_time(out, "train/grpo_episodes", time.perf_counter() - start)
        evaluate_stage(cfg, "grpo_episodes", str(model_dir), splits, out)

    shutil.rmtree(out / ".tmp", ignore_errors=True)
    results = collect_results(out, list(splits))
    write_results(out, results)
    console.rule("summary")
    print_summary(console, out, results)
    return results
