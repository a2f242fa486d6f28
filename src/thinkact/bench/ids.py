"""Random identifiers, names and the mistakes users make when typing identifiers.

Identifiers are random strings of letters and digits, so a model cannot guess them: it has to
copy them from the conversation into tool arguments. One `taken` set per domain keeps them
unique across splits, so test and ood entities never appear in train.
"""

from __future__ import annotations

import random
import re
import string

UPPER = string.ascii_uppercase
DIGITS = string.digits
LOWER = string.ascii_lowercase

# Patterns the user's text is read with; each admits the typos below.
CODE = r"(?![A-Za-z]{2}\d{3,4}\b)(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{5,14}\b"
EMAIL = r"[a-z0-9._]+@[a-z0-9]+\.[a-z]{2,4}"
FLIGHT = r"[A-Z]{2}\d{3,4}\b"

FIRST_NAMES = ("Ava", "Liam", "Mia", "Noah", "Emma", "Omar", "Sofia", "Yuki", "Lena", "Ravi",
               "Chloe", "Mateo", "Aisha", "Jonas", "Priya", "Ethan", "Zara", "Lucas", "Nora",
               "Diego", "Hana", "Felix", "Ines", "Kofi", "Maya", "Theo", "Leila", "Arjun",
               "Elena", "Sam", "Ruth", "Ivan", "Grace", "Tomas", "Amara", "Oscar")
LAST_NAMES = ("Kim", "Garcia", "Smith", "Okafor", "Novak", "Tanaka", "Rossi", "Haddad", "Patel",
              "Jensen", "Moreau", "Silva", "Nguyen", "Cohen", "Brown", "Schmidt", "Larsen",
              "Mensah", "Ali", "Kowalski", "Lopez", "Ivanova", "Santos", "Weber", "Hughes")
MAIL_DOMAINS = ("example.com", "mailbox.net", "inbox.io", "postbox.org", "webmail.co")


def code(rng: random.Random, taken: set[str], lengths: tuple[int, int] = (7, 10)) -> str:
    """An uppercase code of letters and digits with at least two of each."""
    while True:
        n = rng.randint(*lengths)
        s = "".join(rng.choice(UPPER + DIGITS) for _ in range(n))
        letters = sum(c in UPPER for c in s)
        if letters >= 2 and n - letters >= 2 and not _flight_like(s) and s not in taken:
            taken.add(s)
            return s


def flight_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        s = rng.choice(UPPER) + rng.choice(UPPER) + "".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 4)))
        if s not in taken:
            taken.add(s)
            return s


def email(rng: random.Random, taken: set[str], first: str) -> str:
    while True:
        tail = "".join(rng.choice(LOWER + DIGITS) for _ in range(rng.randint(3, 6)))
        if not any(c in DIGITS for c in tail):
            continue
        s = f"{first.lower()}{rng.choice('._')}{tail}@{rng.choice(MAIL_DOMAINS)}"
        if s not in taken:
            taken.add(s)
            return s


def _flight_like(s: str) -> bool:
    return len(s) in (5, 6) and s[:2].isalpha() and s[2:].isdigit()


def typo(rng: random.Random, value: str, known: set[str], pattern: str) -> str:
    """`value` with one slip of the finger: a swapped pair or one wrong character of the same
    kind. Never another existing identifier, and still readable as an identifier."""
    at = value.find("@")
    end = at if at > 0 else len(value)
    start = value.find(".") + 1 if at > 0 and "." in value[:at] else 0  # keep the name part
    for _ in range(100):
        chars = list(value)
        i = rng.randrange(start, end)
        if rng.random() < 0.4 and i + 1 < end and chars[i] != chars[i + 1]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            pool = DIGITS if chars[i].isdigit() else (UPPER if chars[i].isupper() else LOWER)
            chars[i] = rng.choice(pool.replace(chars[i], ""))
        s = "".join(chars)
        if s != value and s not in known and re.fullmatch(pattern, s):
            return s
    raise RuntimeError(f"no typo found for {value!r}")  # pragma: no cover
