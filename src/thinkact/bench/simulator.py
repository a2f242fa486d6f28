"""User goals, a rule-based user simulator, and end-to-end episodes against any agent policy.

A Goal is what one user wants (a procedure, the entity, the slot values) and how they behave
(information all at once, piecemeal or out of order, a mistyped or wrong identifier, a change of
mind, a declined confirmation, an off-procedure question, small talk). Its gold actions come
from running the procedure on a fresh backend with the final values (`agent.dry_run`), so the
expected final state is known before any agent plays.

The simulator plays the goal against an agent's replies, reading them with simple cues (does the
agent ask for something it knows, ask to confirm, say it found nothing, or conclude?). It works
with any policy, the scripted oracle or a model:

    goals = sample_goals("test", n=50, seed=0)
    result = run_episode(goals[0], policy)      # policy: list[Message] -> Target | raw text
    result.success                              # the agent did its part (see TOLD_F1): the
                                                # goal's final state, the procedure's lookups,
                                                # and the outcome told to the user
    result.failure                              # why not: "state mismatch", "missing call: ...", ...
    pass_hat_k([[run_episode(g, policy, trial=t).success for t in range(4)] for g in goals], k=2)

A policy builds its prompt from `goal.system` and `goal.tools`, and the messages it is given.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from math import comb
from typing import Any, Callable, Union

from thinkact.bench import ids
from thinkact.bench import procedures as P
from thinkact.bench.agent import dry_run
from thinkact.bench.backend import Backend, database
from thinkact.bench.domains import DOMAINS, PROCEDURES, procedures_for
from thinkact.grammar import parse
from thinkact.rewards import token_f1
from thinkact.schema import Conversation, Message, Target, ToolCall

Policy = Callable[[list[Message]], Union[Target, str]]


@dataclass
class Goal:
    id: str
    domain: str
    procedure: str
    split: str
    seed: int  # the database seed
    slots: dict[str, Any]  # the values the user finally wants
    initial: dict[str, Any] = field(default_factory=dict)  # values first given, changed at confirmation
    style: str = "all"  # all: everything at once; piecemeal: when asked; early: later slots first
    bad_id: str | None = None  # "typo" or "wrong": the first identifier given is rejected
    bad_value: str | None = None
    accept: bool = True  # the answer to the confirmation
    faq: str | None = None  # an off-procedure question asked along the way
    opener: str | None = None  # "greet" or "smalltalk": a first message without the request
    thanks: bool = False  # thank the agent at the end
    outcome: str = "done"  # done, refused or declined, with these values
    gold: list[ToolCall] = field(default_factory=list)  # the procedure's calls: lookups, then the action if done
    reply: str = ""  # the procedure's last reply: the refusal, the decline or the result
    outputs: list[str] = field(default_factory=list)  # values the agent must tell the user (as in `reply`)

    @property
    def system(self) -> str:
        return DOMAINS[self.domain].system

    @property
    def tools(self) -> list[dict[str, Any]]:
        return DOMAINS[self.domain].tools

    def behaviours(self) -> list[str]:
        out = [self.style]
        out += [f"{self.bad_id}_id"] if self.bad_id else []
        out += ["change_mind"] if self.initial else []
        out += ["decline"] if not self.accept and self.outcome == "declined" else []
        out += ["faq"] if self.faq else []
        out += [self.opener] if self.opener else []
        out += ["thanks"] if self.thanks else []
        return out


# --------------------------------------------------------------------------- goals


def _values(domain: P.Domain, proc: P.Procedure, db, rng: random.Random) -> dict[str, Any]:
    values = {}
    for name in proc.slots:
        slot = domain.slots[name]
        values[name] = rng.choice(list(slot.values)) if slot.is_enum else rng.choice(list(db[slot.table]))
    return values


def _bad_value(slot: P.Slot, good: str, db, rng: random.Random, kind: str) -> str:
    known = set(db[slot.table])
    if kind == "typo":
        return ids.typo(rng, good, known, slot.pattern)
    taken = set(known)
    if slot.pattern == ids.EMAIL:
        return ids.email(rng, taken, rng.choice(ids.FIRST_NAMES))
    if slot.pattern == ids.FLIGHT:
        return ids.flight_number(rng, taken)
    return ids.code(rng, taken, (len(good), len(good)))


def sample_goal(proc: P.Procedure, split: str, seed: int, rng: random.Random, goal_id: str) -> Goal:
    domain = DOMAINS[proc.domain]
    db = database(proc.domain, split, seed)
    has_check = any(isinstance(s, P.Check) for s in proc.steps)
    has_confirm = any(isinstance(s, P.Confirm) for s in proc.steps)
    want = rng.choices(("done", "refused", "declined"),
                       (0.62, 0.26 if has_check else 0, 0.12 if has_confirm else 0))[0]
    for _ in range(200):  # draw entities and values until the procedure ends the way wanted
        slots = _values(domain, proc, db, rng)
        out = dry_run(domain, proc, Backend(domain, db), slots, accept=want != "declined")
        if out.kind == want:
            break
    goal = Goal(id=goal_id, domain=proc.domain, procedure=proc.name, split=split, seed=seed,
                slots=slots, outcome=out.kind, gold=out.calls, accept=out.kind != "declined",
                reply=out.replies[-1] if out.replies else "")
    declared = [P.render(t, domain, slots, out.records) for t in proc.outputs] if out.kind == "done" else []
    goal.outputs = list(dict.fromkeys(out.facts + declared))

    enums = [s for s in proc.slots if domain.slots[s].is_enum]
    if has_confirm and out.kind != "refused" and enums and rng.random() < 0.2:
        name = rng.choice(enums)
        other = [v for v in domain.slots[name].values if v != slots[name]]
        first = {**slots, name: rng.choice(other)}
        if dry_run(domain, proc, Backend(domain, db), first).kind == "done":
            goal.initial = {name: first[name]}  # a first choice the procedure would also accept

    id_slots = [s for s in proc.slots if not domain.slots[s].is_enum]
    if id_slots and rng.random() < 0.25:
        goal.bad_id = rng.choice(("typo", "typo", "wrong"))
        slot = domain.slots[id_slots[0]]
        goal.bad_value = _bad_value(slot, slots[slot.name], db, rng, goal.bad_id)
    goal.style = rng.choices(("all", "piecemeal", "early"), (35, 40, 25 if len(proc.slots) > 1 else 0))[0]
    goal.faq = rng.choice(domain.faqs).topic if rng.random() < 0.2 else None
    goal.opener = rng.choices((None, "greet", "smalltalk"), (75, 15, 10))[0]
    goal.thanks = rng.random() < 0.5
    return goal


def sample_goals(split: str, n: int, seed: int = 0) -> list[Goal]:
    """`n` user goals over the procedures of `split` (train and test share procedures and
    differ in entities; ood has its own procedures), balanced across procedures. Same
    arguments, same goals."""
    procs = procedures_for(split)
    rng = random.Random(f"{seed}:{split}:goals")
    order: list[P.Procedure] = []
    while len(order) < n:
        order += rng.sample(procs, len(procs))
    return [sample_goal(proc, split, seed, rng, f"bench-{split}-{i:05d}") for i, proc in enumerate(order[:n])]


# --------------------------------------------------------------------------- the user

GREETED = ("how can i help", "how may i help", "what can i do for you", "how can i assist")


class UserSimulator:
    """Plays one goal: `start()` gives the first message, `respond(agent_reply)` the next one or
    None when the user is done. `acts` holds the meaning of each message sent."""

    def __init__(self, goal: Goal, rng: random.Random):
        self.goal, self.rng = goal, rng
        self.domain = DOMAINS[goal.domain]
        self.proc = PROCEDURES[goal.procedure]
        self.values = {**goal.slots, **goal.initial}  # what the user currently wants
        self.given: set[str] = set()
        self.stated = False  # the request has been made
        self.bad_pending = goal.bad_value is not None
        self.faq_pending = goal.faq
        self.answering_faq: str | None = None  # the agent's question put aside for the faq
        self.thanked = False
        self.acts: list[list[P.UserAct]] = []
        self.messages = 0

    # --- fragments
    def _slot(self, name: str) -> tuple[str, list[P.UserAct]]:
        slot = self.domain.slots[name]
        value = self.values[name]
        if self.bad_pending and not slot.is_enum and name == self._first_id():
            value, self.bad_pending = self.goal.bad_value, False
        self.given.add(name)
        if slot.is_enum:
            return self.rng.choice(slot.value_phrases[value]), [("slot", name, value)]
        return self.rng.choice(slot.phrases).format(**{name: value}), [("slot", name, value)]

    def _first_id(self) -> str | None:
        return next((s for s in self.proc.slots if not self.domain.slots[s].is_enum), None)

    def _request(self, with_slots: list[str]) -> tuple[list[str], list[P.UserAct]]:
        embeddable = [t for t in self.proc.intents if set(_placeholders(t)) <= set(with_slots)]
        with_slot = [t for t in embeddable if _placeholders(t)]
        plain = [t for t in embeddable if not _placeholders(t)]
        template = self.rng.choice(with_slot if with_slot and self.rng.random() < 0.5 else plain)
        inside = _placeholders(template)
        acts: list[P.UserAct] = [("intent", self.proc.name)]
        fill = {}
        for name in inside:
            text, a = self._slot(name)
            fill[name] = a[0][2]
            acts += a
        texts = [template.format(**fill)]
        rest = [s for s in with_slots if s not in inside]
        self.rng.shuffle(rest)
        for name in rest:
            text, a = self._slot(name)
            texts.append(text)
            acts += a
        self.stated = True
        return texts, acts

    def _send(self, texts: list[str], acts: list[P.UserAct]) -> str:
        self.acts.append(acts)
        self.messages += 1
        return " ".join(texts)

    # --- turns
    def start(self) -> str:
        if self.goal.opener == "greet":
            return self._send([self.rng.choice(P.GREETINGS)], [("greet",)])
        if self.goal.opener == "smalltalk":
            return self._send([self.rng.choice(P.SMALLTALK)], [("smalltalk",)])
        return self._opening()

    def _opening(self) -> str:
        slots = self.proc.slots
        if self.goal.style == "all":
            chosen = list(slots)
        elif self.goal.style == "early":
            later = slots[1:]
            chosen = self.rng.sample(later, self.rng.randint(1, len(later)))
        else:
            chosen = []
        texts, acts = self._request(chosen)
        if self.goal.opener is None and self.rng.random() < 0.25:
            texts.insert(0, self.rng.choice(P.GREETINGS))
            acts.insert(0, ("greet",))
        return self._send(texts, acts)

    def respond(self, agent: str) -> str | None:
        """The user's next message after the agent's reply, or None: the conversation is over."""
        if self.thanked or self.messages > 24:
            return None
        if self.answering_faq is not None:  # the agent answered the question: back to its own
            agent, self.answering_faq = self.answering_faq, None
        t = agent.lower()
        question = "?" in agent
        if not self.stated:
            return self._opening()
        if any(c in t for c in P.NOT_FOUND):
            return self._correct()
        asked = [s for s in self.proc.slots if self.domain.slots[s].label.lower() in t]
        missing = [s for s in asked if s not in self.given]
        if question and self.faq_pending:
            faq = next(f for f in self.domain.faqs if f.topic == self.faq_pending)
            self.faq_pending, self.answering_faq = None, agent
            return self._send([self.rng.choice(faq.questions)], [("faq", faq.topic)])
        if question and missing:
            return self._give(missing)
        if P.asks_to_confirm(agent):  # lookup failures were answered above
            return self._confirm()
        if question and asked:
            return self._give(asked)
        if question:
            left = [s for s in self.proc.slots if s not in self.given]
            return self._give(left or list(self.proc.slots))
        if self.goal.thanks:
            self.thanked = True
            return self._send([self.rng.choice(P.THANKS)], [("thanks",)])
        return None

    def _give(self, names: list[str]) -> str:
        texts, acts = [], []
        for name in names:
            text, a = self._slot(name)
            texts.append(text)
            acts += a
        return self._send(texts, acts)

    def _correct(self) -> str:
        name = self._first_id()
        if name is None:
            return self._give(list(self.proc.slots))
        text, a = self._slot(name)
        return self._send([self.rng.choice(P.SORRY), text], [("sorry",)] + a)

    def _confirm(self) -> str:
        changed = [s for s in self.goal.initial if self.values[s] != self.goal.slots[s]]
        if changed:
            name = changed[0]
            self.values[name] = self.goal.slots[name]
            text, a = self._slot(name)
            return self._send([self.rng.choice(P.CHANGE), text], [("change",)] + a)
        if self.goal.accept:
            return self._send([self.rng.choice(P.YES)], [("yes",)])
        return self._send([self.rng.choice(P.NO)], [("no",)])


def _placeholders(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)


# --------------------------------------------------------------------------- episodes


# An episode succeeds only when the agent did its part, not merely when nothing changed:
# a refused or declined goal leaves the backend as it was, so an agent that never acts would
# match its final state. Success needs all of:
#   - the backend's final state equals the goal's (the gold calls replayed on a fresh database);
#   - every call of the procedure was made, with the same tool name and arguments: the lookups
#     that establish the outcome, and the action when the goal ends done;
#   - the agent told the outcome: after its last required call, some reply contains every value
#     the procedure's last reply fills in (the identifier, a status, an amount) and has token F1
#     of at least TOLD_F1 against that reply. The values make it the right outcome (a status
#     or an amount); the similarity makes it the right kind of reply: the confirmation question
#     carries the same identifier as the decline that follows it, and scores at most 0.48
#     against it;
#   - the episode ended by the user, not by the action limit or the model's context.
TOLD_F1 = 0.5
ENDINGS = ("user", "action limit", "context limit")


class ContextLimit(Exception):
    """Raised by a policy whose model cannot take the conversation any further: the episode
    ends there, as a failure."""


@dataclass
class EpisodeResult:
    goal_id: str
    success: bool  # failure is None
    state_ok: bool  # the backend's final state equals the goal's expected state
    calls_ok: bool  # every call of the procedure was made (tool and arguments)
    told: bool  # a reply after those calls told the user the outcome
    ended: str  # one of ENDINGS
    failure: str | None  # why it failed: the ending, else state, calls, telling (failure_reason)
    actions: int  # agent actions taken
    malformed: int  # raw outputs that parsed to no action
    conversation: Conversation


def _as_target(out: Union[Target, str]) -> tuple[Target, bool]:
    if isinstance(out, Target):
        return out, True
    parsed = parse(out)
    target = parsed.to_target()
    if target is None:  # no usable action: the user sees the raw text
        return Target(kind="reply", content=str(out).strip() or "..."), False
    return target, True


def expected_state(goal: Goal) -> Backend:
    backend = Backend(goal.domain, database(goal.domain, goal.split, goal.seed))
    for c in goal.gold:
        backend.execute(c.name, c.arguments)
    return backend


def play(goal: Goal, policy: Policy, user: UserSimulator, backend: Backend, max_actions: int = 40
         ) -> tuple[list[Message], int, int, str]:
    """Alternate user and agent until the user is done; returns (messages, actions, malformed,
    how it ended: one of ENDINGS)."""
    messages = [Message(role="user", content=user.start())]
    actions = malformed = 0
    while actions < max_actions:
        try:
            out = policy(messages)
        except ContextLimit:
            return messages, actions, malformed, "context limit"
        target, ok = _as_target(out)
        actions += 1
        malformed += not ok
        if target.kind == "tool_call":
            messages.append(Message(role="assistant", tool_calls=target.tool_calls, reasoning=target.reasoning))
            for c in target.tool_calls:
                messages.append(Message(role="tool", name=c.name, content=backend.call(c.name, c.arguments)))
            continue
        messages.append(Message(role="assistant", content=target.content, reasoning=target.reasoning))
        text = user.respond(target.content)
        if text is None:
            return messages, actions, malformed, "user"
        messages.append(Message(role="user", content=text))
    return messages, actions, malformed, "action limit"


def missing_calls(goal: Goal, messages: list[Message]) -> tuple[list[ToolCall], int]:
    """The gold calls the agent never made, and the index of the message where the last of the
    ones it made first appears (-1 when none is needed)."""
    made = [(i, c) for i, m in enumerate(messages) if m.role == "assistant" for c in m.tool_calls or []]
    missing, after = [], -1
    for g in goal.gold:
        first = next((i for i, c in made if c.name == g.name and c.arguments == g.arguments), None)
        if first is None:
            missing.append(g)
        else:
            after = max(after, first)
    return missing, after


def tells_outcome(goal: Goal, reply: str) -> bool:
    """The reply states how the goal ended: the values of the procedure's last reply, in a reply
    like it (see TOLD_F1)."""
    text = reply.lower()
    return all(v.lower() in text for v in goal.outputs) and token_f1(reply, goal.reply) >= TOLD_F1


def run_episode(goal: Goal, policy: Policy, *, trial: int = 0, max_actions: int = 40) -> EpisodeResult:
    """Play `goal` against `policy` with the real backend. `trial` reseeds the user's wording, so
    repeated trials of one goal differ in surface form (for pass^k)."""
    backend = Backend(goal.domain, database(goal.domain, goal.split, goal.seed))
    user = UserSimulator(goal, random.Random(f"{goal.id}:{trial}"))
    messages, actions, malformed, ended = play(goal, policy, user, backend, max_actions)
    state_ok = backend.state() == expected_state(goal).state()
    missing, after = missing_calls(goal, messages)
    told = any(tells_outcome(goal, m.content) for m in messages[after + 1:]
               if m.role == "assistant" and not m.tool_calls)
    failure = failure_reason(ended, state_ok, missing, told)
    conv = Conversation(id=f"{goal.id}~{trial}", system=goal.system, tools=goal.tools, messages=messages,
                        meta={"domain": goal.domain, "procedure": goal.procedure, "split": goal.split})
    return EpisodeResult(goal.id, failure is None, state_ok, not missing, told, ended, failure,
                         actions, malformed, conv)


def failure_reason(ended: str, state_ok: bool, missing: list[ToolCall], told: bool) -> str | None:
    """The first thing the agent did not do, or None."""
    if ended != "user":
        return ended
    if not state_ok:
        return "state mismatch"
    if missing:
        return "missing call: " + ", ".join(call_text(c) for c in missing)
    if not told:
        return "outcome never told"
    return None


def call_text(call: ToolCall) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    return f"{call.name}({args})"


def pass_hat_k(successes: list[list[bool]], k: int) -> float:
    """tau-bench's pass^k: the mean over tasks of C(c, k) / C(n, k), with c successes in n trials:
    the chance that k trials drawn from a task's n all succeed."""
    scores = []
    for trials in successes:
        n, c = len(trials), sum(bool(x) for x in trials)
        if n < k:
            raise ValueError(f"pass^{k} needs at least {k} trials per task, got {n}")
        scores.append(comb(c, k) / comb(n, k))
    return sum(scores) / len(scores) if scores else 0.0
