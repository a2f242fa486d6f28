"""`thinkact pipeline`: data, three training stages, evaluation of every stage, results table.

Into a run folder (thinkact.rundir has its layout): the resolved config, the data, a folder per
training stage (thinkact.train.stage), an evaluation of every stage (vanilla too) on every split,
results.json and results.md (stage x split, core metrics, each with a 95% bootstrap interval over
conversations: evaluate.results), and the wall seconds of each step in timings.json.

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

from thinkact.rundir import DataDir, RunDir, tmp_beside
from thinkact.schema import DataError, TurnSample, read_conversations, read_turns, write_atomic, write_jsonl
from thinkact.train.config import (PipelineConfig, STAGES, comparable, dump_config, pipeline_stage_config, stage_config,
                                   upgrade_saved)

EVAL_STAGES = ("vanilla", *STAGES, "grpo_episodes")
# How each stage's outputs are scored: the base SFT model must not think, the reasoning stages
# must; the vanilla model is free to do either.
THINK = {"vanilla": "optional", "sft": "off", "coldstart": "required", "grpo": "required",
         "grpo_episodes": "required"}
SPLITS = ("train", "test", "ood")


# --------------------------------------------------------------------------- run folder


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


def open_run(cfg: PipelineConfig, out: str | Path, overwrite: bool) -> None:
    """Start a run folder, or check that an existing one was started with this config."""
    out = Path(out)
    saved = RunDir(out).config
    if overwrite and out.exists():
        shutil.rmtree(out)
    if saved.is_file():
        old = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
        try:  # compare resolved settings, defaults filled in, whichever version saved them
            old = comparable(PipelineConfig.model_validate(upgrade_saved(old)))
        except ValueError:
            pass
        changes = _diff(old, comparable(cfg))
        if changes:
            shown = "; ".join(changes[:5]) + (f"; ... ({len(changes)} changes)" if len(changes) > 5 else "")
            raise DataError(f"this run was started with another config ({shown}); run it with the "
                            "same settings to resume, pass --overwrite to start over, or choose another --out",
                            file=saved)
    elif out.exists() and any(out.iterdir()):
        raise DataError("the folder exists and is not a thinkact run; choose another --out", file=out)
    write_atomic(saved, dump_config(cfg))


def read_timings(run: RunDir) -> dict[str, float]:
    return json.loads(run.timings.read_text()) if run.timings.is_file() else {}


def _record_time(run: RunDir, step: str, seconds: float) -> None:
    times = read_timings(run)
    times[step] = round(seconds, 1)
    write_atomic(run.timings, json.dumps(times, indent=2) + "\n")


# --------------------------------------------------------------------------- data


def _bench(cfg: PipelineConfig, tmp: DataDir) -> None:
    from thinkact.bench.generator import generate

    generate(tmp.path, seed=cfg.data.seed, sizes=dict(cfg.data.sizes), coldstart=cfg.data.coldstart_size,
             reasoning_style=cfg.data.coldstart_reasoning)


def _apigen_mt(cfg: PipelineConfig, tmp: DataDir) -> None:
    """APIGen-MT-5k from the hub, split by conversation; the bundled benchmark's held-out
    procedures serve as the ood split; the cold start is the training turns with reasoning
    (the data's `think` tool calls)."""
    from thinkact.data.apigen_mt import load_apigen_mt
    from thinkact.data.turns import make_turns

    convs, _ = load_apigen_mt("hub", skip_invalid=True)
    rng = random.Random(cfg.data.seed)
    rng.shuffle(convs)
    n_test = max(1, int(len(convs) * cfg.data.test_fraction))
    write_jsonl(tmp.conversations("test"), convs[:n_test])
    write_jsonl(tmp.conversations("train"), convs[n_test:])
    thought = [t for t in make_turns(convs[n_test:]) if t.target.reasoning]
    if not thought:
        raise DataError("no training turn carries reasoning: no cold-start set", file="hub")
    write_jsonl(tmp.coldstart, rng.sample(thought, min(cfg.data.coldstart_size, len(thought))))
    bench = DataDir(tmp.path / "bench")
    _bench(cfg, bench)
    shutil.copy(bench.conversations("ood"), tmp.conversations("ood"))
    shutil.rmtree(bench.path)


def _files(cfg: PipelineConfig, tmp: DataDir) -> None:
    """The user's files, copied so the run folder holds everything it was made from."""
    for split in ("train", "test", "ood", "coldstart"):
        src = getattr(cfg.data, split)
        if src:
            if not Path(src).is_file():
                raise DataError("no such file", file=src, field=f"data.{split}")
            shutil.copy(src, tmp.coldstart if split == "coldstart" else tmp.conversations(split))


def prepare_data(cfg: PipelineConfig, data_dir: str | Path) -> dict[str, Path]:
    """Conversations per split, their turn samples, and the cold-start set, in `data_dir`.
    Training turns lose their reasoning: base SFT and GRPO learn from actions only."""
    from thinkact.data.turns import make_turns

    data = DataDir(data_dir)
    if not data.path.is_dir():
        tmp = DataDir(tmp_beside(data.path))
        shutil.rmtree(tmp.path, ignore_errors=True)
        tmp.path.mkdir(parents=True)
        {"bench": _bench, "apigen-mt": _apigen_mt, "files": _files}[cfg.data.source](cfg, tmp)
        for split in SPLITS:
            if tmp.conversations(split).is_file():
                convs = read_conversations(tmp.conversations(split))
                write_jsonl(tmp.turns(split), make_turns(convs, keep_reasoning=False))
        cold = read_turns(tmp.coldstart)
        if not any(t.target.reasoning for t in cold):
            raise DataError("no cold-start sample carries reasoning", file=tmp.coldstart)
        tmp.path.rename(data.path)
    files = {f"turns_{s}": data.turns(s) for s in SPLITS}
    files["coldstart"] = data.coldstart
    return {k: p for k, p in files.items() if p.is_file()}


def eval_subset(samples: list[TurnSample], n: int | None, seed: int) -> list[TurnSample]:
    """All samples, or a seeded random `n` of them in file order."""
    if n is None or n >= len(samples):
        return samples
    keep = sorted(random.Random(seed).sample(range(len(samples)), n))
    return [samples[i] for i in keep]


# --------------------------------------------------------------------------- evaluation


def evaluate_stage(cfg: PipelineConfig, stage: str, model_path: str, splits: dict[str, list[TurnSample]],
                   out: str | Path, chat_template: str | None = None, think: str | None = None) -> None:
    """Evaluate one model on every split it has not been evaluated on yet, into the run folder
    `out` (eval/<stage>/<split>/); `think`: the think rule it is scored with (default: the stage's)."""
    from thinkact.evaluate.runner import evaluate_model
    from thinkact.models import load_for_inference

    run = RunDir(out)
    todo = [s for s in splits if not run.eval(stage, s).scores.is_file()]
    if not todo:
        return
    model, tok = load_for_inference(model_path, chat_template)
    r = cfg.grpo.reward
    for split in todo:
        final, tmp = run.eval_dir(stage, split), run.eval_tmp(stage, split)
        shutil.rmtree(tmp, ignore_errors=True)
        start = time.perf_counter()
        evaluate_model(model, splits[split], out=tmp, tokenizer=tok, think=think or THINK[stage],
                       batch_size=cfg.eval.batch_size, max_new_tokens=cfg.eval.max_new_tokens,
                       weights=r.weights, answer_method=r.answer_method, budget=r.budget,
                       parse="strict")  # trained models are held to the grammar their rewards read
        shutil.rmtree(final, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(final)
        _record_time(run, f"eval/{stage}/{split}", time.perf_counter() - start)


# --------------------------------------------------------------------------- results


def collect_results(out: str | Path, splits: list[str]) -> dict[str, Any]:
    """The run's rows (each evaluation's metrics with 95% bootstrap intervals over conversations
    and its sample sizes), GRPO against base SFT with a paired interval, GRPO's training
    summary and the timings."""
    from thinkact.evaluate.results import grpo_summary, run_results

    run = RunDir(out)
    results = run_results(run.path, splits)
    return {**results, "grpo": grpo_summary(run.stage_log("grpo")), "timings": read_timings(run)}


def write_results(out: str | Path, results: dict[str, Any]) -> None:
    from thinkact.evaluate.report import build_table, table_markdown, table_note

    run = RunDir(out)
    write_atomic(run.results, json.dumps(results, indent=2) + "\n")
    table = build_table(results["rows"])
    md = table_markdown(table) + table_note(table, results) if results["rows"] else "(no results)\n"
    write_atomic(run.results_md, md)


def print_summary(console: Console, out: str | Path, results: dict[str, Any]) -> None:
    from thinkact.evaluate.results import comparison_line, fmt_interval

    by = {(r["stage"], r["split"]): r for r in results["rows"]}
    splits = [s for s in ("test", "ood") if any(k[1] == s for k in by)]
    columns = [("turn_accuracy", "turn acc.", 3), ("mean_reward", "reward", 3),
               ("mean_reasoning_length", "think", 1)]
    table = Table(title=f"{RunDir(out).results_md} (95% bootstrap intervals over conversations; think: "
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


def dry_run_config(cfg: PipelineConfig, out: str | Path) -> PipelineConfig:
    """The same pipeline, shrunk to run anywhere in a minute: a tiny random model built in the
    run folder, a little of the bundled data instead of a hub download, two steps per stage, a
    few evaluation samples. Every setting that is not a size is kept, so the stage configs, TRL
    arguments, rewards and the run folder are checked as the real run would build them."""
    def shrink(settings, **extra):
        return settings.with_trl(max_steps=2, gradient_accumulation_steps=1, logging_steps=1, save_steps=1,
                                 **extra)

    g = cfg.grpo
    groups = min(g.trl_value("num_generations"), 4)
    data = cfg.data.model_copy(update={"source": "bench", "sizes": {"train": 16, "test": 8, "ood": 8},
                                       "coldstart_size": 16})
    return cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"name": str(RunDir(out).dry_run_model), "chat_template": None}),
        "data": data,
        "sft": shrink(cfg.sft, per_device_train_batch_size=4),
        "coldstart": shrink(cfg.coldstart, per_device_train_batch_size=4),
        "grpo": shrink(g, per_device_train_batch_size=groups, num_generations=groups, max_completion_length=16,
                       use_vllm=False),
        "eval": cfg.eval.model_copy(update={"max_samples": 8, "max_new_tokens": 16}),
        "grpo_episodes": cfg.grpo_episodes and shrink(
            cfg.grpo_episodes, per_device_train_batch_size=groups, num_generations=groups,
            max_completion_length=16).model_copy(update={"goals": 4, "max_actions": 3}),
    })


