"""Account and subscription support of a video streaming service (StreamBox)."""

from __future__ import annotations

import random

from thinkact.bench import ids
from thinkact.bench.procedures import (Act, Ask, Check, Confirm, Domain, Faq, Inform, Lookup, Procedure,
                                       Slot, ToolError, id_slot, tool)

SYSTEM = ("You are the support agent of StreamBox, a streaming service. Look up the account (by "
          "email) or invoice before acting. Plans: basic $8, standard $13, premium $18 a month. Only "
          "active accounts can change plan or pause, for at most 3 months. Locked accounts must "
          "verify by phone: never reset or cancel them. Only paid invoices can be refunded. Confirm "
          "changes before acting, except password resets. Answer general questions without tools: "
          "up to 4 screens, downloads last 30 days.")

EMAIL = {"type": "string", "description": "Account email"}
PLANS = {"basic": 8, "standard": 13, "premium": 18}
TOOLS = [
    tool("get_account", "Look up an account by email.", email=EMAIL),
    tool("get_invoice", "Look up an invoice by ID.",
         invoice_id={"type": "string", "description": "Invoice ID, e.g. X4T7Q2WB9K"}),
    tool("change_plan", "Switch an active account to another plan.", email=EMAIL,
         plan={"type": "string", "enum": list(PLANS)}),
    tool("cancel_subscription", "Cancel the subscription of an account.", email=EMAIL),
    tool("pause_subscription", "Pause an active subscription.", email=EMAIL,
         months={"type": "integer", "minimum": 1, "maximum": 12}),
    tool("refund_invoice", "Refund a paid invoice.",
         invoice_id={"type": "string", "description": "Invoice ID"}),
    tool("reset_password", "Email a password reset link.", email=EMAIL),
]

# --------------------------------------------------------------------------- backend


def _account(db, email):
    rec = db["accounts"].get(email)
    if rec is None:
        raise ToolError(f"no account with email {email}")
    return rec


def get_account(db, email):
    return dict(_account(db, email))


def get_invoice(db, invoice_id):
    rec = db["invoices"].get(invoice_id)
    if rec is None:
        raise ToolError(f"invoice {invoice_id} not found")
    return dict(rec)


def change_plan(db, email, plan):
    rec = _account(db, email)
    if rec["status"] != "active":
        raise ToolError(f"account is {rec['status']}")
    db["accounts"][email] = {**rec, "plan": plan}
    return {"email": email, "plan": plan, "monthly_price": PLANS[plan]}


def cancel_subscription(db, email):
    rec = _account(db, email)
    if rec["status"] in ("cancelled", "locked"):
        raise ToolError(f"account is {rec['status']}")
    db["accounts"][email] = {**rec, "status": "cancelled"}
    return {"email": email, "status": "cancelled", "access_until": rec["renews_on"]}


def pause_subscription(db, email, months):
    rec = _account(db, email)
    if rec["status"] != "active":
        raise ToolError(f"account is {rec['status']}")
    if months > 3:
        raise ToolError("a pause lasts at most 3 months")
    db["accounts"][email] = {**rec, "status": "paused", "paused_months": months}
    return {"email": email, "status": "paused", "months": months}


def refund_invoice(db, invoice_id):
    rec = db["invoices"].get(invoice_id)
    if rec is None:
        raise ToolError(f"invoice {invoice_id} not found")
    if rec["status"] != "paid":
        raise ToolError(f"invoice {invoice_id} is {rec['status']}")
    db["invoices"][invoice_id] = {**rec, "status": "refunded"}
    return {"invoice_id": invoice_id, "status": "refunded", "amount": rec["amount"]}


def reset_password(db, email):
    rec = _account(db, email)
    if rec["status"] == "locked":
        raise ToolError("account is locked")
    db["accounts"][email] = {**rec, "password_resets": rec.get("password_resets", 0) + 1}
    return {"email": email, "reset_link_sent": True}


ACCOUNT_STATUS = (("active", 60), ("paused", 12), ("cancelled", 14), ("locked", 14))
INVOICE_STATUS = (("paid", 65), ("refunded", 20), ("failed", 15))
MONTHS = ("January", "February", "March", "April", "May", "June")


