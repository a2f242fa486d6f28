"""The `thinkact` command line. Thin by design: each command parses options and calls the
library, so everything here is usable from Python too."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from thinkact.data.bfcl import BFCL_CATEGORIES
from thinkact.evaluate.bfcl import DEFAULT_CATEGORIES

app = typer.Typer(help="Train conversational agents to think before they act.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
data_app = typer.Typer(help="Generate, convert and split data.", no_args_is_help=True)
train_app = typer.Typer(help="Train one stage: sft, coldstart, grpo or grpo-episodes.", no_args_is_help=True)
config_app = typer.Typer(help="Pipeline configs and presets as stage configs.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(config_app, name="config")


Parse = Literal["native", "strict"]
_PARSE_HELP = ("native: read the call format the model uses (our grammar, <tool_call> tags, fenced or "
               "bare JSON, Python calls; the format metric counts our grammar); strict: our grammar only, "
               "as training rewards read outputs.")


def _forms_line(metrics: dict) -> str:
    """How many outputs were read in each form (thinkact.native), for the line under a table."""
    forms = metrics.get("by_form") or {}
    return "outputs read as: " + ", ".join(f"{form} {n}" for form, n in forms.items())


def _fail(exc: Exception) -> None:
    """A data problem is the user's to fix: print where it is, no traceback, exit 1."""
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False, highlight=False)
    raise typer.Exit(1)


