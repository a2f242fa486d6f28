"""Reading user text back into its meaning, exactly, by matching the utterance pools.

A user message of the bundled benchmark is a sequence of fragments (sentences) from the pools
the domains declare; `reader(domain)` cuts a message into fragments by longest match at each
position and returns each fragment's act, with the values its placeholders matched. This is not a
general language understanding: it lets the scripted agent act from the text alone, which proves
that every gold action is determined by the conversation a model sees.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

from thinkact.bench import procedures as P
from thinkact.bench.domains import DOMAINS

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fragments(domain: P.Domain) -> list[tuple[str, P.UserAct | None]]:
    """Every user fragment template of a domain with its act (None: the slot values alone)."""
    out: list[tuple[str, P.UserAct | None]] = []
    for proc in domain.procedures:
        out += [(t, ("intent", proc.name)) for t in proc.intents]
    for slot in domain.slots.values():
        out += [(t, None) for t in slot.phrases]
        for value, pool in slot.value_phrases.items():
            out += [(t, ("slot", slot.name, value)) for t in pool]
    for faq in domain.faqs:
        out += [(t, ("faq", faq.topic)) for t in faq.questions]
    for pool, act in ((P.GREETINGS, ("greet",)), (P.SMALLTALK, ("smalltalk",)), (P.YES, ("yes",)),
                      (P.NO, ("no",)), (P.CHANGE, ("change",)), (P.THANKS, ("thanks",)),
                      (P.SORRY, ("sorry",))):
        out += [(t, act) for t in pool]
    return out


def _compile(template: str, domain: P.Domain) -> re.Pattern:
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos:m.start()]))
        parts.append(f"(?P<{m.group(1)}>{domain.slots[m.group(1)].pattern})")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts))


@lru_cache(maxsize=None)
def _index(name: str):
    domain = DOMAINS[name]
    by_first: dict[str, list] = {}
    wild = []
    for template, act in fragments(domain):
        entry = (_compile(template, domain), act)
        if template.startswith("{"):
            wild.append(entry)
        else:
            by_first.setdefault(template[0], []).append(entry)
    return by_first, wild


def understand(domain: P.Domain | str, text: str) -> list[P.UserAct]:
    """The acts of a user message; text no fragment matches becomes ("unknown", text)."""
    name = domain if isinstance(domain, str) else domain.name
    by_first, wild = _index(name)
    acts: list[P.UserAct] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
            continue
        best = None
        for rx, act in by_first.get(text[pos], []) + wild:
            m = rx.match(text, pos)
            if m and (best is None or m.end() > best[0].end()):
                best = (m, act)
        if best is None:
            acts.append(("unknown", text[pos:]))
            break
        m, act = best
        if act is not None:
            acts.append(act)
        acts += [("slot", k, v) for k, v in m.groupdict().items()]
        pos = m.end()
    return acts


def reader(domain: P.Domain | str) -> Callable[[str], list[P.UserAct]]:
    return lambda text: understand(domain, text)
