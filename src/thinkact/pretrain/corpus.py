"""Generated pretraining text: the domains' language plus the skills a base model brings.

A document is a list of segments `(text, emphasised)`. Emphasised segments are strings the
model must reproduce from earlier in the context (an identifier after a cue, a value looked up
from a record); the loop weights their loss up. Three kinds of document:

- prose: the domains' own text (utterances, replies, policies, records), for language;
- copy: identifiers stated once among filler text, later repeated after a cue, in prose or as
  a JSON value (induction, with distractors so the cue must be matched);
- lookup: records rendered as JSON or "key: value" lines, then one field of one record asked
  for by its id or name;
- repeat: a list of identifiers, then the same list again after some text. Every token of the
  repeat is a copy target, a dense signal that makes induction form sooner than the sparse cues
  of copy documents do.

Nothing here is the task: no grammar tags, no tool calls, no prompt -> action pairs.
"""

from __future__ import annotations

import json
import random
import string
from typing import Callable, Iterator, Sequence

Segment = tuple[str, bool]
TextSource = Callable[[int, int], Iterator[str]]

FIRST = ("mia ava liam noah emma olivia lucas ethan sofia yusuf chen aisha omar lena ivan "
         "maria james sara daniel amir hana diego elena raj fatima mateo nora kenji zoe "
         "leo ines tariq yara hugo maya").split()
LAST = ("garcia smith chen kim patel nguyen silva khan muller rossi novak ito lopez brown "
        "davis wilson moore taylor thomas martin clark lewis walker young allen king wright "
        "scott adams baker hall rivera campbell").split()
CITIES = ("Austin Denver Boston Seattle Chicago Phoenix Portland Miami Dallas Atlanta Houston "
          "Toronto Lisbon Madrid Berlin Oslo").split()
MAIL_DOMAINS = ("example.com", "mailbox.net", "inbox.io", "postbox.org", "webmail.co", "mail.com")
STATUSES = ("pending processed delivered cancelled shipped active suspended confirmed "
            "refunded open closed").split()
# (phrase in prose, key in JSON)
THINGS = (("order number", "order_id"), ("booking code", "booking_code"),
          ("reference", "reference"), ("account id", "account_id"), ("ticket", "ticket_id"),
          ("confirmation code", "confirmation_code"), ("tracking number", "tracking_number"),
          ("member id", "member_id"), ("promo code", "promo_code"),
          ("serial number", "serial_number"), ("user id", "user_id"),
          ("reservation", "reservation_id"), ("payment method", "payment_method_id"),
          ("invoice", "invoice_id"), ("item", "item_id"))
INTRO = ("My {t} is {v}.", "The {t} on file is {v}.", "I have {t} {v} here.",
         "Please note {t} {v}.", "It is about {t} {v}.", "{T}: {v}.", "Use {t} {v}, thanks.",
         "We recorded {t} {v} for this case.")
CUE = ("To confirm, the {t} is {v}.", "So the {t} is {v}.", "Repeat the {t}: {v}.",
       "{T}: {v}.", "The {t} mentioned earlier was {v}.", "Noted {t} {v}.")
JSON_CUE = '{{"{k}": "{v}"}}'

ALNUM_UPPER = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


def identifier(rng: random.Random) -> str:
    """One identifier in one of the shapes support data uses (most 6-12 characters)."""
    kind = rng.random()
    if kind < 0.25:  # letter prefix + digits, like W2378156
        return rng.choice(string.ascii_uppercase) + "".join(rng.choices(string.digits, k=rng.randint(5, 9)))
    if kind < 0.50:  # upper-case alphanumeric, like 4WQ150XK
        return "".join(rng.choices(ALNUM_UPPER, k=rng.randint(6, 12)))
    if kind < 0.70:  # mixed-case alphanumeric
        return "".join(rng.choices(ALNUM, k=rng.randint(6, 12)))
    if kind < 0.78:  # user handle, like mia_garcia_4516
        return f"{rng.choice(FIRST)}_{rng.choice(LAST)}_{rng.randint(1000, 9999)}"
    if kind < 0.86:  # e-mail, like lena.k3x9@inbox.io
        tail = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(3, 6)))
        return f"{rng.choice(FIRST)}{rng.choice('._')}{tail}@{rng.choice(MAIL_DOMAINS)}"
    if kind < 0.90:  # flight number, like UA1234
        return "".join(rng.choices(string.ascii_uppercase, k=2)) + "".join(rng.choices(string.digits, k=rng.randint(3, 4)))
    if kind < 0.95:  # prefixed, like credit_card_7815826
        return rng.choice(("credit_card_", "gift_card_", "paypal_", "item_", "ORD-", "TKT-")) + \
            "".join(rng.choices(string.digits, k=rng.randint(4, 8)))
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(6, 12)))


