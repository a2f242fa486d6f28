"""The scripted agent: a procedure executed against the backend, as a function of the conversation.

`decide` reads what the conversation establishes (the intent, the latest value of each slot, the
tool results so far, the answer to the last confirmation request) and walks the procedure's flow
graph from the start to the first step that is not yet satisfied; that step is the next action.
Because the action depends only on the messages (and on what the user's messages mean), the
generated data is consistent by construction, and the same function is the oracle policy that
plays end-to-end episodes. `Decision` keeps why an action was taken, for the cold-start
reasoning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from thinkact.bench import procedures as P
from thinkact.bench.domains import DOMAINS
from thinkact.bench.procedures import Domain, Procedure, render
from thinkact.schema import Message, Target, ToolCall

TERMINAL = ("refuse", "declined", "inform")


@dataclass
class Decision:
    """The next action and what led to it."""

    target: Target
    # greet, smalltalk, faq, ask, lookup, not_found, refuse, confirm, act, error, inform, declined, closing
    kind: str
    procedure: str | None = None
    slot: str | None = None  # ask: the slot asked for
    known: dict[str, Any] = field(default_factory=dict)  # slot values known at this point
    missing: list[str] = field(default_factory=list)  # slots of the procedure not yet known
    records: dict[str, Any] = field(default_factory=dict)  # tool results bound so far
    rule: str | None = None  # the policy sentence behind a check
    passed: list[str] = field(default_factory=list)  # policy rules already checked and met
    faq: str | None = None


def reply(text: str) -> Target:
    return Target(kind="reply", content=text)


def call(tool: str, args: dict[str, Any]) -> Target:
    return Target(kind="tool_call", tool_calls=[ToolCall(name=tool, arguments=args)])


def tool_results(messages: list[Message]) -> list[tuple[ToolCall, dict[str, Any]]]:
    """Every tool call of the conversation with its observation, in order."""
    out = []
    for i, m in enumerate(messages):
        if m.role != "assistant" or not m.tool_calls:
            continue
        obs = [o for o in messages[i + 1:i + 1 + len(m.tool_calls)] if o.role == "tool"]
        for c, o in zip(m.tool_calls, obs):
            try:
                res = json.loads(o.content)
            except json.JSONDecodeError:
                res = {"error": o.content}
            out.append((c, res if isinstance(res, dict) else {"result": res}))
    return out


def _find(results, tool: str, args: dict[str, Any]) -> dict[str, Any] | None:
    for c, res in reversed(results):
        if c.name == tool and c.arguments == args:
            return res
    return None


def _confirmation(messages: list[Message], acts: list[list[P.UserAct]], text: str) -> str | None:
    """"yes", "no" or None: the user's answer after the agent last asked to confirm.

    The question is `text` (the oracle's own wording) or any reply the simulated user reads as a
    confirmation question (`P.asks_to_confirm`), provided it came after the last tool result: a
    confirmation asked before the lookups it depends on confirms nothing they found."""
    last_tool = max((i for i, m in enumerate(messages) if m.role == "tool"), default=-1)
    asked = max((i for i, m in enumerate(messages) if m.role == "assistant" and not m.tool_calls
                 and (m.content == text or (i > last_tool and P.asks_to_confirm(m.content or "")))),
                default=None)
    if asked is None:
        return None
    user_at = [i for i, m in enumerate(messages) if m.role == "user"]
    for i, a in zip(user_at, acts):
        if i > asked:
            kinds = {x[0] for x in a}
            if "yes" in kinds:
                return "yes"
            if "no" in kinds:
                return "no"
    return None


def understood(acts: list[list[P.UserAct]]) -> tuple[str | None, dict[str, Any]]:
    """The intent (the first one stated) and each slot's latest value."""
    intent, slots = None, {}
    for a in acts:
        for x in a:
            if x[0] == "intent" and intent is None:
                intent = x[1]
            elif x[0] == "slot":
                slots[x[1]] = x[2]
    return intent, slots


def decide(domain: Domain | str, messages: list[Message], acts: list[list[P.UserAct]]) -> Decision:
    """The next agent action. `acts` holds the meaning of each user message, in order."""
    domain = DOMAINS[domain] if isinstance(domain, str) else domain
    intent, slots = understood(acts)
    last = messages[-1] if messages else None
    if last is not None and last.role == "user" and acts:
        faq = next((x[1] for x in acts[-1] if x[0] == "faq"), None)
        if faq is not None:
            answer = next(f.answer for f in domain.faqs if f.topic == faq)
            return Decision(reply(answer), "faq", intent, known=dict(slots), faq=faq)
    if intent is None:
        small = bool(acts) and any(x[0] == "smalltalk" for x in acts[-1])
        return Decision(reply(P.SMALLTALK_REPLY if small else P.GREET_REPLY),
                        "smalltalk" if small else "greet")
    proc = next(p for p in domain.procedures if p.name == intent)
    d = _walk(domain, proc, messages, acts, slots)
    if d.kind in TERMINAL and any(m.role == "assistant" and m.content == d.target.content for m in messages):
        return Decision(reply(P.CLOSING), "closing", proc.name, known=dict(slots))
    return d


def _walk(domain: Domain, proc: Procedure, messages, acts, slots) -> Decision:
    results = tool_results(messages)
    records: dict[str, Any] = {}
    passed: list[str] = []
    known = {k: v for k, v in slots.items() if k in proc.slots}
    missing = [s for s in proc.slots if s not in slots]

    def out(target, kind, **kw):
        return Decision(target, kind, proc.name, known=dict(known), missing=list(missing),
                        records=dict(records), passed=list(passed), **kw)

    for step in proc.steps:
        if isinstance(step, P.Ask):
            if step.slot not in slots:
                return out(reply(domain.slots[step.slot].ask), "ask", slot=step.slot)
        elif isinstance(step, (P.Lookup, P.Act)):
            args = {arg: slots[s] for arg, s in step.args.items()}
            res = _find(results, step.tool, args)
            if res is None:
                return out(call(step.tool, args), "lookup" if isinstance(step, P.Lookup) else "act")
            if "error" in res:
                if isinstance(step, P.Lookup):
                    return out(reply(render(step.not_found, domain, slots, records)), "not_found")
                return out(reply(f"I'm sorry, that did not work: {res['error']}."), "error")
            records[step.bind] = res
        elif isinstance(step, P.Check):
            if not step.test({**records, **slots}):
                return out(reply(render(step.refuse, domain, slots, records)), "refuse", rule=step.rule)
            passed.append(step.rule)
        elif isinstance(step, P.Confirm):
            text = render(step.text, domain, slots, records)
            answer = _confirmation(messages, acts, text)
            if answer == "no":
                return out(reply(render(step.declined, domain, slots, records)), "declined")
            if answer != "yes":
                return out(reply(text), "confirm")
        elif isinstance(step, P.Inform):
            return out(reply(render(step.text, domain, slots, records)), "inform")
    raise ValueError(f"procedure {proc.name} ends without informing the user")


# --------------------------------------------------------------------------- dry run


@dataclass
class Outcome:
    """What the procedure does with complete information and a decided user."""

    kind: str  # done, refused, declined, not_found
    calls: list[ToolCall]
    replies: list[str]  # the last one tells the user how it ended
    records: dict[str, Any]
    rule: str | None = None
    facts: list[str] = field(default_factory=list)  # the values the last reply fills in


def dry_run(domain: Domain, proc: Procedure, backend, slots: dict[str, Any], accept: bool = True) -> Outcome:
    """Execute `proc` on `backend` (changing it) as if the user gave `slots` at once and answered
    the confirmation with `accept`. Its calls are the gold actions of a goal."""
    calls: list[ToolCall] = []
    replies: list[str] = []
    records: dict[str, Any] = {}
    for step in proc.steps:
        if isinstance(step, (P.Lookup, P.Act)):
            args = {arg: slots[s] for arg, s in step.args.items()}
            calls.append(ToolCall(name=step.tool, arguments=args))
            res = backend.execute(step.tool, args)
            if "error" in res:
                kind = "not_found" if isinstance(step, P.Lookup) else "error"
                return Outcome(kind, calls, replies, records)
            records[step.bind] = res
        elif isinstance(step, P.Check):
            if not step.test({**records, **slots}):
                replies.append(render(step.refuse, domain, slots, records))
                return Outcome("refused", calls, replies, records, step.rule,
                               P.facts(step.refuse, domain, slots, records))
        elif isinstance(step, P.Confirm):
            replies.append(render(step.text, domain, slots, records))
            if not accept:
                replies.append(render(step.declined, domain, slots, records))
                return Outcome("declined", calls, replies, records,
                               facts=P.facts(step.declined, domain, slots, records))
        elif isinstance(step, P.Inform):
            replies.append(render(step.text, domain, slots, records))
            return Outcome("done", calls, replies, records, facts=P.facts(step.text, domain, slots, records))
    raise ValueError(f"procedure {proc.name} ends without informing the user")


def oracle_policy(domain: Domain | str, understand: Callable[[str], list[P.UserAct]] | None = None
                  ) -> Callable[[list[Message]], Target]:
    """The scripted agent as a policy: context -> action, reading user text with `understand`
    (by default the exact reader of the bundled utterance pools)."""
    domain = DOMAINS[domain] if isinstance(domain, str) else domain
    if understand is None:
        from thinkact.bench.nlu import reader
        understand = reader(domain)

    def policy(messages: list[Message]) -> Target:
        acts = [understand(m.content) for m in messages if m.role == "user"]
        return decide(domain, messages, acts).target

    return policy
