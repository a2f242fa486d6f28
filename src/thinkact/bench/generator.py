"""Generate the bundled benchmark: conversations sampled from the procedures' conversation graphs.

For each sampled user goal the user simulator walks one path of the conversation graph (its
behaviours are the goal's), and the scripted agent answers every turn by executing the procedure
against the real backend, so tool observations are real outputs and every action is the one the
procedure prescribes. Files written to the output folder:

    train.jsonl, test.jsonl, ood.jsonl   canonical conversations (schema.Conversation)
    test_turns.jsonl, ood_turns.jsonl    their turn samples: the ALMITA-style tests
    coldstart.jsonl                      < 100 train turn samples with reasoning
    apigen/{train,test,ood}.json         the same conversations as APIGen-MT records
    manifest.json                        seed, sizes, procedures per split, statistics, checksums

The same seed gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.progress import Progress

from thinkact.bench.agent import Decision, decide
from thinkact.bench.backend import Backend, database
from thinkact.bench.domains import DOMAINS, procedures_for
from thinkact.bench.quality import stats
from thinkact.bench.reasoning import REASONING_STYLES, reasoning_for
from thinkact.bench.simulator import Goal, UserSimulator, expected_state, play, sample_goals
from thinkact.data.apigen_mt import to_apigen_record
from thinkact.data.turns import conversation_to_turns, make_turns
from thinkact.schema import Conversation, TurnSample, write_jsonl

SIZES = {"train": 2000, "test": 300, "ood": 300}
COLDSTART = 96
# How many cold-start samples of each kind of decision: every branch of the flow is shown.
COLDSTART_MIX = {"lookup": 16, "ask": 14, "confirm": 12, "act": 12, "inform": 10, "refuse": 10,
                 "not_found": 8, "declined": 4, "faq": 4, "closing": 3, "greet": 2, "smalltalk": 1}


def generate_conversation(goal: Goal) -> tuple[Conversation, list[Decision]]:
    """One conversation for `goal`, with the agent's decision at each action. The user's wording
    is seeded as run_episode's trial 0, so the oracle reproduces this conversation exactly."""
    domain = DOMAINS[goal.domain]
    backend = Backend(domain, database(goal.domain, goal.split, goal.seed))
    user = UserSimulator(goal, random.Random(f"{goal.id}:0"))
    decisions: list[Decision] = []

    def policy(messages):
        d = decide(domain, messages, user.acts)
        decisions.append(d)
        return d.target

    messages, *_ = play(goal, policy, user, backend)
    if backend.state() != expected_state(goal).state():
        raise RuntimeError(f"{goal.id}: the scripted agent missed the goal's final state")  # a bug
    meta = {"domain": goal.domain, "procedure": goal.procedure, "split": goal.split,
            "outcome": goal.outcome, "behaviours": goal.behaviours()}
    conv = Conversation(id=goal.id, system=domain.system, tools=domain.tools, messages=messages, meta=meta)
    return conv, decisions


def coldstart_samples(convs: list[Conversation], decisions: list[list[Decision]], n: int = COLDSTART,
                      seed: int = 0, style: str = "prose") -> list[TurnSample]:
    """`n` (< 100) train turns with reasoning, spread over decision kinds and procedures;
    `style` is the reasoning's (thinkact.bench.reasoning.REASONING_STYLES)."""
    if n >= 100:
        raise ValueError(f"the cold-start set must stay under 100 samples, got {n}")
    rng = random.Random(f"{seed}:coldstart")
    by_kind: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for ci, ds in enumerate(decisions):
        for k, d in enumerate(ds):
            by_kind[d.kind].append((ci, k))
    total = sum(COLDSTART_MIX.values())
    quota = {kind: max(1, round(q * n / total)) for kind, q in COLDSTART_MIX.items()}
    chosen: list[tuple[int, int]] = []
    for kind, q in quota.items():
        groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for ci, k in by_kind.get(kind, []):
            groups[convs[ci].meta["procedure"]].append((ci, k))
        names = sorted(groups)
        rng.shuffle(names)
        for g in groups.values():
            rng.shuffle(g)
        while q > 0 and any(groups.values()):  # one per procedure in turn: all of them show each step
            for name in names:
                if q > 0 and groups[name]:
                    chosen.append(groups[name].pop())
                    q -= 1
    chosen = sorted(chosen[:n])
    out = []
    for ci, k in chosen:
        sample = conversation_to_turns(convs[ci])[k]
        d = decisions[ci][k]
        target = sample.target.model_copy(update={"reasoning": reasoning_for(d, rng, style)})
        out.append(sample.model_copy(update={"target": target, "meta": {**sample.meta, "decision": d.kind}}))
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate(out: str | Path, seed: int = 0, sizes: dict[str, int] | None = None,
             coldstart: int = COLDSTART, progress: bool = True,
             reasoning_style: str = "prose") -> dict[str, Any]:
    """Write the benchmark files to `out` and return the manifest."""
    if coldstart >= 100:
        raise ValueError(f"the cold-start set must stay under 100 samples, got {coldstart}")
    if reasoning_style not in REASONING_STYLES:  # before the conversations, not after
        raise ValueError(f"unknown reasoning style {reasoning_style!r}; expected one of {REASONING_STYLES}")
    sizes = {**SIZES, **(sizes or {})}
    out = Path(out)
    (out / "apigen").mkdir(parents=True, exist_ok=True)
    splits: dict[str, tuple[list[Conversation], list[list[Decision]]]] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("generating conversations", total=sum(sizes.values()))
        for split in ("train", "test", "ood"):
            convs, decs = [], []
            for goal in sample_goals(split, sizes[split], seed):
                c, d = generate_conversation(goal)
                convs.append(c)
                decs.append(d)
                bar.advance(task)
            splits[split] = (convs, decs)

    files: dict[str, Path] = {}
    for split, (convs, _) in splits.items():
        files[f"{split}.jsonl"] = out / f"{split}.jsonl"
        write_jsonl(files[f"{split}.jsonl"], convs)
        apigen = out / "apigen" / f"{split}.json"
        apigen.write_text(json.dumps([to_apigen_record(c) for c in convs], ensure_ascii=False) + "\n",
                          encoding="utf-8")
        files[f"apigen/{split}.json"] = apigen
        if split != "train":
            files[f"{split}_turns.jsonl"] = out / f"{split}_turns.jsonl"
            write_jsonl(files[f"{split}_turns.jsonl"], make_turns(convs))
    files["coldstart.jsonl"] = out / "coldstart.jsonl"
    cold = coldstart_samples(*splits["train"], n=coldstart, seed=seed, style=reasoning_style)
    write_jsonl(files["coldstart.jsonl"], cold)

    manifest = {
        "seed": seed,
        "sizes": {split: len(convs) for split, (convs, _) in splits.items()},
        "coldstart": len(cold),
        "reasoning_style": reasoning_style,
        "domains": sorted(DOMAINS),
        "procedures": {split: sorted(p.name for p in procedures_for(split)) for split in splits},
        "stats": {split: stats(convs) for split, (convs, _) in splits.items()},
        "files": {name: _sha(path) for name, path in sorted(files.items())},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
