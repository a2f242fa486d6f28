"""The `thinkact` command line. Thin by design: each command parses options and calls the
library, so everything here is usable from Python too."""

from __future__ import annotations

import typer

app = typer.Typer(help="Train conversational agents to think before they act.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
data_app = typer.Typer(help="Generate, convert and split data.", no_args_is_help=True)
train_app = typer.Typer(help="Train one stage: sft, coldstart or grpo.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


@app.command()
def pretrain(out: str = typer.Option(..., "--out", help="Folder for the tokenizer, checkpoints and final model."),
             seed: int = typer.Option(0, help="Seed of the corpus, the tokenizer and the initial weights."),
             max_steps: int = typer.Option(3000, help="Stop here even if the copy probe has not passed."),
             target: float = typer.Option(0.95, help="Copy-probe score that ends pretraining."),
             probe_every: int = typer.Option(100, help="Steps between probe runs (and checkpoints).")) -> None:
    """Build the quickstart base model: tokenizer, then a small Qwen3 pretrained on generated
    text until the copy probe passes. Rerun the same command to resume a killed run."""
    from thinkact.pretrain.loop import PretrainConfig, pretrain as run

    summary = run(out, PretrainConfig(seed=seed, max_steps=max_steps, target=target,
                                      probe_every=probe_every), log=typer.echo)
    typer.echo(f"step {summary['step']}  probe {summary['probe']}  params {summary['params']:,}  "
               f"vocab {summary['vocab_size']}  {summary['tokens_per_s']:,} tokens/s  {summary['wall_s']} s")


@app.command()
def probe(model: str = typer.Option(None, "--model", help="Model folder (default: the shipped quickstart base)."),
          n: int = typer.Option(200, help="Number of probe contexts."),
          seed: int = typer.Option(0, help="Seed of the probe identifiers and filler.")) -> None:
    """Copy probe: share of unseen identifiers a model copies exactly from earlier context."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from thinkact.pretrain import QUICKSTART_MODEL_DIR
    from thinkact.pretrain.probe import copy_probe

    path = model or str(QUICKSTART_MODEL_DIR)
    score = copy_probe(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path),
                       n=n, seed=seed)
    typer.echo(f"copy probe: {score:.3f} ({n} contexts, seed {seed})")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
