"""Short reasoning for an agent action, derived from the procedure's decision logic.

Each Decision records what was known (slots, looked-up records), what was missing, which policy
rule applied and what the step was; `reasoning` turns that into two or three sentences, in one of
several phrasings: what the user wants, what the state is, hence this action. These are the
cold-start targets: they show the model *how* to think, GRPO then teaches it *what* pays off.
"""

from __future__ import annotations

import random
from typing import Any

from thinkact.bench import procedures as P
from thinkact.bench.agent import Decision
from thinkact.bench.domains import DOMAINS, PROCEDURES

# How a bound record is described: (noun, id field).
_RECORDS = {"order": ("order", "order_id"), "reservation": ("reservation", "reservation_code"),
            "account": ("the account", "email"), "invoice": ("invoice", "invoice_id"),
            "flight": ("flight", "flight_number")}
# The record fields a procedure's policy looks at, worth saying out loud.
_DETAIL = {"cancel_reservation": ("fare", "insurance"), "add_bags": ("bags",), "upgrade_cabin": ("cabin",),
           "change_shipping": ("shipping",), "return_order": ("final_sale",), "change_plan": ("plan",)}


def _describe(records: dict[str, Any], procedure: str | None) -> str:
    for bind, (noun, key) in _RECORDS.items():
        rec = records.get(bind)
        if rec and "status" in rec:
            extra = [f"{k.replace('_', ' ')} {rec[k]}" for k in _DETAIL.get(procedure or "", ()) if k in rec]
            more = f" ({', '.join(extra)})" if extra else ""
            return f"{noun} {rec[key]} is {rec['status']}{more}"
    return ""


def _known(d: Decision) -> str:
    domain = DOMAINS[PROCEDURES[d.procedure].domain]
    parts = []
    for name, value in d.known.items():
        slot = domain.slots[name]
        shown = str(value).replace("_", " ") if slot.is_enum else value
        parts.append(f"the {slot.label} ({shown})")
    return ", ".join(parts)


def _first_rule(proc: P.Procedure) -> str | None:
    return next((s.rule for s in proc.steps if isinstance(s, P.Check)), None)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def reasoning(d: Decision, rng: random.Random) -> str:
    """Two or three grounded sentences explaining decision `d`."""
    pick = rng.choice
    if d.kind == "greet":
        return pick(("The user greeted me but has not said what they need yet, so I greet them "
                     "back and ask how I can help.",
                     "No request yet, only a greeting. I can't pick a procedure without one, so I "
                     "ask what they need."))
    if d.kind == "smalltalk":
        return pick(("The user is making small talk and has not asked for anything yet. I answer "
                     "politely and ask how I can help.",
                     "Just small talk so far, no request. I reply kindly and invite them to say "
                     "what they need."))
    proc = PROCEDURES[d.procedure] if d.procedure else None
    goal = proc.goal if proc else "get help"
    wants = pick((f"The user wants to {goal}.", f"The request is to {goal}.",
                  f"This is a request to {goal}."))
    state = _describe(d.records, d.procedure)
    known = _known(d) if d.procedure else ""
    if d.kind == "faq":
        answer = next(f.answer for dm in DOMAINS.values() for f in dm.faqs if f.topic == d.faq)
        return pick((f"The user asks a general question, not part of the procedure. The policy "
                     f"answers it: {answer} No tool is needed, so I reply directly.",
                     f"This is an off-procedure question. The policy already says: {answer} I "
                     f"answer it without calling a tool and keep the request open."))
    if d.kind == "ask":
        label = DOMAINS[proc.domain].slots[d.slot].label
        have = f" I have {known}" if known else " I have nothing yet"
        have += f", and {state}." if state else "."
        return pick((f"{wants}{have} I still need the {label} before I can go on, so I ask for it.",
                     f"{wants} The {label} is missing and I must not guess it.{have} I ask the user for it.",
                     f"{wants}{have} Next in the procedure is the {label}, which the user has not "
                     f"given, so I ask."))
    if d.kind == "lookup":
        c = d.target.tool_calls[0]
        args = ", ".join(f"{v}" for v in c.arguments.values())
        rule = _first_rule(proc)
        why = f"policy says {rule}, so I need its current state" if rule else "I need its details to answer"
        return pick((f"{wants} They gave {args}, not checked yet; {why}. I look it up first.",
                     f"{wants} I have {args} but no record for it yet, and {why}. So I call {c.name}.",
                     f"{wants} First I must verify {args}: {why}. Calling {c.name}."))
    if d.kind == "not_found":
        domain = DOMAINS[proc.domain]
        ident = next((v for k, v in d.known.items() if not domain.slots[k].is_enum), "that identifier")
        return pick((f"{wants} The lookup for {ident} returned an error: no such record. It may be "
                     f"mistyped, so I ask the user to double-check it instead of guessing.",
                     f"The backend found nothing for {ident}. I can't go on without a valid one, so "
                     f"I tell the user and ask them to check it."))
    if d.kind == "refuse":
        return pick((f"{wants} {_cap(state)}. Policy: {d.rule}. So I cannot do it, and I explain "
                     f"why without calling any tool.",
                     f"{wants} I checked: {state}. The policy says {d.rule}, so this is not "
                     f"allowed; I tell the user politely.",
                     f"{_cap(state)}. Since {d.rule}, the request to {goal} must be refused. I "
                     f"explain the reason."))
    if d.kind == "confirm":
        ok = d.passed[-1] if d.passed else "nothing blocks it"
        return pick((f"{wants} {_cap(state)}, which passes the check ({ok}). Changes need an "
                     f"explicit yes, so I summarize and ask to confirm.",
                     f"{wants} I know {known}, and {state}, so it is allowed. Before changing "
                     f"anything I ask the user to confirm.",
                     f"{_cap(state)}; {ok}, and this passes. Policy says confirm first, so I state "
                     f"the change and wait for a yes."))
    if d.kind == "act":
        c = d.target.tool_calls[0]
        confirmed = any(isinstance(s, P.Confirm) for s in proc.steps)
        said = "The user confirmed" if confirmed else "No confirmation is needed for this"
        args = ", ".join(f"{k}={v}" for k, v in c.arguments.items())
        return pick((f"{wants} {said}, and {state}. The checks passed, so I call {c.name} with {args}.",
                     f"{said}. {_cap(state)}, which the policy allows. Now I make the change: "
                     f"{c.name}({args}).",
                     f"{wants} {said} and nothing blocks it, so I execute {c.name} with {args}."))
    if d.kind == "inform":
        if any(isinstance(s, P.Act) for s in proc.steps):
            return pick((f"{wants} The tool call succeeded, so the change is done. I tell the user "
                         f"the result.",
                         f"The {proc.steps[-2].tool} call returned success, so the change is made. "
                         f"I report the outcome to the user."))
        return pick((f"{wants} I have the record: {state}. That answers the question, so I report it.",
                     f"{_cap(state)}. This is what the user asked about, so I tell them; no change "
                     f"is needed."))
    if d.kind == "declined":
        return pick((f"{wants} But the user said no to the confirmation. I must not change "
                     f"anything, so I tell them it stays as it is.",
                     "The user declined the change. Acting now would break the policy, so I make "
                     "no call and acknowledge it."))
    if d.kind == "closing":
        return pick(("The request is already handled and the user is wrapping up. Nothing is left "
                     "to do, so I close politely.",
                     "The user is thanking me after the result. No action is needed, so I say goodbye.",
                     "Everything the user asked for is done and they are saying thanks. I reply "
                     "politely; no tool is needed."))
    return f"{wants} The last call failed, so I tell the user what happened."