def filler(rng: random.Random, pool: Sequence[str], chars: int) -> str:
    """About `chars` characters of domain text drawn from `pool`, the last piece cut at a word
    boundary so short budgets stay short."""
    out: list[str] = []
    n = 0
    while n < chars:
        s = rng.choice(pool)
        if n + len(s) > chars:
            s = " ".join(s[:chars - n].split(" ")[:-1]) or s.split(" ")[0]
        out.append(s)
        n += len(s) + 1
    return " ".join(out)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def copy_document(rng: random.Random, pool: Sequence[str], chars: int,
                  make_id: Callable[[random.Random], str] = identifier, max_ids: int = 3) -> list[Segment]:
    """Identifiers stated among filler, then one (or more) asked back after a cue."""
    n_ids = rng.randint(1, max_ids)
    things = rng.sample(THINGS, n_ids)
    values = [make_id(rng) for _ in things]
    gap = max(0, chars // (n_ids + 1))
    segs: list[Segment] = []
    for (t, _), v in zip(things, values):
        if pool and gap:
            segs.append((filler(rng, pool, rng.randint(gap // 2, gap)) + " ", False))
        segs.append((rng.choice(INTRO).format(t=t, T=_cap(t), v=v) + "\n", False))
    if pool and gap:
        segs.append((filler(rng, pool, rng.randint(gap // 2, gap)) + "\n", False))
    for i in rng.sample(range(n_ids), rng.randint(1, n_ids)):
        (t, k), v = things[i], values[i]
        if rng.random() < 0.4:
            pre, post = JSON_CUE.format(k=k, v="\x00").split("\x00")
        else:
            pre, post = rng.choice(CUE).format(t=t, T=_cap(t), v="\x00").split("\x00")
        segs += [(pre, False), (v, True), (post + "\n", False)]
    return segs


def _record(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    t, k = rng.choice(THINGS)
    rec = {k: identifier(rng), "name": f"{_cap(first)} {_cap(last)}",
           "email": f"{first}.{last}{rng.randint(1, 999)}@example.com",
           "city": rng.choice(CITIES), "zip": "".join(rng.choices(string.digits, k=5)),
           "status": rng.choice(STATUSES), "amount": f"{rng.randint(5, 2000)}.{rng.randint(0, 99):02d}"}
    keys = [k, "name"] + rng.sample(["email", "city", "zip", "status", "amount"], rng.randint(2, 5))
    return {key: rec[key] for key in keys}


def lookup_document(rng: random.Random, pool: Sequence[str], chars: int) -> list[Segment]:
    """Records rendered as JSON lines or "key: value" blocks, then one field asked for."""
    records = [_record(rng) for _ in range(rng.randint(2, 6))]
    as_json = rng.random() < 0.6
    segs: list[Segment] = []
    if pool and chars > 200:
        segs.append((filler(rng, pool, chars // 3) + "\n", False))
    for rec in records:
        text = json.dumps(rec) if as_json else "\n".join(f"{k}: {v}" for k, v in rec.items())
        segs.append((text + "\n" + ("" if as_json else "\n"), False))
    if pool and chars > 200:
        segs.append((filler(rng, pool, chars // 3) + "\n", False))
    for rec in rng.sample(records, rng.randint(1, min(3, len(records)))):
        id_key = next(iter(rec))
        field = rng.choice([k for k in rec if k != id_key])
        by = rng.choice((id_key, "name"))
        if field == "name":
            by = id_key
        if rng.random() < 0.5:
            pre = f'{{"{by}": "{rec[by]}", "{field}": "'
            post = '"}'
        else:
            pre = f"The {field} for {rec[by]} is "
            post = "."
        segs += [(pre, False), (rec[field], True), (post + "\n", False)]
    return segs


def repeat_document(rng: random.Random, pool: Sequence[str], chars: int) -> list[Segment]:
    """A list of identifiers, filler, then the list again (all of it emphasised)."""
    ids = [identifier(rng) for _ in range(rng.randint(2, 8))]
    text = rng.choice((", ", "\n", " ")).join(ids)
    segs: list[Segment] = [(rng.choice(("Codes: ", "On file: ", "List: ", "")) + text + "\n", False)]
    if pool and chars:
        segs.append((filler(rng, pool, rng.randint(chars // 4, chars)) + "\n", False))
    segs += [(rng.choice(("Again: ", "Once more: ", "Repeated: ", "")), False), (text, True), ("\n", False)]
    return segs


def prose_document(rng: random.Random, pool: Sequence[str], chars: int) -> list[Segment]:
    return [(filler(rng, pool, chars), False)] if pool else [("", False)]


def document(rng: random.Random, pool: Sequence[str], chars: int, copy_share: float,
             lookup_share: float = 0.0, repeat_share: float = 0.0) -> list[Segment]:
    """One document: copy with probability `copy_share`, lookup with `lookup_share`, repeat
    with `repeat_share`, else domain prose."""
    r = rng.random()
    if r < copy_share:
        return copy_document(rng, pool, chars, max_ids=3 if chars > 300 else 2)
    if r < copy_share + lookup_share:
        return lookup_document(rng, pool, chars)
    if r < copy_share + lookup_share + repeat_share:
        return repeat_document(rng, pool, chars)
    return prose_document(rng, pool, chars)


def placeholder_text(seed: int, n: int) -> Iterator[str]:
    """A stand-in for the domains' text: short support sentences with entities."""
    rng = random.Random(seed)
    subjects = ("I", "My sister", "We", "The customer")
    verbs = ("want to cancel", "need to change", "would like to return", "cannot find", "asked about")
    objects = ("my order", "the booking", "the last payment", "a pair of shoes", "the flight to Denver")
    replies = ("Sure, I can help with that.", "Could you share your order number?",
               "Refunds go back to the original payment method within 5 to 7 business days.",
               "Cancelled orders cannot be modified.", "Thank you, I found your account.")
    for _ in range(n):
        if rng.random() < 0.5:
            t, _k = rng.choice(THINGS)
            yield f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}, {t} {identifier(rng)}."
        else:
            yield rng.choice(replies)