def make_db(rng: random.Random, taken: set[str], n_accounts: int = 200, n_invoices: int = 240):
    accounts = {}
    for _ in range(n_accounts):
        first = rng.choice(ids.FIRST_NAMES)
        mail = ids.email(rng, taken, first)
        accounts[mail] = {"email": mail, "name": f"{first} {rng.choice(ids.LAST_NAMES)}",
                          "plan": rng.choice(list(PLANS)),
                          "status": rng.choices([s for s, _ in ACCOUNT_STATUS], [w for _, w in ACCOUNT_STATUS])[0],
                          "renews_on": f"2026-07-{rng.randint(1, 28):02d}"}
    emails = list(accounts)
    invoices = {}
    for _ in range(n_invoices):
        iid = ids.code(rng, taken, (10, 12))
        owner = accounts[rng.choice(emails)]
        invoices[iid] = {"invoice_id": iid, "email": owner["email"], "month": rng.choice(MONTHS),
                         "amount": PLANS[owner["plan"]],
                         "status": rng.choices([s for s, _ in INVOICE_STATUS], [w for _, w in INVOICE_STATUS])[0]}
    return {"accounts": accounts, "invoices": invoices}


# --------------------------------------------------------------------------- slots


def _months(n):
    s = "s" if n > 1 else ""
    w = {1: "one", 2: "two", 3: "three", 6: "six"}[n]
    return (f"{n} month{s}, please.", f"For {w} month{s}.", f"Let's pause it for {w} month{s}.",
            f"I'd like {n} month{s}.")


SLOTS = {s.name: s for s in (
    id_slot("email", "email", "What is the email address on your account?", ids.EMAIL, "accounts",
            ("My email is {email}.", "I signed up with {email}.", "The account is {email}.",
             "It's registered under {email}.", "My login is {email}.")),
    id_slot("invoice_id", "invoice ID", "Could you give me the invoice ID?", ids.CODE, "invoices",
            ("The invoice number is {invoice_id}.", "Invoice {invoice_id}.", "It's invoice {invoice_id}.")),
    Slot("plan", "plan", "Which plan would you like to switch to: basic, standard or premium?",
         values={p: f"{p} (${price} a month)" for p, price in PLANS.items()},
         value_phrases={
             "basic": ("The basic plan, please.", "Switch me to basic.", "I'd like the cheapest plan, basic.",
                       "Basic is enough for me."),
             "standard": ("The standard plan, please.", "Switch me to standard.", "Standard sounds right.",
                          "Let's go with standard."),
             "premium": ("The premium plan, please.", "Switch me to premium.", "I want premium.",
                         "Let's go with premium.")}),
    Slot("months", "months", "How many months would you like to pause for?",
         values={n: f"{n} month{'s' if n > 1 else ''}" for n in (1, 2, 3, 6)},
         value_phrases={n: _months(n) for n in (1, 2, 3, 6)}),
)}

# --------------------------------------------------------------------------- procedures

FIND = Lookup("get_account", {"email": "email"}, "account",
              "I couldn't find an account with the email {email}. Could you double-check the email?")
ACTIVE = Check("only active accounts can change plan or pause", lambda s: s["account"]["status"] == "active",
               "I'm sorry, the account {email} is {account[status]}; only active accounts can change plan "
               "or pause.")
NOT_LOCKED = Check("locked accounts must verify by phone first", lambda s: s["account"]["status"] != "locked",
                   "I'm sorry, the account {email} is locked. Please call us to verify your identity first.")

