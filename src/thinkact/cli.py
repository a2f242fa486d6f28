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


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
