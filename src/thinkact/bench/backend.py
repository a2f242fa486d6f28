"""The executable mock backend: a seeded in-memory database per domain and split, and the tools
that read and change it.

Every call is validated against the tool's JSON schema first. A bad call (unknown tool, missing
or unexpected argument, wrong type, value outside the enum or range) and a refused call (unknown
id, wrong state) both come back as an error observation `{"error": ...}`: the backend never
raises to its caller and never evaluates model text. Each Backend works on its own copy of the
tables, made cheaply: tools replace records instead of changing them in place, so copying the
table dicts is enough for every episode to start from the same state.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache
from typing import Any

from thinkact.bench.domains import DOMAINS
from thinkact.bench.procedures import Domain, ToolError

SPLITS = ("train", "test", "ood")
Tables = dict[str, dict[str, dict[str, Any]]]


@lru_cache(maxsize=32)
def _databases(domain: str, seed: int) -> dict[str, Tables]:
    taken: set[str] = set()  # shared by the splits: an identifier belongs to one split only
    return {split: DOMAINS[domain].make_db(random.Random(f"{seed}:{domain}:{split}"), taken)
            for split in SPLITS}


def database(domain: str, split: str, seed: int = 0) -> Tables:
    """The initial tables of a domain's split. Shared and never changed: use a Backend to act."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    return _databases(domain, seed)[split]


_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
          "object": (dict,), "array": (list,)}


def validate(arguments: Any, schema: dict[str, Any]) -> list[str]:
    """Why `arguments` do not fit an object schema (the subset the bundled tools use); empty
    when they do."""
    if not isinstance(arguments, dict):
        return [f"arguments must be an object, got {type(arguments).__name__}"]
    props = schema.get("properties", {})
    problems = [f"missing required argument '{k}'" for k in schema.get("required", []) if k not in arguments]
    if schema.get("additionalProperties") is False:
        problems += [f"unexpected argument '{k}'" for k in arguments if k not in props]
    for key, value in arguments.items():
        spec = props.get(key)
        if spec is None:
            continue
        kind = spec.get("type")
        ok_types = _TYPES.get(kind, (object,))
        if not isinstance(value, ok_types) or (kind in ("integer", "number") and isinstance(value, bool)):
            problems.append(f"argument '{key}' must be {kind}, got {type(value).__name__}")
            continue
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"argument '{key}' must be one of {spec['enum']}, got {value!r}")
        if "minimum" in spec and value < spec["minimum"]:
            problems.append(f"argument '{key}' must be at least {spec['minimum']}, got {value}")
        if "maximum" in spec and value > spec["maximum"]:
            problems.append(f"argument '{key}' must be at most {spec['maximum']}, got {value}")
    return problems


def observation(result: dict[str, Any]) -> str:
    """A tool result as the text the agent reads."""
    return json.dumps(result, ensure_ascii=False)


class Backend:
    """One episode's view of a domain: its own copy of the tables, and the tools acting on it."""

    def __init__(self, domain: Domain | str, tables: Tables):
        self.domain = DOMAINS[domain] if isinstance(domain, str) else domain
        self.db: Tables = {name: dict(rows) for name, rows in tables.items()}
        self.schemas = {t["name"]: t for t in self.domain.tools}

    def execute(self, name: str, arguments: Any) -> dict[str, Any]:
        """Run one tool call; the result, or {"error": why}. Never raises."""
        schema = self.schemas.get(name)
        if schema is None:
            return {"error": f"unknown tool '{name}'"}
        problems = validate(arguments, schema["parameters"])
        if problems:
            return {"error": "invalid arguments: " + "; ".join(problems)}
        try:
            return self.domain.impls[name](self.db, **arguments)
        except ToolError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # a tool bug must not end an episode; the agent sees it
            return {"error": f"internal error in {name}: {type(exc).__name__}"}

    def call(self, name: str, arguments: Any) -> str:
        return observation(self.execute(name, arguments))

    def state(self) -> Tables:
        return self.db
