import json

from hypothesis import given, settings, strategies as st

from thinkact.bench.backend import SPLITS, Backend, database, validate
from thinkact.bench.domains import DOMAINS


def backend(domain="retail", split="train"):
    return Backend(domain, database(domain, split, 0))


def some_order(b, status):
    return next(o for o in b.db["orders"].values() if o["status"] == status)


def test_bad_calls_are_error_observations():
    b = backend()
    oid = some_order(b, "pending")["order_id"]
    cases = [
        ("drop_tables", {}, "unknown tool"),
        ("get_order", {}, "missing required argument 'order_id'"),
        ("get_order", {"order_id": 123}, "must be string"),
        ("get_order", {"order_id": oid, "force": True}, "unexpected argument 'force'"),
        ("cancel_order", {"order_id": oid, "reason": "boredom"}, "must be one of"),
        ("get_order", ["order_id"], "arguments must be an object"),
        ("get_order", {"order_id": "__import__('os').system('ls')"}, "not found"),
    ]
    for name, args, why in cases:
        obs = json.loads(b.call(name, args))
        assert set(obs) == {"error"} and why in obs["error"], (name, args, obs)
    assert b.db["orders"][oid]["status"] == "pending"  # nothing changed


def test_integer_ranges_and_bools():
    b = backend("airline")
    code = next(r["reservation_code"] for r in b.db["reservations"].values()
                if r["status"] == "booked" and r["bags"] == 0)
    assert "at most 3" in b.execute("add_bags", {"reservation_code": code, "bags": 4})["error"]
    assert "must be integer" in b.execute("add_bags", {"reservation_code": code, "bags": True})["error"]
    assert "must be integer" in b.execute("add_bags", {"reservation_code": code, "bags": "2"})["error"]
    assert b.execute("add_bags", {"reservation_code": code, "bags": 2}) == {"reservation_code": code, "bags": 2, "fee": 70}
    # the policy is enforced by the backend too
    assert "at most 3" in b.execute("add_bags", {"reservation_code": code, "bags": 2})["error"]


def test_validate_accepts_good_arguments():
    schema = DOMAINS["account"].tools[4]["parameters"]  # pause_subscription
    assert validate({"email": "a@b.io", "months": 2}, schema) == []
    assert validate({"email": "a@b.io", "months": 0}, schema) == ["argument 'months' must be at least 1, got 0"]


def test_backends_are_isolated_and_base_is_unchanged():
    base = database("retail", "train", 0)
    oid = next(k for k, o in base["orders"].items() if o["status"] == "pending")
    a, b = Backend("retail", base), Backend("retail", base)
    assert a.execute("cancel_order", {"order_id": oid, "reason": "ordered_by_mistake"})["status"] == "cancelled"
    assert a.db["orders"][oid]["status"] == "cancelled"
    assert b.db["orders"][oid]["status"] == "pending" and base["orders"][oid]["status"] == "pending"
    assert "cannot be cancelled" in a.execute("cancel_order", {"order_id": oid, "reason": "ordered_by_mistake"})["error"]


def test_identifiers_are_random_and_split_disjoint():
    for domain in DOMAINS:
        keys = {s: {k for t in database(domain, s, 0).values() for k in t} for s in SPLITS}
        assert not keys["train"] & keys["test"] and not keys["train"] & keys["ood"] and not keys["test"] & keys["ood"]
    orders = list(database("retail", "train", 0)["orders"])
    assert len({len(o) for o in orders}) > 1 and all(6 <= len(o) <= 12 and o.isalnum() for o in orders)
    assert database("retail", "train", 0) is database("retail", "train", 0)
    assert set(database("retail", "train", 1)["orders"]) != set(orders)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(domain=st.sampled_from(sorted(DOMAINS)), name=st.one_of(st.text(max_size=20), st.sampled_from(
    [t["name"] for d in DOMAINS.values() for t in d.tools])), args=st.one_of(json_values, st.dictionaries(
        st.sampled_from(["order_id", "email", "reason", "bags", "cabin", "months", "plan", "invoice_id",
                         "reservation_code", "speed", "meal", "flight_number", "x"]), json_values, max_size=3)))
def test_backend_never_raises(domain, name, args):
    obs = json.loads(Backend(domain, database(domain, "test", 0)).call(name, args))
    assert isinstance(obs, dict)