def build_dry_run_model(out: str | Path, files: dict[str, Path]) -> None:
    """A tiny random Qwen3 with a tokenizer fitted to the run's own data."""
    from thinkact.models import build_tiny_model
    from thinkact.pretrain.tokenizer import train_tokenizer

    folder = RunDir(out).dry_run_model
    if (folder / "config.json").is_file():
        return
    texts = [m.content for t in read_turns(files["turns_train"])[:2000] for m in t.context] + \
            [json.dumps(t.tools) for t in read_turns(files["turns_train"])[:50]]
    build_tiny_model(folder, train_tokenizer(texts, vocab_size=512))


# --------------------------------------------------------------------------- the pipeline


def shared(run: RunDir) -> list[Path]:
    """What a run of another training seed can take from a finished one instead of redoing it:
    the data (the same seed and sizes), the vanilla model's evaluation (no training, so no seed),
    and the dry run's tiny base model."""
    return [run.data.path, run.eval_dir("vanilla"), run.dry_run_model]


def share_outputs(source: str | Path, out: str | Path) -> None:
    """Copy the seed-independent outputs of run folder `source` into run folder `out` where
    `out` lacks them (each copied beside, then renamed, so it appears whole or not at all)."""
    for src, dst in zip(shared(RunDir(source)), shared(RunDir(out))):
        if src.is_dir() and not dst.exists():
            tmp = tmp_beside(dst)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            tmp.rename(dst)