@data_app.command("convert")
def data_convert(
    src: str = typer.Argument(..., help="Source file; for bfcl a category name or 'all'; for apigen-mt also 'hub'."),
    fmt: str = typer.Option(..., "--format", "-f", help="Source format: apigen-mt, openai, bfcl or canonical."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSON lines file."),
    to: str = typer.Option("canonical", "--to", help="Output format: canonical, openai or apigen-mt."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records and report why, instead of stopping."),
) -> None:
    """Convert a data source into canonical conversations (or export them as openai / apigen-mt)."""
    from rich.console import Console

    from thinkact.data.convert import load_source, write_conversations
    from thinkact.data.records import group_reasons
    from thinkact.schema import DataError, check_output

    console = Console(soft_wrap=True)
    try:
        check_output(out)
        convs, skipped = load_source(src, fmt, skip_invalid=skip_invalid)
        if not convs and not skipped:
            raise DataError("no records: the file is empty", file=src)
        n = write_conversations(out, convs, to=to)
    except DataError as exc:
        _fail(exc)
    actions = sum(m.role == "assistant" for c in convs for m in c.messages)
    console.print(f"{n} conversations, {actions} assistant actions -> {out} ({to})", markup=False)
    if skip_invalid:
        console.print(f"skipped {len(skipped)} invalid records", markup=False)
        for reason, count in group_reasons(skipped)[:20]:
            console.print(f"  {count:>6}  {reason}", markup=False, highlight=False)


@data_app.command("turns")
def data_turns(
    conversations: Path = typer.Argument(..., help="Canonical conversations (JSON lines)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output turn samples (JSON lines)."),
    reasoning: bool = typer.Option(True, "--reasoning/--no-reasoning", help="Keep reasoning in targets and context."),
) -> None:
    """Split conversations into turn samples: one per assistant action."""
    from rich.console import Console

    from thinkact.data.turns import make_turns
    from thinkact.schema import DataError, check_output, read_conversations, write_jsonl

    try:
        check_output(out)
        convs = read_conversations(conversations)
        if not convs:
            raise DataError("no conversations: the file is empty", file=conversations)
    except (DataError, OSError) as exc:
        _fail(exc)
    turns = make_turns(convs, keep_reasoning=reasoning)
    write_jsonl(out, turns)
    calls = sum(t.target.kind == "tool_call" for t in turns)
    thought = sum(bool(t.target.reasoning) for t in turns)
    Console(soft_wrap=True).print(f"{len(convs)} conversations -> {len(turns)} turn samples ({calls} tool calls, "
                    f"{len(turns) - calls} replies, {thought} with reasoning) -> {out}", markup=False)


@data_app.command("generate")
def data_generate(
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    seed: int = typer.Option(0, help="Seed: the same seed gives byte-identical files."),
    train: int = typer.Option(2000, help="Train conversations."),
    test: int = typer.Option(300, help="Test conversations (train procedures, unseen entities)."),
    ood: int = typer.Option(300, help="Ood conversations (procedures never seen in train)."),
    coldstart: int = typer.Option(96, help="Cold-start turn samples with reasoning (fewer than 100)."),
    reasoning: str = typer.Option("prose", help="Cold-start reasoning: prose (ends in the decision) "
                                  "or facts (what the context established, no decision)."),
) -> None:
    """Generate the bundled benchmark: train/test/ood conversations, their turn samples, a
    cold-start set, APIGen-MT copies and a manifest."""
    from thinkact.bench.generator import generate
    from thinkact.schema import check_output

    try:
        check_output(out, folder=True)
        m = generate(out, seed=seed, sizes={"train": train, "test": test, "ood": ood}, coldstart=coldstart,
                     reasoning_style=reasoning)
    except ValueError as exc:
        _fail(exc)
    sizes = ", ".join(f"{k} {v}" for k, v in m["sizes"].items())
    typer.echo(f"{sizes} conversations, coldstart {m['coldstart']} turn samples -> {out}")


@app.command()
def pretrain(out: str = typer.Option(..., "--out", help="Folder for the tokenizer, checkpoints and final model."),
             seed: int = typer.Option(0, help="Seed of the corpus, the tokenizer and the initial weights."),
             max_steps: int = typer.Option(5000, help="Stop here even if the copy probe has not passed."),
             target: float = typer.Option(0.95, help="Copy-probe score that ends pretraining."),
             probe_every: int = typer.Option(100, help="Steps between probe runs (and checkpoints)."),
             threads: int = typer.Option(0, help="Torch CPU threads (0: torch's default); 1 is faster on a busy CPU.")) -> None:
    """Build the quickstart base model: tokenizer, then a small Qwen3 pretrained on generated
    text until the copy probe passes. Rerun the same command to resume a killed run."""
    from thinkact.pretrain.loop import PretrainConfig, pretrain as run
    from thinkact.schema import DataError, check_output

    try:
        check_output(out, folder=True)
    except DataError as exc:
        _fail(exc)
    summary = run(out, PretrainConfig(seed=seed, max_steps=max_steps, target=target,
                                      probe_every=probe_every, threads=threads), log=typer.echo)
    typer.echo(f"step {summary['step']}  probe {summary['probe']}  params {summary['params']:,}  "
               f"vocab {summary['vocab_size']}  {summary['tokens_per_s']:,} tokens/s  {summary['wall_s']} s")


@app.command()
def probe(model: str = typer.Option("quickstart", "--model", help="Model folder or preset name (default: the "
                                   "shipped quickstart base)."),
          n: int = typer.Option(200, help="Number of probe contexts."),
          seed: int = typer.Option(0, help="Seed of the probe identifiers and filler.")) -> None:
    """Copy probe: share of unseen identifiers a model copies exactly from earlier context."""
    from thinkact.models import load_for_inference
    from thinkact.pretrain.probe import copy_probe
    from thinkact.schema import DataError

    try:
        loaded, tok = load_for_inference(model)
    except DataError as exc:
        _fail(exc)
    score = copy_probe(loaded, tok, n=n, seed=seed)
    typer.echo(f"copy probe: {score:.3f} ({n} contexts, seed {seed})")


@app.command()
def score(
    gold: Path = typer.Option(..., "--gold", help="Gold turn samples (JSON lines)."),
    pred: Path = typer.Option(..., "--pred", help='Predictions (JSON lines of {"id", "output"}).'),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the scores (JSON)."),
    think: Literal["required", "optional", "off"] = typer.Option("optional", help="Think rule of the format reward."),
    answer_method: Literal["f1", "rougeL", "embedding"] = typer.Option("f1", help="Reply similarity measure."),
    budget: int = typer.Option(64, help="Reasoning words with full efficiency credit."),
    parse: Parse = typer.Option("native", help=_PARSE_HELP),
    tokenizer: str = typer.Option(None, "--tokenizer", help="Model folder whose tokenizer's chat template "
                                  "parses responses first (native reading), as `thinkact eval` does."),
) -> None:
    """Rewards and metrics of a prediction file against gold turn samples; no model needed."""
    from rich.console import Console

    from thinkact.schema import DataError, check_output
    from thinkact.scoring import metrics_table, score_files

    try:
        check_output(out)
        tok = None
        if tokenizer:
            from thinkact.models import load_tokenizer
            tok = load_tokenizer(tokenizer, grammar_tags=False)
        result = score_files(gold, pred, out=out, think=think, answer_method=answer_method, budget=budget,
                             progress=True, parse=parse, tokenizer=tok)
    except (DataError, OSError, ImportError) as exc:
        _fail(exc)
    metrics = result["metrics"]
    Console(soft_wrap=True).print(metrics_table(metrics, title=f"{pred} vs {gold}"))
    typer.echo(_forms_line(metrics))
    if metrics["n_missing_predictions"]:
        Console(stderr=True, soft_wrap=True).print(
            f"warning: {metrics['n_missing_predictions']} of {metrics['n_samples']} gold samples have no "
            f"prediction in {pred}; scored as empty outputs", markup=False, highlight=False)
    typer.echo(f"scores -> {out}")


def _set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


eval_app = typer.Typer(help="Evaluate a model: turn samples (default), BFCL, or episodes.")
app.add_typer(eval_app, name="eval")
Backend = Literal["hf", "vllm", "openai"]


@eval_app.callback(invoke_without_command=True)
def eval_turns(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", help="Model folder; for --backend openai, the served model name."),
    data: Path = typer.Option(None, "--data", help="Turn samples (JSON lines)."),
    out: Path = typer.Option(None, "--out", "-o", help="Scores JSON; the predictions, gold samples and timing go "
                             "beside it, named after it (runs/x.json -> runs/x.predictions.jsonl, ...)."),
    think: Literal["required", "optional", "off"] = typer.Option("optional", help="Think rule of the format reward."),
    batch_size: int = typer.Option(16, help="Samples per generation batch (hf)."),
    max_new_tokens: int = typer.Option(256, help="Most tokens generated per action."),
    limit: int = typer.Option(None, help="Evaluate only the first N samples."),
    backend: Backend = typer.Option("hf", help="hf (transformers), vllm, or openai (an endpoint)."),
    endpoint: str = typer.Option(None, help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1."),
    concurrency: int = typer.Option(8, help="openai: requests in flight."),
    timeout: float = typer.Option(300.0, help="openai: seconds to wait for one answer."),
    attempts: int = typer.Option(5, help="openai: tries per sample (429, 5xx, timeouts and dropped connections are retried)."),
    threads: int = typer.Option(0, help="torch CPU threads (0: torch's default; 1 is often fastest on a busy machine)."),
    parse: Parse = typer.Option("native", help=_PARSE_HELP),
) -> None:
    """Generate one action per turn sample and score it (`thinkact score` on the written
    predictions gives the same numbers). With --backend openai, predictions are written as they
    arrive and running the same command again resumes: only samples without one are asked for."""
    if ctx.invoked_subcommand is not None:
        return
    if not (model and data and out):
        raise typer.BadParameter("--model, --data and --out are required (or use a sub-command: bfcl, episodes)")
    _set_threads(threads)
    from rich.console import Console

    from thinkact.evaluate.runner import evaluate_model
    from thinkact.rundir import EvalFiles
    from thinkact.schema import DataError, check_output, read_turns
    from thinkact.scoring import metrics_table

    files = EvalFiles.beside(out)
    try:
        check_output(out)
        samples = read_turns(data)[:limit] if limit else read_turns(data)
        if not samples:
            raise DataError("no turn samples: the file is empty", file=data)
        result = evaluate_model(model, samples, out=files, think=think,
                                batch_size=batch_size, max_new_tokens=max_new_tokens, backend=backend,
                                endpoint=endpoint, concurrency=concurrency, timeout=timeout,
                                attempts=attempts, parse=parse)
    except (DataError, OSError, ImportError, RuntimeError, ValueError) as exc:
        _fail(exc)
    Console(soft_wrap=True).print(metrics_table(result["metrics"], title=f"{model} on {data}"))
    typer.echo(_forms_line(result["metrics"]))
    typer.echo(f"scores -> {out}; predictions -> {files.predictions}")
    missing = result["metrics"]["n_missing_predictions"]
    if missing:
        typer.echo(f"{missing} samples have no prediction and were scored as empty outputs (why: "
                   f"{files.errors}); run the same command again to retry them")


@eval_app.command("bfcl")
def eval_bfcl(
    model: str = typer.Option(None, "--model", help="Model folder (or served name with --backend openai)."),
    pred: Path = typer.Option(None, "--pred", help='Score this file of {"id": BFCL id, "output"} instead.'),
    category: list[str] = typer.Option(None, "--category", "-c", help=(
        f"BFCL category; repeat for several. Default: {', '.join(DEFAULT_CATEGORIES)}. "
        f"All: {', '.join(BFCL_CATEGORIES)}.")),
    out: Path = typer.Option(..., "--out", "-o", help="Results JSON; with --model, the predictions go beside it, "
                             "named after it (runs/bfcl.json -> runs/bfcl.predictions.jsonl)."),
    batch_size: int = typer.Option(16, help="Samples per generation batch."),
    max_new_tokens: int = typer.Option(256, help="Most tokens generated per action."),
    limit: int = typer.Option(None, help="Run (or score) only the first N entries of each category."),
    backend: Backend = typer.Option("hf", help="hf, vllm or openai."),
    endpoint: str = typer.Option(None, help="OpenAI-compatible base URL."),
    threads: int = typer.Option(0, help="torch CPU threads (0: torch's default; 1 is often fastest on a busy machine)."),
    parse: Parse = typer.Option("native", help=_PARSE_HELP),
) -> None:
    """Run a model on BFCL categories, or score predictions, with BFCL's own checker."""
    from thinkact.evaluate.bfcl import format_bfcl, predictions_path, run_bfcl, score_bfcl_file
    from thinkact.schema import DataError, check_output

    if (model is None) == (pred is None):
        raise typer.BadParameter("give exactly one of --model and --pred")
    _set_threads(threads)
    try:
        check_output(out)
        if pred is not None:
            result = score_bfcl_file(pred, category or None, out=out, limit=limit, parse=parse)
        else:
            result = run_bfcl(model, category or list(DEFAULT_CATEGORIES), out=out, backend=backend,
                              endpoint=endpoint, batch_size=batch_size, max_new_tokens=max_new_tokens,
                              limit=limit, parse=parse)
    except (DataError, OSError, ImportError, RuntimeError, ValueError) as exc:
        _fail(exc)
    typer.echo(format_bfcl(result))
    typer.echo(f"results -> {out}" + (f"; predictions -> {predictions_path(out)}" if model else ""))


@eval_app.command("episodes")
def eval_episodes(
    model: str = typer.Option(..., "--model", help="Model folder (or served name with --backend openai)."),
    out: Path = typer.Option(..., "--out", "-o", help="Results JSON; the episodes' conversations go beside it, "
                             "named after it (runs/ep.json -> runs/ep.episodes.jsonl)."),
    split: str = typer.Option("test", help="Goals from this split: train, test or ood."),
    goals: int = typer.Option(20, help="Number of user goals."),
    trials: int = typer.Option(4, help="Trials per goal (pass^k needs k trials)."),
    k: list[int] = typer.Option([1, 2, 4], "--k", help="pass^k for these k; repeat for several."),
    seed: int = typer.Option(0, help="Seed for sampling the goals."),
    max_actions: int = typer.Option(40, help="Most agent actions per episode."),
    batch_size: int = typer.Option(32, help="Episodes in flight (their actions are generated together)."),
    max_new_tokens: int = typer.Option(256, help="Most tokens generated per action."),
    backend: Backend = typer.Option("hf", help="hf, vllm or openai."),
    endpoint: str = typer.Option(None, help="OpenAI-compatible base URL."),
    threads: int = typer.Option(0, help="torch CPU threads (0: torch's default; 1 is often fastest on a busy machine)."),
) -> None:
    """Play the bundled user simulator with the model as the agent: goal completion and pass^k."""
    from thinkact.evaluate.episodes import episodes_path, evaluate_episodes
    from thinkact.schema import DataError, check_output

    _set_threads(threads)
    try:
        check_output(out)
        s = evaluate_episodes(model, out=out, split=split, n_goals=goals, trials=trials, ks=tuple(k),
                              seed=seed, max_actions=max_actions, backend=backend, endpoint=endpoint,
                              batch_size=batch_size, max_new_tokens=max_new_tokens)
    except (DataError, OSError, ImportError, RuntimeError, ValueError) as exc:
        _fail(exc)
    passes = "  ".join(f"{key} {v:.3f}" for key, v in s.items() if key.startswith("pass^"))
    typer.echo(f"{s['episodes']} episodes ({s['goals']} goals x {s['trials']} trials, {split}): "
               f"success {s['success_rate']:.3f}  {passes}  malformed {s['malformed_rate']:.3f}")
    if s["failures"]:
        typer.echo("failures: " + ", ".join(f"{why} {n}" for why, n in s["failures"].items()))
    typer.echo(f"results -> {out}; episodes -> {episodes_path(out)}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A pipeline run folder (thinkact pipeline --out RUN_DIR)."),
    out: Path = typer.Option(None, "--out", "-o", help="Report folder (default RUN_DIR/report)."),
    samples: int = typer.Option(30, help="Turns shown in the HTML sample browser."),
    seed: int = typer.Option(0, help="Seed for picking the sample turns."),
) -> None:
    """Stage-by-split table (markdown, JSON), plots (PNG) and a self-contained report.html."""
    from thinkact.evaluate.report import build_report
    from thinkact.schema import DataError, check_output

    try:
        if out is not None:
            check_output(out, folder=True)
        folder = build_report(run_dir, out, n_samples=samples, seed=seed)
    except (DataError, OSError) as exc:
        _fail(exc)
    typer.echo((folder / "table.md").read_text(encoding="utf-8"))
    typer.echo(f"report -> {folder / 'report.html'}")


def _train(stage: str, config: Path | None, preset: str | None, run: Path | None, seed: int | None,
           overwrite: bool, check: bool) -> None:
    from rich.console import Console

    from thinkact.schema import DataError
    from thinkact.train.config import (check_with_trl, dump_config, load_pipeline_config, load_stage_config,
                                       missing_inputs, pipeline_stage_config)
    from thinkact.train.stage import train_stage

    console = Console(soft_wrap=True)
    try:
        if (config is None) == (preset is None):
            raise DataError("give a stage config (--config) or a preset (--preset), one of them")
        if preset is None and (run is not None or seed is not None):
            raise DataError("--run and --seed go with --preset (a stage config names its own paths)")
        if preset is not None:
            run = run or Path("runs") / preset
            cfg = pipeline_stage_config(load_pipeline_config(preset=preset), stage, run, seed)
            source = f"preset {preset}, run folder {run}"
        else:
            cfg = load_stage_config(config, stage)
            source = str(config)
        if check:
            check_with_trl(cfg, config)
            console.print(f"{source}: valid {stage} config\n" + dump_config(cfg), markup=False, highlight=False)
            # Valid is not ready: name the inputs training would stop on (a stage reads files
            # that an earlier stage or the pipeline's data step writes).
            for problem in missing_inputs(cfg, config):
                Console(stderr=True, soft_wrap=True).print(f"warning: {problem}", markup=False, highlight=False)
            return
        model = train_stage(cfg, overwrite=overwrite, console=console)
    except DataError as exc:
        _fail(exc)
    console.print(f"{stage}: model saved to {model}", markup=False)


_CONFIG = typer.Option(None, "--config", "-c", help="Stage config (YAML), e.g. one `thinkact config export` wrote.")
_PRESET = typer.Option(None, "--preset", "-p", help="Train this preset's stage, as `thinkact pipeline --preset` "
                       "would in run folder --run (quickstart, quickstart-episodes, results, smollm2, paper, tiny).")
_RUN = typer.Option(None, "--run", help="With --preset: the pipeline run folder whose data/ the stage reads and "
                    "whose stages/ it writes (default runs/<preset>).")
_SEED = typer.Option(None, "--seed", help="With --preset: which of the preset's training seeds (a preset with "
                     "`seeds` runs RUN/seed-<k>/ per seed).")
_OVERWRITE = typer.Option(False, "--overwrite", help="Start over, deleting the stage folder (default: resume).")
_CHECK = typer.Option(False, "--check", help="Only validate the config (TRL's own checks included) and print it "
                      "resolved.")


@train_app.command("sft")
def train_sft(config: Path = _CONFIG, preset: str = _PRESET, run: Path = _RUN, seed: int = _SEED,
              overwrite: bool = _OVERWRITE, check: bool = _CHECK) -> None:
    """Base SFT: turn samples without reasoning, loss on the action only."""
    _train("sft", config, preset, run, seed, overwrite, check)


@train_app.command("coldstart")
def train_coldstart(config: Path = _CONFIG, preset: str = _PRESET, run: Path = _RUN, seed: int = _SEED,
                    overwrite: bool = _OVERWRITE, check: bool = _CHECK) -> None:
    """Cold start: a short SFT from the SFT model on the small reasoning set (<think> first)."""
    _train("coldstart", config, preset, run, seed, overwrite, check)


@train_app.command("grpo")
def train_grpo(config: Path = _CONFIG, preset: str = _PRESET, run: Path = _RUN, seed: int = _SEED,
               overwrite: bool = _OVERWRITE, check: bool = _CHECK) -> None:
    """GRPO from the cold-start model, rewarded by the composite reward (each component logged)."""
    _train("grpo", config, preset, run, seed, overwrite, check)


@config_app.command("export")
def config_export(
    source: str = typer.Argument(..., help="A preset name (quickstart, quickstart-episodes, results, smollm2, paper, tiny) or a "
                                 "pipeline config (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for sft.yaml, coldstart.yaml and grpo.yaml."),
    run: Path = typer.Option(None, "--run", help="The pipeline run folder the stages read data/ from and write "
                             "stages/ to (default runs/<name>)."),
    seed: int = typer.Option(None, "--seed", help="Which training seed, for a config with `seeds`."),
) -> None:
    """Write a pipeline config's three stages as stage configs (`thinkact train <stage> --config`),
    every setting written out: to run them under `accelerate launch`, or to edit."""
    from thinkact.schema import DataError, check_output
    from thinkact.train.config import export_stage_configs

    try:
        check_output(out, folder=True)
        written = export_stage_configs(source, out, run, seed)
    except DataError as exc:
        _fail(exc)
    typer.echo("\n".join(str(p) for p in written))


@train_app.command("grpo-episodes")
def train_grpo_episodes(config: Path = _CONFIG, preset: str = _PRESET, run: Path = _RUN, seed: int = _SEED,
                        overwrite: bool = _OVERWRITE, check: bool = _CHECK) -> None:
    """GRPO on whole conversations in the bundled simulator, from the cold-start model: the
    reward is goal completion plus the mean per-turn reward against the oracle (a preset
    with a `grpo_episodes` section, e.g. quickstart-episodes)."""
    _train("grpo_episodes", config, preset, run, seed, overwrite, check)


@app.command()
def pipeline(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (created; an existing run is resumed)."),
    preset: str = typer.Option(None, "--preset", "-p", help="quickstart (default), results, smollm2, paper, tiny."),
    config: Path = typer.Option(None, "--config", "-c", help="A pipeline config (YAML) instead of a preset."),
    model: str = typer.Option(None, "--model", "-m", help="Base model instead of the preset's: an HF folder or hub id."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the run folder and start over."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the whole pipeline with a tiny local model, "
                                 "the bundled data and two steps per stage."),
    check: bool = typer.Option(False, "--check", help="Only validate the config and print it resolved."),
) -> None:
    """Data, base SFT, cold start, GRPO, and evaluation of every stage on test and ood: the
    results table in OUT/results.md. Killed, it resumes where it stopped when run again."""
    from rich.console import Console

    from thinkact.schema import DataError, check_output
    from thinkact.train.config import dump_config, load_pipeline_config
    from thinkact.pipeline import run_pipeline

    console = Console(soft_wrap=True)
    try:
        if preset and config:
            raise DataError("give --preset or --config, not both")
        check_output(out, folder=True)
        cfg = load_pipeline_config(config, preset)
        if model:
            cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": model})})
        if check:
            console.print(dump_config(cfg), markup=False, highlight=False)
            return
        run_pipeline(cfg, out, overwrite=overwrite, dry_run=dry_run, console=console)
    except DataError as exc:
        _fail(exc)


@app.command()
def ablate(
    run: Path = typer.Argument(..., help="A finished pipeline run folder."),
    variants: list[str] = typer.Option(None, "--variants", "-v", help="Variant names (shipped: full, no-format, "
                                       "no-decision, no-tool, no-answer, no-efficiency, tool-x2, answer-x2, binary, "
                                       "no-think, no-coldstart; default: all) or YAML overlay files."),
    out: Path = typer.Option(None, "--out", "-o", help="Ablation folder (default: RUN/ablate)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start the chosen variants over."),
) -> None:
    """GRPO variants of a finished run (reward components removed or reweighted, a binary
    reward, GRPO without thinking or without cold start), each evaluated on test and ood:
    ablate.md and ablate.json in OUT. Killed, it resumes where it stopped when run again."""
    from rich.console import Console

    from thinkact.schema import DataError, check_output
    from thinkact.ablate import run_ablation

    try:
        if out is not None:
            check_output(out, folder=True)
        run_ablation(run, variants or None, out, overwrite=overwrite, console=Console(soft_wrap=True))
    except DataError as exc:
        _fail(exc)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
