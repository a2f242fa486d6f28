"""Airline: flight reservations of SkyBridge Airways."""

from __future__ import annotations

import random

from thinkact.bench import ids
from thinkact.bench.procedures import (Act, Ask, Check, Confirm, Domain, Faq, Inform, Lookup, Procedure,
                                       Slot, ToolError, id_slot, tool)

SYSTEM = ("You are the support agent of SkyBridge Airways. Look up a reservation before changing "
          "it; only booked reservations can change. Flexible fares, or fares with insurance, can be "
          "cancelled. A reservation holds at most 3 checked bags, $35 each. Upgrades go only to a "
          "higher cabin (economy < premium < business). Confirm every change before acting. Answer "
          "general questions without tools: carry-on up to 8 kg, check-in opens 24 hours before "
          "departure.")

CODE = {"type": "string", "description": "Reservation code, e.g. 4KX9TQ"}
CABINS = ["economy", "premium", "business"]
MEALS = ["vegetarian", "vegan", "gluten_free", "kosher", "halal"]
TOOLS = [
    tool("get_reservation", "Look up a reservation by code.", reservation_code=CODE),
    tool("get_flight_status", "Get the live status of a flight.",
         flight_number={"type": "string", "description": "Flight number, e.g. SB482"}),
    tool("cancel_reservation", "Cancel a reservation and refund it.", reservation_code=CODE),
    tool("add_bags", "Add checked bags to a reservation.", reservation_code=CODE,
         bags={"type": "integer", "minimum": 1, "maximum": 3}),
    tool("upgrade_cabin", "Move a reservation to a higher cabin.", reservation_code=CODE,
         cabin={"type": "string", "enum": CABINS}),
    tool("set_meal", "Request a special meal for a reservation.", reservation_code=CODE,
         meal={"type": "string", "enum": MEALS}),
]

# --------------------------------------------------------------------------- backend


def _res(db, code):
    rec = db["reservations"].get(code)
    if rec is None:
        raise ToolError(f"reservation {code} not found")
    return rec


def _booked(rec):
    if rec["status"] != "booked":
        raise ToolError(f"reservation {rec['reservation_code']} is {rec['status']}")


def get_reservation(db, reservation_code):
    return {k: v for k, v in _res(db, reservation_code).items() if k != "refund"}


def get_flight_status(db, flight_number):
    rec = db["flights"].get(flight_number)
    if rec is None:
        raise ToolError(f"flight {flight_number} not found")
    return dict(rec)


def cancel_reservation(db, reservation_code):
    rec = _res(db, reservation_code)
    _booked(rec)
    if rec["fare"] != "flexible" and not rec["insurance"]:
        raise ToolError("basic fares without insurance cannot be cancelled")
    db["reservations"][reservation_code] = {**rec, "status": "cancelled"}
    return {"reservation_code": reservation_code, "status": "cancelled", "refund": rec["price"]}


def add_bags(db, reservation_code, bags):
    rec = _res(db, reservation_code)
    _booked(rec)
    if rec["bags"] + bags > 3:
        raise ToolError("a reservation holds at most 3 checked bags")
    db["reservations"][reservation_code] = {**rec, "bags": rec["bags"] + bags}
    return {"reservation_code": reservation_code, "bags": rec["bags"] + bags, "fee": 35 * bags}


def upgrade_cabin(db, reservation_code, cabin):
    rec = _res(db, reservation_code)
    _booked(rec)
    if CABINS.index(cabin) <= CABINS.index(rec["cabin"]):
        raise ToolError(f"{cabin} is not higher than {rec['cabin']}")
    db["reservations"][reservation_code] = {**rec, "cabin": cabin}
    return {"reservation_code": reservation_code, "cabin": cabin}


def set_meal(db, reservation_code, meal):
    rec = _res(db, reservation_code)
    _booked(rec)
    db["reservations"][reservation_code] = {**rec, "meal": meal}
    return {"reservation_code": reservation_code, "meal": meal}


