"""Retail: orders of an online store (ShopLane)."""

from __future__ import annotations

import random

from thinkact.bench import ids
from thinkact.bench.procedures import (Act, Ask, Check, Confirm, Domain, Faq, Inform, Lookup, Procedure,
                                       Slot, ToolError, id_slot, tool)

SYSTEM = ("You are the support agent of ShopLane, an online store. Look up an order before acting "
          "on it. Only pending orders can be cancelled or change shipping speed (standard, express, "
          "overnight). Delivered orders can be returned unless they are final sale. Before a change, "
          "summarize it and ask the user to confirm; act only after a yes. Answer general questions "
          "without tools: shipping is free over $50, refunds take 5-7 business days, support is "
          "open 8am-8pm.")

ORDER_ID = {"type": "string", "description": "Order ID, e.g. K7Q2M9XA"}
TOOLS = [
    tool("get_order", "Look up an order by ID.", order_id=ORDER_ID),
    tool("list_orders", "List the orders of the account with this email.",
         email={"type": "string", "description": "Account email"}),
    tool("cancel_order", "Cancel a pending order.", order_id=ORDER_ID,
         reason={"type": "string", "enum": ["no_longer_needed", "ordered_by_mistake", "found_better_price"]}),
    tool("change_shipping", "Change the shipping speed of a pending order.", order_id=ORDER_ID,
         speed={"type": "string", "enum": ["standard", "express", "overnight"]}),
    tool("return_order", "Start the return of a delivered order.", order_id=ORDER_ID,
         reason={"type": "string", "enum": ["damaged", "wrong_item", "not_as_described", "changed_mind"]}),
]

# --------------------------------------------------------------------------- backend


def _order(db, order_id):
    rec = db["orders"].get(order_id)
    if rec is None:
        raise ToolError(f"order {order_id} not found")
    return rec


def _view(rec):
    return {k: v for k, v in rec.items() if k != "email"}


def get_order(db, order_id):
    return _view(_order(db, order_id))


def list_orders(db, email):
    if email not in db["users"]:
        raise ToolError(f"no account with email {email}")
    return {"email": email, "orders": [{"order_id": o["order_id"], "status": o["status"]}
                                       for o in db["orders"].values() if o["email"] == email]}


def cancel_order(db, order_id, reason):
    rec = _order(db, order_id)
    if rec["status"] != "pending":
        raise ToolError(f"order {order_id} is {rec['status']} and cannot be cancelled")
    db["orders"][order_id] = {**rec, "status": "cancelled", "cancel_reason": reason}
    return {"order_id": order_id, "status": "cancelled", "refund": rec["total"]}


def change_shipping(db, order_id, speed):
    rec = _order(db, order_id)
    if rec["status"] != "pending":
        raise ToolError(f"order {order_id} is {rec['status']}; shipping can no longer change")
    db["orders"][order_id] = {**rec, "shipping": speed}
    return {"order_id": order_id, "status": "pending", "shipping": speed}


def return_order(db, order_id, reason):
    rec = _order(db, order_id)
    if rec["status"] != "delivered" or rec["final_sale"]:
        raise ToolError(f"order {order_id} cannot be returned")
    db["orders"][order_id] = {**rec, "status": "return_started", "return_reason": reason}
    return {"order_id": order_id, "status": "return_started", "refund": rec["total"]}


PRODUCTS = (("wireless mouse", 24.99), ("desk lamp", 39.0), ("yoga mat", 29.5), ("coffee grinder", 54.0),
            ("running shoes", 89.95), ("phone case", 15.99), ("backpack", 64.0), ("water bottle", 18.5),
            ("bluetooth speaker", 49.99), ("notebook set", 12.0), ("rain jacket", 79.0),
            ("chef knife", 45.25), ("board game", 34.99), ("kettle", 42.0), ("headphones", 119.0),
            ("plant pot", 21.75), ("wool scarf", 27.0), ("cutting board", 19.99))
STATUSES = (("pending", 30), ("processing", 10), ("shipped", 20), ("delivered", 30), ("cancelled", 10))


def make_db(rng: random.Random, taken: set[str], n_users: int = 90, n_orders: int = 240):
    users = {}
    for _ in range(n_users):
        first = rng.choice(ids.FIRST_NAMES)
        mail = ids.email(rng, taken, first)
        users[mail] = {"email": mail, "name": f"{first} {rng.choice(ids.LAST_NAMES)}"}
    emails = list(users)
    orders = {}
    for _ in range(n_orders):
        oid = ids.code(rng, taken)
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        items = rng.sample(PRODUCTS, rng.randint(1, 3))
        rec = {"order_id": oid, "email": rng.choice(emails), "status": status,
               "items": [name for name, _ in items], "total": round(sum(p for _, p in items), 2),
               "shipping": rng.choice(("standard", "standard", "express", "overnight")),
               "final_sale": rng.random() < 0.25}
        if status in ("shipped", "delivered"):
            rec["tracking"] = ids.code(rng, taken, (12, 12))
        orders[oid] = rec
    return {"users": users, "orders": orders}


