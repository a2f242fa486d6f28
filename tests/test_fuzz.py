"""A short, seeded run of benchmarks/fuzz.py (the long one is the benchmark): random and mutated
model outputs through the parser, rewards and metrics, mutated records through every adapter."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz  # noqa: E402

from thinkact import rewards  # noqa: E402
from thinkact.data import openai  # noqa: E402


def test_outputs_and_records_break_nothing():
    figures = fuzz.run(outputs=3000, records=300, seed=0)
    assert figures["failures"] == []
    assert figures["outputs"] == 3000 and figures["records"] == 300
    # every kind of output and both outcomes of a record were tried
    assert min(figures[f"outputs_{k}"] for k in ("mutated", "random", "endpoint")) > 100
    assert figures["records_read"] > 30 and figures["records_refused"] > 30


def test_a_reward_out_of_range_is_reported(monkeypatch):
    monkeypatch.setattr(rewards, "efficiency_reward", lambda *a, **k: 1.5)
    failures = fuzz.run(outputs=20, records=0, seed=0)["failures"]
    assert any("efficiency = 1.5" in f["problem"] for f in failures)


def test_an_escaping_exception_is_reported(monkeypatch):
    def broken(record, **kw):
        raise KeyError("messages")

    monkeypatch.setattr(openai, "from_openai_record", broken)
    failures = fuzz.run(outputs=0, records=60, seed=0)["failures"]
    assert any(f["where"].startswith("records (openai") and "KeyError" in f["problem"] for f in failures)


@pytest.mark.parametrize("edit", sorted(fuzz.EDITS))
def test_each_edit_changes_the_text(edit):
    rng = fuzz.random.Random(1)
    text = ('<think>\nlook it up\n</think>\n\n<tool_call>\n{"name": "get_order", "arguments": '
            '{"order_id": "W1", "n": 2}}\n</tool_call>')
    assert any(fuzz.EDITS[edit](rng, text) != text for _ in range(20))
