"""Episodes: the model policy plays the bundled user simulator; batched policy calls, success
and pass^k."""

import json

import pytest

pytest.importorskip("thinkact.bench.simulator")

from typer.testing import CliRunner  # noqa: E402

from thinkact.bench.agent import oracle_policy  # noqa: E402
from thinkact.bench.domains import DOMAINS  # noqa: E402
from thinkact.cli import app  # noqa: E402
from thinkact.bench.simulator import sample_goals  # noqa: E402
from thinkact.chat import build_prompt  # noqa: E402
from thinkact.evaluate.episodes import evaluate_episodes, run_episodes  # noqa: E402
from thinkact.evaluate.generation import HFGenerator  # noqa: E402
from thinkact.grammar import render  # noqa: E402
from thinkact.models import build_tiny_model, load_for_inference  # noqa: E402


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
    convs = (tmp_path / "episodes.episodes.jsonl").read_text().splitlines()
    assert len(convs) == 12 and json.loads(convs[0])["messages"][0]["role"] == "user"


def test_two_runs_into_one_folder_keep_their_own_episodes(tmp_path):
    for name, goals in (("a", 2), ("b", 3)):
        evaluate_episodes(None, generator=OracleGenerator(), out=tmp_path / f"{name}.json", n_goals=goals, trials=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.episodes.jsonl", "a.json", "b.episodes.jsonl", "b.json"]
    assert len((tmp_path / "a.episodes.jsonl").read_text().splitlines()) == 2
    assert len((tmp_path / "b.episodes.jsonl").read_text().splitlines()) == 3


def test_a_model_that_never_acts_fails_every_goal(tmp_path):
    s = evaluate_episodes(None, generator=Mute(), out=tmp_path / "e.json", n_goals=6, trials=4, max_actions=30)
    assert {e["outcome"] for e in s["per_episode"]} == {"done", "refused", "declined"}
    assert s["success_rate"] == 0.0 and s["pass^1"] == 0.0
    assert all(e["failure"] for e in s["per_episode"]) and sum(s["failures"].values()) == 24
    assert s["state_ok_rate"] > 0 and s["failures"]["missing call"] > 0  # the final state alone would credit it


@pytest.mark.slow
def test_the_untrained_base_model_scores_zero(tmp_path):
    """The quickstart base model knows language, not the task: it completes no goal, whatever
    the outcome (refused and declined goals need lookups and a reply that tells the outcome)."""
    s = evaluate_episodes("quickstart", out=tmp_path / "e.json", n_goals=4, trials=1, max_actions=6,
                          max_new_tokens=64)
    assert {e["outcome"] for e in s["per_episode"]} >= {"refused", "declined"}
    assert s["success_rate"] == 0.0 and all(e["failure"] for e in s["per_episode"])


class OracleUnderTable(HFGenerator):
    """The oracle's actions, under a tiny model's position table and tokenizer (they decide what
    fits); records the length of every prompt it is asked for."""

    def __init__(self, model_dir, max_new_tokens):
        model, tokenizer = load_for_inference(str(model_dir))
        super().__init__(model, tokenizer, max_new_tokens=max_new_tokens)
        self.oracle, self.lengths = OracleGenerator(), []

    def generate(self, samples, advance=None):
        self.lengths += [len(self.tokenizer(build_prompt(self.tokenizer, s), add_special_tokens=False)["input_ids"])
                         for s in samples]
        return self.oracle.generate(samples)


def test_an_episode_that_outgrows_the_context_ends_as_a_failure(tiny_tokenizer, tmp_path):
    goal = max(sample_goals("test", 40, seed=0), key=lambda g: len(g.behaviours()))  # a long conversation
    roomy = OracleUnderTable(build_tiny_model(tmp_path / "roomy", tiny_tokenizer), max_new_tokens=64)
    [r] = run_episodes(roomy, [goal], trials=1)
    assert r.success and max(roomy.lengths) + 64 > 1024  # the conversation needs more than 1024 positions

    small = OracleUnderTable(build_tiny_model(tmp_path / "small", tiny_tokenizer, max_positions=1024),
                             max_new_tokens=64)
    [r] = run_episodes(small, [goal], trials=1)
    assert not r.success and r.ended == r.failure == "context limit" and 1 < r.actions < len(roomy.lengths)
    assert small.lengths == roomy.lengths[:r.actions]  # the same episode, up to the prompt that did not fit
    assert max(small.lengths) + 64 <= 1024  # no prompt ran past the position table


def test_a_model_too_small_for_the_prompt_fails_without_generating(tiny_tokenizer, tmp_path):
    model = build_tiny_model(tmp_path / "model", tiny_tokenizer, max_positions=512)  # < system + tools
    out = tmp_path / "ep.json"
    r = CliRunner().invoke(app, ["eval", "episodes", "--model", str(model), "--goals", "2", "--trials", "1",
                                 "--max-new-tokens", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads(out.read_text())
    assert s["failures"] == {"context limit": 2} and "failures: context limit 2" in r.output
    assert all(e["actions"] == 0 and e["ended"] == "context limit" for e in s["per_episode"])


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
    assert f"episodes -> {tmp_path / 'ep.episodes.jsonl'}" in r.output
    assert len((tmp_path / "ep.episodes.jsonl").read_text().splitlines()) == 4


def test_episode_intervals_are_over_goals_and_paired():
    from thinkact.evaluate.episode_stats import compare_episodes, episode_parts

    def summary(pattern):  # goal g's trials succeed where pattern[g] says
        return {"per_episode": [{"goal_id": f"g{g}", "success": s} for g, trials in enumerate(pattern)
                                for s in trials]}

    a = summary([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 0]] * 5)
    b = summary([[1, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]] * 5)
    out = compare_episodes({"a": a, "b": b}, ks=(1, 2, 4, 8), reference="b", resamples=500)
    assert out["goals"] == 20 and out["trials"] == 4 and "pass^8" not in out["rows"]["a"]
    row = out["rows"]["a"]
    assert row["success"]["mean"] == pytest.approx(9 / 16) == row["pass^1"]["mean"]
    assert row["pass^4"]["mean"] == pytest.approx(1 / 4)  # only the first goal of each four
    assert row["pass^2"]["mean"] == pytest.approx((1 + 1 / 6 + 0 + 3 / 6) / 4)
    lo, hi = row["success"]["ci"]
    assert lo < 9 / 16 < hi and row["success"]["n"] == 80
    diff = out["differences"]["a"]["success"]
    assert diff["difference"] == pytest.approx(9 / 16 - 6 / 16)
    assert 0 < diff["difference_ci"][0] <= diff["difference_ci"][1]  # a is better on every resample of goals
    with pytest.raises(ValueError, match="other goals"):
        compare_episodes({"a": a, "c": summary([[1, 1, 1, 1]])})
    with pytest.raises(ValueError, match="no episodes"):
        episode_parts({"g0": [True]}, ["g0", "g1"], ks=(1,))