PROCEDURES = (
    Procedure("change_plan", "account", "change the plan of an account", (
        "I want to change my plan.", "Can I switch to a different subscription plan?",
        "I'd like to change my subscription.", "Can you move me to another plan?",
        "I'd like to change the plan on {email}.", "Please change the plan for my account {email}."),
        (Ask("email"), FIND, ACTIVE, Ask("plan"),
         Check("the new plan must differ from the current one", lambda s: s["account"]["plan"] != s["plan"],
               "The account {email} is already on the {plan} plan, so there is nothing to change."),
         Confirm("To confirm: you want to switch {email} from {account[plan]} to {plan_text}. "
                 "Shall I go ahead?", "Okay, the account {email} stays on {account[plan]}."),
         Act("change_plan", {"email": "email", "plan": "plan"}, "result"),
         Inform("Done! {email} is now on the {result[plan]} plan at ${result[monthly_price]} a month."))),
    Procedure("cancel_subscription", "account", "cancel a subscription", (
        "I want to cancel my subscription.", "Please cancel my StreamBox membership.",
        "I'd like to stop my subscription.", "How do I cancel my account?",
        "Please cancel the subscription for {email}.", "I want to cancel my account {email}."),
        (Ask("email"), FIND,
         Check("a cancelled account cannot be cancelled again", lambda s: s["account"]["status"] != "cancelled",
               "The subscription of {email} is already cancelled, so there is nothing more to do."),
         NOT_LOCKED,
         Confirm("To confirm: you want to cancel the subscription of {email}. Shall I go ahead?",
                 "Okay, I won't cancel it. The subscription of {email} continues."),
         Act("cancel_subscription", {"email": "email"}, "result"),
         Inform("The subscription of {email} is cancelled. You keep access until {result[access_until]}."))),
    Procedure("refund_invoice", "account", "refund an invoice", (
        "I'd like a refund for an invoice.", "I was charged and want my money back.",
        "Can you refund a charge on my account?", "I want to dispute an invoice.",
        "Please refund invoice {invoice_id}.", "I need a refund for invoice {invoice_id}."),
        (Ask("invoice_id"),
         Lookup("get_invoice", {"invoice_id": "invoice_id"}, "invoice",
                "I couldn't find invoice {invoice_id}. Could you double-check the invoice ID?"),
         Check("only paid invoices can be refunded", lambda s: s["invoice"]["status"] == "paid",
               "I'm sorry, invoice {invoice_id} is {invoice[status]}; only paid invoices can be refunded."),
         Confirm("To confirm: you want a refund of ${invoice[amount]} for invoice {invoice_id} "
                 "({invoice[month]}). Shall I go ahead?", "Okay, I won't refund invoice {invoice_id}."),
         Act("refund_invoice", {"invoice_id": "invoice_id"}, "result"),
         Inform("Invoice {invoice_id} is refunded: ${result[amount]} will be back on your card in a few days."))),
    Procedure("reset_password", "account", "reset the password of an account", (
        "I forgot my password.", "I can't log in to my account.", "I need to reset my password.",
        "My password isn't working anymore.", "Can you send me a password reset link?",
        "I can't sign in to {email}.", "Please reset the password for {email}."),
        (Ask("email"), FIND, NOT_LOCKED,
         Act("reset_password", {"email": "email"}, "result"),
         Inform("I've sent a password reset link to {email}. It's valid for one hour."))),
    Procedure("pause_subscription", "account", "pause a subscription", (
        "I'd like to pause my subscription.", "Can I put my membership on hold?",
        "I'm traveling and want to pause my account.", "Can I take a break from my subscription?",
        "Please pause the subscription for {email}."),
        (Ask("email"), FIND, ACTIVE, Ask("months"),
         Check("a pause lasts at most 3 months", lambda s: s["months"] <= 3,
               "I'm sorry, a pause can last at most 3 months, so I can't pause it for {months_text}."),
         Confirm("To confirm: you want to pause the subscription of {email} for {months_text}. "
                 "Shall I go ahead?", "Okay, I won't pause the subscription of {email}."),
         Act("pause_subscription", {"email": "email", "months": "months"}, "result"),
         Inform("Done! The subscription of {email} is paused for {months_text}.")),
        split="ood"),
)

FAQS = (
    Faq("screens", ("How many screens can I watch on at once?", "By the way, can my family stream at the same time?",
                    "How many devices can stream simultaneously?"),
        "You can stream on up to 4 screens at once."),
    Faq("downloads", ("Can I watch offline?", "By the way, how long do downloads last?",
                      "Do downloaded shows expire?"),
        "Downloads work offline for 30 days."),
)

DOMAIN = Domain(name="account", system=SYSTEM, tools=TOOLS,
                impls={"get_account": get_account, "get_invoice": get_invoice, "change_plan": change_plan,
                       "cancel_subscription": cancel_subscription, "pause_subscription": pause_subscription,
                       "refund_invoice": refund_invoice, "reset_password": reset_password},
                slots=SLOTS, procedures=PROCEDURES, faqs=FAQS, make_db=make_db, entity="accounts")