# --------------------------------------------------------------------------- facts style

def _facts_known(d: Decision) -> list[str]:
    if not d.procedure:
        return []
    domain = DOMAINS[PROCEDURES[d.procedure].domain]
    return [f"{domain.slots[name].label} {str(value).replace('_', ' ') if domain.slots[name].is_enum else value}"
            for name, value in d.known.items()]


def facts(d: Decision) -> str:
    """One fixed-form sentence or two of what the conversation has established, with no
    decision in it: the slot values the user gave, what the lookup returned, whether the user
    confirmed or declined. Every word is read off the context (identifiers are copied), so a
    small model can learn to write it from a few dozen examples, and writing it cannot lead the
    action astray the way a made-up goal or next step does; which action follows stays the
    policy's choice, for GRPO to reward."""
    if d.kind in ("greet", "smalltalk"):
        return "No request yet."
    if d.kind == "faq":
        return "A general question, not part of a request."
    steps = PROCEDURES[d.procedure].steps if d.procedure else ()
    changes = any(isinstance(s, P.Act) for s in steps)
    known = _facts_known(d)
    parts = [f"Known: {', '.join(known)}." if known else "Known: nothing yet."]
    # a record read before the change is stale once the change is made
    state = "" if changes and d.kind in ("inform", "closing", "error") else _describe(d.records, d.procedure)
    if d.kind == "not_found":
        parts.append("The lookup found no such record.")
    elif state:
        parts.append(f"{_cap(state)}.")
    if d.kind == "act" and any(isinstance(s, P.Confirm) for s in steps):
        parts.append("The user confirmed.")
    if d.kind == "inform" and changes:
        parts.append("The change succeeded.")
    parts += {"declined": ["The user declined."], "closing": ["The request is done."],
              "error": ["The last call failed."]}.get(d.kind, [])
    return " ".join(parts)


REASONING_STYLES = ("prose", "facts")


def reasoning_for(d: Decision, rng: random.Random, style: str = "prose") -> str:
    if style == "facts":
        return facts(d)
    if style == "prose":
        return reasoning(d, rng)
    raise ValueError(f"unknown reasoning style {style!r}; expected one of {REASONING_STYLES}")