CITIES = ("Boston", "Denver", "Lisbon", "Madrid", "Chicago", "Toronto", "Seattle", "Dublin",
          "Austin", "Berlin", "Miami", "Oslo", "Paris", "Vancouver", "Atlanta", "Rome")
FLIGHT_STATUS = ("on time", "on time", "on time", "delayed", "boarding", "cancelled", "landed")
RES_STATUS = (("booked", 75), ("cancelled", 10), ("flown", 15))


def make_db(rng: random.Random, taken: set[str], n_flights: int = 60, n_res: int = 240):
    flights = {}
    for _ in range(n_flights):
        num = ids.flight_number(rng, taken)
        a, b = rng.sample(CITIES, 2)
        status = rng.choice(FLIGHT_STATUS)
        rec = {"flight_number": num, "origin": a, "destination": b,
               "departure": f"{rng.randint(5, 22):02d}:{rng.choice(('00', '15', '30', '45'))}",
               "status": status}
        if status == "delayed":
            rec["delay_minutes"] = rng.choice((20, 35, 45, 60, 90, 120))
        if status in ("on time", "delayed", "boarding"):
            rec["gate"] = f"{rng.choice('ABCDE')}{rng.randint(1, 40)}"
        flights[num] = rec
    nums = list(flights)
    res = {}
    for _ in range(n_res):
        code = ids.code(rng, taken, (6, 6))
        f = flights[rng.choice(nums)]
        res[code] = {"reservation_code": code,
                     "passenger": f"{rng.choice(ids.FIRST_NAMES)} {rng.choice(ids.LAST_NAMES)}",
                     "flight_number": f["flight_number"], "origin": f["origin"],
                     "destination": f["destination"], "date": f"2026-{rng.randint(7, 9):02d}-{rng.randint(1, 28):02d}",
                     "cabin": rng.choices(CABINS, (60, 25, 15))[0],
                     "fare": rng.choice(("basic", "flexible")), "insurance": rng.random() < 0.3,
                     "bags": rng.choices((0, 1, 2, 3), (35, 35, 20, 10))[0],
                     "meal": "standard", "price": round(rng.uniform(120, 900), 2),
                     "status": rng.choices([s for s, _ in RES_STATUS], [w for _, w in RES_STATUS])[0]}
    return {"flights": flights, "reservations": res}


# --------------------------------------------------------------------------- slots

NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def _bags(n):
    w, s = NUMBER_WORDS[n], "s" if n > 1 else ""
    return (f"{n} bag{s}, please.", f"I'd like to add {w} bag{s}.", f"Just {w} checked bag{s}.",
            f"Let's do {n} bag{s}.", f"Add {w} bag{s}.")


SLOTS = {s.name: s for s in (
    id_slot("reservation_code", "reservation code", "Could you give me your reservation code?", ids.CODE,
            "reservations",
            ("My booking reference is {reservation_code}.", "The booking code is {reservation_code}.",
             "Reservation {reservation_code}.", "The confirmation code is {reservation_code}.")),
    id_slot("flight_number", "flight number", "What is the flight number?", ids.FLIGHT, "flights",
            ("It's flight {flight_number}.", "I'm on flight {flight_number}.", "Flight {flight_number}.")),
    Slot("bags", "bags", "How many checked bags would you like to add?",
         values={n: f"{n} checked bag{'s' if n > 1 else ''}" for n in (1, 2, 3)},
         value_phrases={n: _bags(n) for n in (1, 2, 3)}),
    Slot("cabin", "cabin", "Which cabin would you like to move to: premium or business?",
         values={c: c for c in CABINS},
         value_phrases={
             "economy": ("Economy is fine.", "Let's say economy."),
             "premium": ("Premium, please.", "I'd like premium.", "Move me to premium.",
                         "Premium economy would be great."),
             "business": ("Business, please.", "I'd like business class.", "Move me to business.",
                          "Let's go all the way to business class.")}),
    Slot("meal", "meal", "Which special meal would you like: vegetarian, vegan, gluten-free, kosher or halal?",
         values={"vegetarian": "vegetarian", "vegan": "vegan", "gluten_free": "gluten-free",
                 "kosher": "kosher", "halal": "halal"},
         value_phrases={
             "vegetarian": ("Vegetarian, please.", "I'd like the vegetarian meal."),
             "vegan": ("Vegan, please.", "I need a vegan meal."),
             "gluten_free": ("Gluten-free, please.", "I need a gluten-free meal."),
             "kosher": ("Kosher, please.", "I'd like a kosher meal."),
             "halal": ("Halal, please.", "I'd like a halal meal.")}),
)}