def run_pipeline(cfg: PipelineConfig, out: str | Path, *, overwrite: bool = False, dry_run: bool = False,
                 console: Console | None = None, share_from: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) the whole pipeline into `out`; returns what results.json holds. A config
    with `seeds` runs once per seed (thinkact.seeds). `share_from`: a run folder of the
    same config but another training seed, whose data and vanilla evaluation are copied rather
    than redone."""
    from thinkact.models import resolve_model
    from thinkact.train.stage import quiet_libraries, train_stage

    console = console or Console()
    out = Path(out)
    run = RunDir(out)
    if cfg.seeds is not None:
        from thinkact.seeds import run_seeds

        return run_seeds(cfg, out, overwrite=overwrite, dry_run=dry_run, console=console)
    if dry_run:
        cfg = dry_run_config(cfg, out)
    quiet_libraries()
    open_run(cfg, out, overwrite)
    if share_from is not None:
        share_outputs(Path(share_from), out)

    console.rule("data")
    start = time.perf_counter()
    had_data = run.data.path.is_dir()
    files = prepare_data(cfg, run.data.path)
    if not had_data:
        _record_time(run, "data", time.perf_counter() - start)
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
        sc = stage_config(cfg, stage, model=model, data=str(data[stage]), out=str(run.stage(stage)),
                          chat_template=cfg.model.chat_template if stage == "sft" else None,
                          mix_data=str(files["turns_train"]) if draws else None)
        done = run.stage_done(stage)
        start = time.perf_counter()
        model_dir = train_stage(sc, console=console)
        if not done:
            _record_time(run, f"train/{stage}", time.perf_counter() - start)
        evaluate_stage(cfg, stage, str(model_dir), splits, out)
        model = str(model_dir)
    if cfg.grpo_episodes is not None:  # episode GRPO, from the cold-start model
        console.rule("grpo_episodes")
        sc = pipeline_stage_config(cfg, "grpo_episodes", out)
        done, start = run.stage_done("grpo_episodes"), time.perf_counter()
        model_dir = train_stage(sc, console=console)
        if not done:
            _record_time(run, "train/grpo_episodes", time.perf_counter() - start)
        evaluate_stage(cfg, "grpo_episodes", str(model_dir), splits, out)

    shutil.rmtree(run.tmp, ignore_errors=True)
    results = collect_results(out, list(splits))
    write_results(out, results)
    console.rule("summary")
    print_summary(console, out, results)
    return results