# --------------------------------------------------------------------------- slots

SLOTS = {s.name: s for s in (
    id_slot("order_id", "order ID", "Could you please give me the order ID?", ids.CODE, "orders",
            ("My order number is {order_id}.", "Order {order_id}.", "It's order {order_id}.",
             "The order is {order_id}.")),
    id_slot("email", "email", "What is the email address on your account?", ids.EMAIL, "users",
            ("My email is {email}.", "I signed up with {email}.", "Try {email}.",
             "It's registered under {email}.")),
    Slot("reason", "reason", "May I ask the reason for the cancellation?",
         values={"no_longer_needed": "you no longer need it", "ordered_by_mistake": "it was ordered by mistake",
                 "found_better_price": "you found a better price"},
         value_phrases={
             "no_longer_needed": ("I don't need it anymore.", "I no longer need it.", "I just don't want it anymore.",
                                  "The reason is that I don't need it any more."),
             "ordered_by_mistake": ("I ordered it by mistake.", "I placed it by accident.",
                                    "It was a mistake, I clicked the wrong button.", "The order was an accident."),
             "found_better_price": ("I found it cheaper somewhere else.", "I found a better price elsewhere.",
                                    "Another shop sells it for less.", "The price is better at another store.")}),
    Slot("speed", "shipping speed", "Which shipping speed would you like: standard, express or overnight?",
         values={"standard": "standard", "express": "express", "overnight": "overnight"},
         value_phrases={
             "standard": ("Standard shipping is fine.", "Make it standard.", "Let's go with standard shipping.",
                          "Just standard, please."),
             "express": ("Express, please.", "I'd like express shipping.", "Make it express.",
                         "Upgrade it to express shipping."),
             "overnight": ("Overnight, please.", "I need overnight shipping.", "Make it overnight.",
                           "Can it go overnight instead?")}),
    Slot("return_reason", "reason for the return", "What is the reason for the return?",
         values={"damaged": "it arrived damaged", "wrong_item": "you received the wrong item",
                 "not_as_described": "it is not as described", "changed_mind": "you changed your mind"},
         value_phrases={
             "damaged": ("It arrived damaged.", "The box was crushed and it's broken.", "It came broken."),
             "wrong_item": ("You sent me the wrong item.", "I received something I didn't order.",
                            "It's the wrong product."),
             "not_as_described": ("It doesn't match the description.", "It's not what the listing showed.",
                                  "It looks nothing like the pictures."),
             "changed_mind": ("I changed my mind about it.", "I just don't like it.",
                              "Honestly, I decided I don't want it.")}),
)}

# --------------------------------------------------------------------------- procedures


def _track(s):
    o = s["order"]
    return {"pending": f"Order {o['order_id']} is pending: it has not shipped yet and will go out with "
                       f"{o['shipping']} shipping.",
            "processing": f"Order {o['order_id']} is processing and will ship soon.",
            "shipped": f"Order {o['order_id']} has shipped. The tracking number is {o.get('tracking')}.",
            "delivered": f"Order {o['order_id']} was delivered. The tracking number is {o.get('tracking')}.",
            "cancelled": f"Order {o['order_id']} was cancelled, so it will not ship.",
            }.get(o["status"], f"Order {o['order_id']} is {o['status']}.")


def _list(s):
    orders = s["orders"]["orders"]
    if not orders:
        return f"There are no orders on the account {s['email']}."
    listed = ", ".join(f"{o['order_id']} ({o['status']})" for o in orders)
    return f"I found {len(orders)} order{'s' if len(orders) > 1 else ''} on {s['email']}: {listed}."


def _first_listed(s):
    orders = s["orders"]["orders"]
    return orders[0]["order_id"] if orders else "no orders"


FIND_ORDER = Lookup("get_order", {"order_id": "order_id"}, "order",
                    "I couldn't find an order with ID {order_id}. Could you double-check the order ID?")
PENDING = "only pending orders can be cancelled or change shipping"

