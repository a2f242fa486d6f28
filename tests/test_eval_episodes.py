"""Episodes: the model policy plays the bundled user simulator; batched policy calls, success
and pass^k."""

import json

import pytest

pytest.importorskip("thinkact.bench.simulator")

from typer.testing import CliRunner  # noqa: E402

from thinkact.bench.agent import oracle_policy  # noqa: E402
from thinkact.bench.domains import DOMAINS  # noqa: E402
from thinkact.cli import app  # noqa: E402
from thinkact.evaluate.episodes import evaluate_episodes  # noqa: E402
from thinkact.grammar import render  # noqa: E402


class OracleGenerator:
    """The scripted agent behind the generator interface, recording batch sizes."""

    def __init__(self):
        self.policies = {d.system: oracle_policy(name) for name, d in DOMAINS.items()}
        self.batches = []

    def generate(self, samples, advance=None):
        self.batches.append(len(samples))
        return [render(self.policies[s.system](s.context), think=True) for s in samples]


class Mute:
    def generate(self, samples, advance=None):
        return ["Hello! How are you?" for _ in samples]


def test_oracle_agent_succeeds_and_calls_are_batched(tmp_path):
    gen = OracleGenerator()
    out = tmp_path / "episodes.json"
    s = evaluate_episodes(None, generator=gen, out=out, n_goals=6, trials=2, ks=(1, 2), batch_size=8)
    assert s["episodes"] == 12 and s["success_rate"] == 1.0 and s["pass^1"] == 1.0 and s["pass^2"] == 1.0
    assert "pass^4" not in s  # needs 4 trials
    assert max(gen.batches) > 1 and sum(gen.batches) == sum(e["actions"] for e in s["per_episode"])
    assert json.loads(out.read_text()) == s
    convs = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(convs) == 12 and json.loads(convs[0])["messages"][0]["role"] == "user"


def test_a_model_that_never_acts_fails_goals_that_need_action(tmp_path):
    s = evaluate_episodes(None, generator=Mute(), out=tmp_path / "e.json", n_goals=6, trials=4, max_actions=6)
    done = [e for e in s["per_episode"] if e["outcome"] == "done"]
    assert done and not any(e["success"] for e in done)
    assert s["success_rate"] < 1.0 and s["pass^4"] <= s["pass^1"] < 1.0


def test_generation_errors_reach_the_caller(tmp_path):
    class Broken:
        def generate(self, samples, advance=None):
            raise RuntimeError("endpoint down")

    with pytest.raises(RuntimeError, match="endpoint down"):
        evaluate_episodes(None, generator=Broken(), out=tmp_path / "e.json", n_goals=2, trials=2)


def test_cli_episodes_with_a_tiny_model(tiny_model_dir, tmp_path):
    out = tmp_path / "ep.json"
    r = CliRunner().invoke(app, ["eval", "episodes", "--model", str(tiny_model_dir), "--goals", "2",
                                 "--trials", "2", "--max-actions", "3", "--max-new-tokens", "4",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads(out.read_text())
    assert s["episodes"] == 4 and 0.0 <= s["pass^2"] <= s["pass^1"] <= 1.0
    assert all(e["actions"] <= 3 for e in s["per_episode"])
