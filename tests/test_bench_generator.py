import json

import pytest

from thinkact.bench.agent import oracle_policy
from thinkact.bench.generator import SIZES, generate
from thinkact.bench.quality import baselines
from thinkact.bench.simulator import run_episode, sample_goals
from thinkact.data.apigen_mt import from_apigen_record
from thinkact.data.turns import make_turns
from thinkact.schema import read_conversations, read_turns

SMALL = {"train": 150, "test": 40, "ood": 40}
FILES = ["train.jsonl", "test.jsonl", "ood.jsonl", "test_turns.jsonl", "ood_turns.jsonl", "coldstart.jsonl",
         "apigen/train.json", "apigen/test.json", "apigen/ood.json", "manifest.json"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    generate(out, seed=7, sizes=SMALL, coldstart=60, progress=False)
    return out


def test_same_seed_same_bytes(bench, tmp_path):
    generate(tmp_path / "again", seed=7, sizes=SMALL, coldstart=60, progress=False)
    for name in FILES:
        assert (bench / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    generate(tmp_path / "other", seed=8, sizes=SMALL, coldstart=60, progress=False)
    assert (bench / "train.jsonl").read_bytes() != (tmp_path / "other" / "train.jsonl").read_bytes()


def test_splits_procedures_and_entities(bench):
    convs = {s: read_conversations(bench / f"{s}.jsonl") for s in ("train", "test", "ood")}
    assert {s: len(c) for s, c in convs.items()} == SMALL
    procs = {s: {c.meta["procedure"] for c in cs} for s, cs in convs.items()}
    assert len(procs["train"]) >= 12 and procs["test"] == procs["train"]
    assert len(procs["ood"]) >= 3 and not procs["ood"] & procs["train"]
    assert {c.meta["domain"] for c in convs["train"]} == {"retail", "airline", "account"}
    # test and ood identifiers never appear in train
    train_text = (bench / "train.jsonl").read_text()
    for split in ("test", "ood"):
        for c in convs[split]:
            for m in c.messages:
                for call in m.tool_calls:
                    for v in call.arguments.values():
                        if isinstance(v, str) and any(ch.isdigit() for ch in v):
                            assert v not in train_text, (split, v)
    manifest = json.loads((bench / "manifest.json").read_text())
    assert manifest["sizes"] == SMALL and set(manifest["files"]) == set(FILES) - {"manifest.json"}


def test_conversations_are_what_the_oracle_does_from_the_text(bench):
    """Every gold action follows from the conversation text: the oracle, reading only messages,
    replays each generated conversation exactly."""
    convs = {c.id: c for c in read_conversations(bench / "test.jsonl")}
    for goal in sample_goals("test", 40, seed=7):
        episode = run_episode(goal, oracle_policy(goal.domain))
        assert episode.success and episode.conversation.messages == convs[goal.id].messages


def test_coldstart_is_small_grounded_and_from_train(bench):
    cold = read_turns(bench / "coldstart.jsonl")
    train_ids = {c.id for c in read_conversations(bench / "train.jsonl")}
    assert 0 < len(cold) < 100 and all(t.conversation_id in train_ids for t in cold)
    assert len({t.meta["decision"] for t in cold}) >= 8 and len({t.meta["procedure"] for t in cold}) == 12
    for t in cold:
        words = len(t.target.reasoning.split())
        assert 10 <= words <= 45, t.target.reasoning
        for call in t.target.tool_calls:  # a call's reasoning names what it acts on
            assert str(next(iter(call.arguments.values()))) in t.target.reasoning or "call" in t.target.reasoning
    assert len({t.target.reasoning for t in cold}) >= 0.9 * len(cold)  # phrased with variety
    with pytest.raises(ValueError):
        generate(bench / "x", seed=0, sizes={"train": 20, "test": 2, "ood": 2}, coldstart=100, progress=False)


def test_apigen_files_round_trip(bench):
    for split in ("train", "ood"):
        records = json.loads((bench / "apigen" / f"{split}.json").read_text())
        back = [from_apigen_record(r, index=i) for i, r in enumerate(records)]
        assert back == read_conversations(bench / f"{split}.jsonl")


def test_turn_files_and_baselines(bench):
    test_turns = read_turns(bench / "test_turns.jsonl")
    assert test_turns == make_turns(read_conversations(bench / "test.jsonl"))
    kinds = {t.target.kind for t in test_turns}
    assert kinds == {"tool_call", "reply"}
    scores = baselines(make_turns(read_conversations(bench / "train.jsonl")), test_turns)
    for name in ("majority_action", "copy_last_action"):
        assert scores[name]["turn_accuracy"] < 0.3 and scores[name]["exact_conversation_accuracy"] == 0.0


def test_default_sizes():
    assert SIZES["train"] >= 2000 and SIZES["test"] >= 300 and SIZES["ood"] >= 300


def test_facts_reasoning_is_read_off_the_context_and_holds_no_decision(bench, tmp_path):
    out = tmp_path / "facts"
    generate(out, seed=7, sizes=SMALL, coldstart=60, progress=False, reasoning_style="facts")
    prose, facts = read_turns(bench / "coldstart.jsonl"), read_turns(out / "coldstart.jsonl")
    assert [t.id for t in facts] == [t.id for t in prose]  # same turns, other reasoning
    assert json.loads((out / "manifest.json").read_text())["reasoning_style"] == "facts"
    for t in facts:
        r = t.target.reasoning
        assert r and len(r.split()) <= 30, r
        # no decision: no next step, no tool name, no "so I ..."
        assert not any(w in r for w in ("so I", "I call", "I ask", "I tell", "confirm first")), r
        assert not any(c.name in r for c in t.target.tool_calls), r
        context = " ".join(m.content or "" for m in t.context)
        for token in r.replace(",", " ").replace(". ", " ").split():
            if len(token) >= 5 and any(ch.isdigit() for ch in token):  # identifiers are copied
                assert token.rstrip(".") in context, (token, r)
    with pytest.raises(ValueError, match="reasoning style"):
        generate(tmp_path / "bad", seed=7, sizes={"train": 20, "test": 2, "ood": 2}, progress=False,
                 reasoning_style="poetry")