PROCEDURES = (
    Procedure("track_order", "retail", "check the status of an order", (
        "Where is my order?", "I'd like to check the status of my order.", "Can you tell me where my package is?",
        "I want to track an order.", "Has my order shipped yet?", "I'm waiting for a delivery and want an update.",
        "What's the status of order {order_id}?", "Can you track order {order_id} for me?",
        "I'd like an update on order {order_id}."),
        (Ask("order_id"), FIND_ORDER, Inform(_track)),
        outputs=("{order[status]}",)),
    Procedure("cancel_order", "retail", "cancel an order", (
        "I want to cancel an order.", "Can you help me cancel my order?", "Please cancel one of my orders.",
        "I need to cancel something I ordered.", "I'd like to cancel my recent purchase.",
        "Please cancel order {order_id}.", "I need to cancel order {order_id}.",
        "Can I still cancel order {order_id}?"),
        (Ask("order_id"), FIND_ORDER,
         Check(PENDING, lambda s: s["order"]["status"] == "pending",
               "I'm sorry, order {order_id} is {order[status]}, and only pending orders can be cancelled."),
         Ask("reason"),
         Confirm("To confirm: you want to cancel order {order_id} (${order[total]:.2f}) because "
                 "{reason_text}. Shall I go ahead?",
                 "Okay, I won't cancel it. Order {order_id} stays as it is."),
         Act("cancel_order", {"order_id": "order_id", "reason": "reason"}, "result"),
         Inform("Order {order_id} is cancelled. The refund of ${result[refund]:.2f} will reach you "
                "in 5-7 business days."))),
    Procedure("change_shipping", "retail", "change the shipping speed of an order", (
        "I want to change the shipping speed of my order.", "Can I get faster shipping on my order?",
        "I'd like to upgrade the shipping on an order.", "Is it possible to change how my order ships?",
        "I need my order to arrive sooner.", "Can you change the shipping on order {order_id}?",
        "I want to change the delivery speed for order {order_id}."),
        (Ask("order_id"), FIND_ORDER,
         Check(PENDING, lambda s: s["order"]["status"] == "pending",
               "I'm sorry, order {order_id} is {order[status]}, and only pending orders can change shipping speed."),
         Ask("speed"),
         Check("the new speed must differ from the current one", lambda s: s["order"]["shipping"] != s["speed"],
               "Order {order_id} already ships with {speed} shipping, so there is nothing to change."),
         Confirm("To confirm: you want order {order_id} to ship {speed} instead of {order[shipping]}. "
                 "Shall I go ahead?", "Okay, I'll leave the shipping of order {order_id} unchanged."),
         Act("change_shipping", {"order_id": "order_id", "speed": "speed"}, "result"),
         Inform("Done! Order {order_id} will now ship {result[shipping]}."))),
    Procedure("return_order", "retail", "return an order", (
        "I want to return an order.", "I'd like to send something back.", "How do I return my order?",
        "I need to return an item I received.", "Can you start a return for me?",
        "I want to return order {order_id}.", "Please start a return for order {order_id}."),
        (Ask("order_id"), FIND_ORDER,
         Check("only delivered orders can be returned", lambda s: s["order"]["status"] == "delivered",
               "I'm sorry, order {order_id} is {order[status]}; only delivered orders can be returned."),
         Check("final sale orders cannot be returned", lambda s: not s["order"]["final_sale"],
               "I'm sorry, order {order_id} was a final sale, so it cannot be returned."),
         Ask("return_reason"),
         Confirm("To confirm: you want to return order {order_id} because {return_reason_text}, for a "
                 "refund of ${order[total]:.2f}. Shall I go ahead?",
                 "Okay, I won't start a return for order {order_id}."),
         Act("return_order", {"order_id": "order_id", "reason": "return_reason"}, "result"),
         Inform("The return for order {order_id} has started. You'll get ${result[refund]:.2f} back "
                "within 5-7 business days after we receive it."))),
    Procedure("list_orders", "retail", "list the orders on an account", (
        "Can you list all my orders?", "I'd like to see the orders on my account.",
        "Which orders do I have with you?", "I forgot my order number, can you find my orders?",
        "Can you show the orders for {email}?", "What orders are on the account {email}?"),
        (Ask("email"),
         Lookup("list_orders", {"email": "email"}, "orders",
                "I couldn't find an account with the email {email}. Could you double-check the email?"),
         Inform(_list)),
        split="ood", outputs=(_first_listed,)),
)

FAQS = (
    Faq("shipping_cost", ("Do you offer free shipping?", "By the way, how much is shipping?",
                          "Is shipping free?", "Also, what do you charge for shipping?"),
        "Shipping is free on orders over $50."),
    Faq("refund_time", ("How long do refunds take?", "By the way, when do refunds usually arrive?",
                        "How long until I'd get my money back on a refund?"),
        "Refunds take 5-7 business days to reach your account."),
    Faq("support_hours", ("What are your support hours?", "When is your support team available?",
                          "Quick question: are you open on weekends?"),
        "Our support is open every day from 8am to 8pm."),
)

DOMAIN = Domain(name="retail", system=SYSTEM, tools=TOOLS,
                impls={"get_order": get_order, "list_orders": list_orders, "cancel_order": cancel_order,
                       "change_shipping": change_shipping, "return_order": return_order},
                slots=SLOTS, procedures=PROCEDURES, faqs=FAQS, make_db=make_db, entity="orders")
