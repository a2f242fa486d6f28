"""Customer-support procedures declared as data, following ALMITA (arXiv 2409.15934).

A written procedure becomes a *flow graph*: a sequence of steps the agent walks (collect a slot,
look an entity up, check the policy, ask for confirmation, act, inform), where a lookup can fail
(not found), a check can refuse (not eligible under policy) and a confirmation can be declined.
Expanding every user turn of that flow with what a user may do there (give information out of
order or all at once, mistype an identifier, change their mind, decline, ask something
off-procedure, make small talk) gives the *conversation graph*; the generator samples paths
through it. Each domain module (retail, airline, account) declares its entities, tools, policy,
utterance pools and procedures with the dataclasses below.

Templates are Python format strings over the conversation state: the slot values by name, the
display text of enum slots as `<slot>_text`, and bound tool results by name (`{order[status]}`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Callable, Union

# A user turn is made of fragments (sentences). Each fragment has a meaning, so the agent's
# understanding of user text is exact: ("intent", procedure), ("slot", name, value|None: taken
# from the text), ("yes",), ("no",), ("faq", topic), ("greet",), ("smalltalk",), ("thanks",),
# ("change",), ("sorry",).
UserAct = tuple


@dataclass(frozen=True)
class Slot:
    """A piece of information the agent must collect before acting."""

    name: str  # the tool argument it fills
    label: str  # how both sides name it in text ("order ID"); the user simulator looks for it
    ask: str  # the agent's question for it
    pattern: str = ""  # free values (identifiers): regex a value matches
    table: str = ""  # free values: the table whose keys are the valid values
    phrases: tuple[str, ...] = ()  # free values: user fragments with "{<name>}"
    values: dict[Any, str] = field(default_factory=dict)  # enum values: value -> display text
    value_phrases: dict[Any, tuple[str, ...]] = field(default_factory=dict)  # value -> fragments

    @property
    def is_enum(self) -> bool:
        return bool(self.values)


@dataclass(frozen=True)
class Ask:
    """Collect `slot` unless the user already gave it."""

    slot: str


@dataclass(frozen=True)
class Lookup:
    """Read an entity; an error observation (not found) sends the agent back to the user."""

    tool: str
    args: dict[str, str]  # tool argument -> slot
    bind: str  # the name the result takes in templates
    not_found: str  # the agent's reply when the lookup fails


@dataclass(frozen=True)
class Check:
    """A policy condition on what is known; failing it ends the procedure with a refusal."""

    rule: str  # the policy sentence, as the agent would cite it
    test: Callable[[dict[str, Any]], bool]
    refuse: str  # the agent's reply when the test fails


@dataclass(frozen=True)
class Confirm:
    """Summarize the change and act only after an explicit yes."""

    text: str
    declined: str  # the agent's reply when the user says no


@dataclass(frozen=True)
class Act:
    """Change the backend (or read a final result) with one tool call."""

    tool: str
    args: dict[str, str]
    bind: str


@dataclass(frozen=True)
class Inform:
    """Tell the user the result; the procedure ends here."""

    text: Union[str, Callable[[dict[str, Any]], str]]


Step = Union[Ask, Lookup, Check, Confirm, Act, Inform]


@dataclass(frozen=True)
class Procedure:
    name: str
    domain: str
    goal: str  # what the user wants, as the agent would say it ("cancel an order")
    intents: tuple[str, ...]  # user fragments stating the intent; may embed "{<slot>}"
    steps: tuple[Step, ...]
    split: str = "train"  # "train": train and test; "ood": held out of training entirely
    outputs: tuple = ()  # templates (or functions of the state) a correct agent must tell the user

    @property
    def slots(self) -> list[str]:
        return [s.slot for s in self.steps if isinstance(s, Ask)]

    @property
    def tools(self) -> list[str]:
        return [s.tool for s in self.steps if isinstance(s, (Lookup, Act))]


@dataclass(frozen=True)
class Faq:
    """An off-procedure question the agent answers from the policy, without a tool."""

    topic: str
    questions: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Domain:
    name: str
    system: str  # the system prompt: who the agent is and the policy
    tools: list[dict[str, Any]]  # JSON schemas, {"name", "description", "parameters"}
    impls: dict[str, Callable[..., Any]]  # tool name -> fn(db, **arguments); raises ToolError
    slots: dict[str, Slot]
    procedures: tuple[Procedure, ...]
    faqs: tuple[Faq, ...]
    make_db: Callable[..., dict[str, dict[str, dict[str, Any]]]]  # (rng, taken ids) -> tables
    entity: str  # the table whose records the corpus renders as text


class ToolError(Exception):
    """A tool refusing its input (unknown id, wrong state): becomes an error observation."""


# --------------------------------------------------------------------------- shared pools
# Fragments every domain shares: the user's side of small talk and confirmations.

GREETINGS = ("Hi there!", "Hello!", "Hey.", "Good morning!", "Hi!", "Good afternoon.",
             "Hello, I hope you're having a good day.", "Hey there, thanks for picking up.")
SMALLTALK = ("Hi, how are you doing today?", "Hello, how's your day going?",
             "Hey, how are things on your end?", "Hi! How are you?")
YES = ("Yes, please.", "Yes, go ahead.", "Yep, do it.", "Sure, go ahead.", "Yes.",
       "That's right, please proceed.", "Correct, go ahead with it.", "Yes, that's fine.",
       "Please do.", "Sounds good, yes.", "Yeah, that's what I want.")
NO = ("No, don't do that.", "No, leave it as it is.", "Actually, no. Let's not do that.",
      "Hmm, no thanks.", "No. I'd rather keep things as they are.", "Nope, forget it.",
      "Wait, no, please don't.", "No, not right now.")
CHANGE = ("Actually, I changed my mind.", "Hmm, wait.", "On second thought, let me change that.",
          "Sorry, one correction.", "Oh, actually, hold on.")
THANKS = ("Thanks, that's all.", "Great, thank you!", "Thank you so much.", "Perfect, thanks!",
          "Okay, thanks for your help.", "Alright, thanks. Bye!", "Got it, thank you.",
          "Thanks a lot, have a nice day.")
SORRY = ("Oops, sorry.", "Sorry about that.", "My bad.", "Oh, sorry.", "Ah, my mistake.",
         "Sorry, I must have typed it wrong.", "Oh no, let me look again.")

# Phrases by which the user (and the oracle) reads an agent's reply: it says nothing was found,
# or it asks the user to confirm. One list for both, so the oracle credits any confirmation
# question the simulated user answers as one, not only its own wording.
NOT_FOUND = ("couldn't find", "could not find", "can't find", "cannot find", "not find", "double-check",
             "not found", "no account", "doesn't exist", "does not exist")
CONFIRM = ("shall i", "should i", "go ahead", "proceed", "confirm", "do you want me to", "would you like me to")


def asks_to_confirm(text: str) -> bool:
    """Whether an agent's reply reads as a confirmation question (and not as a lookup failure)."""
    t = text.lower()
    return "?" in text and any(c in t for c in CONFIRM) and not any(c in t for c in NOT_FOUND)