# --------------------------------------------------------------------------- procedures


def _status(s):
    f = s["flight"]
    head = f"Flight {f['flight_number']} from {f['origin']} to {f['destination']}"
    return {"on time": f"{head} is on time, departing at {f['departure']} from gate {f.get('gate')}.",
            "delayed": f"{head} is delayed by {f.get('delay_minutes')} minutes; it was scheduled for "
                       f"{f['departure']} at gate {f.get('gate')}.",
            "boarding": f"{head} is boarding now at gate {f.get('gate')}.",
            "cancelled": f"{head} is cancelled. I'm sorry about that.",
            "landed": f"{head} has landed."}.get(f["status"], f"{head} is {f['status']}.")


FIND = Lookup("get_reservation", {"reservation_code": "reservation_code"}, "reservation",
              "I couldn't find a reservation with code {reservation_code}. Could you double-check the "
              "reservation code?")
BOOKED = Check("only booked reservations can change", lambda s: s["reservation"]["status"] == "booked",
               "I'm sorry, reservation {reservation_code} is {reservation[status]}, so it can no longer "
               "be changed.")
RANK = {c: i for i, c in enumerate(CABINS)}

PROCEDURES = (
    Procedure("flight_status", "airline", "check the status of a flight", (
        "Is my flight on time?", "Can you check the status of my flight?", "I want to know if my flight is delayed.",
        "What's the latest on my flight?", "Could you look up a flight for me?",
        "Is flight {flight_number} on time?", "What's the status of flight {flight_number}?"),
        (Ask("flight_number"),
         Lookup("get_flight_status", {"flight_number": "flight_number"}, "flight",
                "I couldn't find flight {flight_number}. Could you double-check the flight number?"),
         Inform(_status)),
        outputs=("{flight[status]}",)),
    Procedure("cancel_reservation", "airline", "cancel a reservation", (
        "I need to cancel my flight.", "I want to cancel a reservation.", "Can you cancel my booking?",
        "My plans changed and I can't travel anymore.", "Please cancel my trip.",
        "Please cancel reservation {reservation_code}.", "I want to cancel booking {reservation_code}."),
        (Ask("reservation_code"), FIND, BOOKED,
         Check("basic fares without insurance cannot be cancelled",
               lambda s: s["reservation"]["fare"] == "flexible" or s["reservation"]["insurance"],
               "I'm sorry, reservation {reservation_code} is a basic fare without insurance, so it cannot "
               "be cancelled."),
         Confirm("To confirm: you want to cancel reservation {reservation_code}, {reservation[origin]} to "
                 "{reservation[destination]} on {reservation[date]}, for a refund of ${reservation[price]:.2f}. "
                 "Shall I go ahead?", "Okay, I won't cancel it. Reservation {reservation_code} stays booked."),
         Act("cancel_reservation", {"reservation_code": "reservation_code"}, "result"),
         Inform("Reservation {reservation_code} is cancelled. ${result[refund]:.2f} will be refunded to "
                "your original payment method."))),
    Procedure("add_bags", "airline", "add checked bags to a reservation", (
        "I'd like to add checked bags to my booking.", "Can I add luggage to my reservation?",
        "I need to check in an extra bag.", "How do I add a suitcase to my flight?",
        "I want to add bags to reservation {reservation_code}.",
        "Can you add luggage to booking {reservation_code}?"),
        (Ask("reservation_code"), FIND, BOOKED, Ask("bags"),
         Check("a reservation holds at most 3 checked bags", lambda s: s["reservation"]["bags"] + s["bags"] <= 3,
               "I'm sorry, reservation {reservation_code} already has {reservation[bags]} checked bags, and "
               "a reservation holds at most 3."),
         Confirm("To confirm: you want to add {bags_text} to reservation {reservation_code}, at $35 each. "
                 "Shall I go ahead?", "Okay, I won't add any bags to reservation {reservation_code}."),
         Act("add_bags", {"reservation_code": "reservation_code", "bags": "bags"}, "result"),
         Inform("Done! Reservation {reservation_code} now has {result[bags]} checked bags; the fee is "
                "${result[fee]}."))),
    Procedure("upgrade_cabin", "airline", "upgrade the cabin of a reservation", (
        "I'd like to upgrade my seat.", "Can I upgrade to a better cabin?", "I want to fly in a higher class.",
        "Is an upgrade possible on my booking?", "I want to upgrade reservation {reservation_code}.",
        "Can you upgrade booking {reservation_code} for me?"),
        (Ask("reservation_code"), FIND, BOOKED, Ask("cabin"),
         Check("upgrades go only to a higher cabin", lambda s: RANK[s["cabin"]] > RANK[s["reservation"]["cabin"]],
               "I'm sorry, reservation {reservation_code} is already in {reservation[cabin]}, and upgrades go "
               "only to a higher cabin."),
         Confirm("To confirm: you want to move reservation {reservation_code} from {reservation[cabin]} to "
                 "{cabin}; the fare difference will be charged. Shall I go ahead?",
                 "Okay, reservation {reservation_code} stays in {reservation[cabin]}."),
         Act("upgrade_cabin", {"reservation_code": "reservation_code", "cabin": "cabin"}, "result"),
         Inform("Done! Reservation {reservation_code} is now in {result[cabin]}."))),
    Procedure("special_meal", "airline", "request a special meal", (
        "I'd like to request a special meal.", "Can I get a special meal on my flight?",
        "I have dietary needs for my flight.", "I need a different meal on my flight.",
        "Can you add a special meal to reservation {reservation_code}?"),
        (Ask("reservation_code"), FIND, BOOKED, Ask("meal"),
         Confirm("To confirm: you want a {meal_text} meal on reservation {reservation_code}. Shall I go ahead?",
                 "Okay, I won't change the meal on reservation {reservation_code}."),
         Act("set_meal", {"reservation_code": "reservation_code", "meal": "meal"}, "result"),
         Inform("Done! A {meal_text} meal is booked on reservation {reservation_code}.")),
        split="ood"),
)

FAQS = (
    Faq("carry_on", ("How heavy can my carry-on be?", "By the way, what's the carry-on weight limit?",
                     "Is there a weight limit for cabin bags?"),
        "Carry-on bags can weigh up to 8 kg."),
    Faq("checkin", ("When does online check-in open?", "By the way, when can I check in?",
                    "How early can I check in online?"),
        "Online check-in opens 24 hours before departure."),
)

DOMAIN = Domain(name="airline", system=SYSTEM, tools=TOOLS,
                impls={"get_reservation": get_reservation, "get_flight_status": get_flight_status,
                       "cancel_reservation": cancel_reservation, "add_bags": add_bags,
                       "upgrade_cabin": upgrade_cabin, "set_meal": set_meal},
                slots=SLOTS, procedures=PROCEDURES, faqs=FAQS, make_db=make_db, entity="reservations")
