"""Plain text of the bundled domains, for pretraining a small base model's tokenizer and language.

The text teaches the vocabulary of the domains (policies, what users say, how the agent phrases
replies, what records look like) and nothing of the task: no action grammar, no tool calls, no
context -> action pairs. Only the procedures of the requested splits are drawn from, so the ood
procedures' flows stay unseen; entities come from those splits' databases.
"""

from __future__ import annotations

import json
import random
from typing import Any, Iterator

from thinkact.bench import procedures as P
from thinkact.bench.agent import dry_run
from thinkact.bench.backend import Backend, database
from thinkact.bench.domains import DOMAINS, procedures_for


def _slot_values(domain: P.Domain, proc: P.Procedure, db, rng: random.Random) -> dict[str, Any]:
    values = {}
    key = None
    for name in proc.slots:
        slot = domain.slots[name]
        if slot.is_enum:
            values[name] = rng.choice(list(slot.values))
        else:
            # Identifiers of one procedure come from one record (an order and its owner's email).
            table = db[slot.table]
            key = key or rng.choice(list(table))
            values[name] = key if key in table else rng.choice(list(table))
    return values


def _user_text(domain: P.Domain, proc: P.Procedure, values: dict[str, Any], rng: random.Random) -> str:
    """A user message in the style of the simulator: some fragments of one request."""
    parts = []
    if rng.random() < 0.3:
        parts.append(rng.choice(P.GREETINGS + P.SMALLTALK))
    intent = rng.choice(proc.intents)
    parts.append(intent.format(**values))
    for name in proc.slots:
        if "{" + name + "}" in intent or rng.random() < 0.4:
            continue
        slot = domain.slots[name]
        pool = slot.value_phrases[values[name]] if slot.is_enum else slot.phrases
        parts.append(rng.choice(pool).format(**values))
    return " ".join(parts)


def _agent_texts(domain: P.Domain, proc: P.Procedure, values, db, rng: random.Random) -> list[str]:
    out = dry_run(domain, proc, Backend(domain, db), values, accept=rng.random() < 0.8)
    texts = [domain.slots[s].ask for s in proc.slots] + out.replies
    for step in proc.steps:
        if isinstance(step, P.Lookup):
            texts.append(P.render(step.not_found, domain, values, {}))
    return texts


def _record_text(domain: P.Domain, procs: list[P.Procedure], db, rng: random.Random) -> str:
    lookups = [s for p in procs for s in p.steps if isinstance(s, P.Lookup)]
    step = rng.choice(lookups)
    slot = domain.slots[next(iter(step.args.values()))]
    key = rng.choice(list(db[slot.table]))
    result = Backend(domain, db).execute(step.tool, {arg: key for arg in step.args})
    if rng.random() < 0.5:
        return json.dumps(result, ensure_ascii=False)
    return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.items())


def domain_text(seed: int, n: int, splits: tuple[str, ...] = ("train",)) -> Iterator[str]:
    """Yield `n` pieces of natural-language text from the procedures and entities of `splits`:
    policies, user utterances, agent replies, FAQ answers, entity records and tool schemas."""
    rng = random.Random(f"corpus:{seed}")
    procs = {name: [p for s in splits for p in procedures_for(s) if p.domain == name] for name in DOMAINS}
    procs = {name: list({p.name: p for p in ps}.values()) for name, ps in procs.items() if ps}
    if not procs:
        return
    for _ in range(n):
        domain = DOMAINS[rng.choice(sorted(procs))]
        proc = rng.choice(procs[domain.name])
        db = database(domain.name, rng.choice(splits), seed)
        values = _slot_values(domain, proc, db, rng)
        kind = rng.choices(("user", "agent", "record", "policy", "faq", "schema", "smalltalk"),
                           (35, 30, 15, 6, 6, 3, 5))[0]
        if kind == "user":
            yield _user_text(domain, proc, values, rng)
        elif kind == "agent":
            yield rng.choice(_agent_texts(domain, proc, values, db, rng))
        elif kind == "record":
            yield _record_text(domain, procs[domain.name], db, rng)
        elif kind == "policy":
            yield domain.system
        elif kind == "faq":
            faq = rng.choice(domain.faqs)
            yield rng.choice((rng.choice(faq.questions), faq.answer))
        elif kind == "schema":
            yield json.dumps(rng.choice(domain.tools), ensure_ascii=False)
        else:
            yield rng.choice(P.YES + P.NO + P.THANKS + P.CHANGE + P.SORRY +
                             (P.GREET_REPLY, P.SMALLTALK_REPLY, P.CLOSING))
