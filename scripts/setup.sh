#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment with the CPU build of torch installed first
# (a bare `torch` requirement would otherwise resolve to a multi-GB CUDA build), then thinkact
# with its test tools, then the BFCL data package without its huge dependency set.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps "bfcl-eval==2026.3.23"
python -c "import torch, transformers, trl; print('torch', torch.__version__, '| transformers', transformers.__version__, '| trl', trl.__version__)"