# The agent's side of small talk.
GREET_REPLY = "Hello! How can I help you today?"
SMALLTALK_REPLY = "I'm doing well, thank you for asking! How can I help you today?"
CLOSING = "You're welcome! Have a great day."


def id_slot(name: str, label: str, ask: str, pattern: str, table: str,
            extra: tuple[str, ...] = ()) -> Slot:
    """A free-valued slot with the ways any identifier is given, plus slot-specific ones."""
    v = "{" + name + "}"
    common = (f"The {label} is {v}.", f"It's {v}.", f"Sure, it's {v}.", f"{v}",
              f"Here you go: {v}.", f"My {label} is {v}.", f"Yes, it's {v}.", f"{v} is the {label}.",
              f"Let me check... it's {v}.", f"I have it here: {v}.")
    return Slot(name=name, label=label, ask=ask, pattern=pattern, table=table,
                phrases=tuple(dict.fromkeys(common + extra)))


def tool(name: str, description: str, **params: dict[str, Any]) -> dict[str, Any]:
    """A tool's JSON schema; every parameter is required and no other is allowed."""
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": params, "required": list(params),
                           "additionalProperties": False}}


def template_state(domain: Domain, slots: dict[str, Any], records: dict[str, Any]) -> dict[str, Any]:
    """What templates read: slot values, the display text of enum slots, tool results."""
    state: dict[str, Any] = {**records, **slots}
    for name, value in slots.items():
        slot = domain.slots.get(name)
        if slot is not None and slot.is_enum:
            state[f"{name}_text"] = slot.values.get(value, str(value))
    return state


def render(text: Union[str, Callable[[dict[str, Any]], str]], domain: Domain, slots: dict[str, Any],
           records: dict[str, Any]) -> str:
    """Fill an agent template from what is known: slot values, their display text, tool results."""
    state = template_state(domain, slots, records)
    return text(state) if callable(text) else text.format(**state)


def facts(text: Union[str, Callable[[dict[str, Any]], str]], domain: Domain, slots: dict[str, Any],
          records: dict[str, Any]) -> list[str]:
    """The values a template fills in (an identifier, a status, an amount), each rendered as in
    the reply; [] for a template that is a function (its procedure declares `outputs`)."""
    if callable(text):
        return []
    state = template_state(domain, slots, records)
    out = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            field = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            out.append(("{" + field + "}").format(**state))
    return list(dict.fromkeys(out))
