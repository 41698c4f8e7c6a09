"""Retail's hooks for the LLM generators (direct, AgentFlow): prompts, targets, context, repairs.

A :class:`~casework.domains.domain.Target` is one concrete request sampled from the database for
a scenario key (a user, the order and items it is about, a new address, ...), checked to be
possible. The context around it is rendered compactly, because the embedded model is a 0.5B model
with an 8k window: only that user's orders (in the statuses the scenario needs) and only the
products involved (a few available variants each). :func:`repair_grounding` adds what the
instruction must say for the ground truth to be reachable (the identification the agent needs,
order ids the agent cannot look up) and records what it changed.

Everything is handed to the generic generators as :data:`LLM_GENERATION`.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from typing import Any

from casework.domains.domain import ContextSections, LLMGeneration, NoTarget, Target
from casework.domains.retail import phrasing as ph
from casework.domains.retail.scenarios import SCENARIO_KEYS, _users_for
from casework.domains.retail.tools import CANCEL_REASONS, IDENTIFICATION
from casework.domains.state import Database, State
from casework.tasks.model import Action

IDENTIFY = tuple(IDENTIFICATION)

DIRECT_SYSTEM = """You write test tasks for a retail customer-service AI agent. A task is one JSON object:
{"q": "<instruction for the simulated customer, second person: who you are, your email (or name and zip), what you want, the order id>",
 "agt": [{"name": "<tool>", "arguments": {...}}, ...],
 "ogt": ["<value the agent must tell the customer>", ...]}
agt lists the agent's correct tool calls in order: first identify the user, then look up, then act, following the policy. Use only ids from the context. ogt is often empty.
Answer with the JSON object only, compact, on one line."""

PLANNER_SYSTEM = """You are the planner of a retail customer-service agent. Choose the single next tool call that moves toward the customer's goal, following the policy. Use only ids from the knowledge and the memory. Do not repeat a call that is already in the memory.

Policy:
{policy}"""

WRITER_SYSTEM = """You write the instruction for a simulated customer who will chat with a support agent, from what the agent did. Write in the second person: who the customer is, how they identify, what they want (with the order id and details), and what to accept. Do not mention tools or the agent's steps.
Answer with only a JSON object: {"q": "<instruction>", "ogt": ["<value the agent must tell the customer, copied from the results>", ...]} (ogt is often empty)."""

#: tools the planner sees for each scenario (a subset keeps the prompt small for small models)
SCENARIO_TOOLS: dict[str, tuple[str, ...]] = {
    "order_cancellation": ("get_user_details", "get_order_details", "cancel_pending_order", "calculate"),
    "order_modification": (
        "get_user_details",
        "get_order_details",
        "get_product_details",
        "modify_pending_order_items",
        "modify_pending_order_address",
    ),
    "payment_update": ("get_user_details", "get_order_details", "modify_pending_order_payment"),
    "item_return": ("get_user_details", "get_order_details", "return_delivered_order_items", "calculate"),
    "item_exchange": (
        "get_user_details",
        "get_order_details",
        "get_product_details",
        "exchange_delivered_order_items",
    ),
    "address_change": ("get_user_details", "modify_user_address"),
    "order_inquiry": ("get_user_details", "get_order_details"),
    "product_inquiry": ("list_all_product_types", "get_product_details"),
    "policy_refusal": ("get_user_details", "get_order_details"),  # the ground truth only reads
    "human_transfer": ("get_user_details", "get_order_details", "transfer_to_human_agents"),
}

#: a successful call of one of these reaches the scenario's goal (the AgentFlow verifier stops)
GOAL_TOOLS: dict[str, frozenset[str]] = {
    "order_cancellation": frozenset({"cancel_pending_order"}),
    "order_modification": frozenset({"modify_pending_order_items", "modify_pending_order_address"}),
    "payment_update": frozenset({"modify_pending_order_payment"}),
    "item_return": frozenset({"return_delivered_order_items"}),
    "item_exchange": frozenset({"exchange_delivered_order_items"}),
    "address_change": frozenset({"modify_user_address"}),
    "order_inquiry": frozenset({"get_order_details"}),
    "product_inquiry": frozenset({"get_product_details"}),
    "policy_refusal": frozenset({"get_order_details"}),
    "human_transfer": frozenset({"transfer_to_human_agents"}),
}

POLICY_DIGEST = """- First identify the user: find_user_id_by_email, or find_user_id_by_name_zip (first name, last name, zip).
- Act only for that user, on their own orders and payment methods.
- Cancel or modify only pending orders; cancel reason is {reasons}.
- Items of an order can be modified once; a new item must be an available variant of the same product.
- Return or exchange only delivered orders; a refund goes to the original payment method or a gift card.
- A payment change needs an order with a single payment and a different method; gift cards must cover the amount.
- Transfer to a human agent only when the tools cannot handle the request; it ends the conversation.
- Refuse what the policy forbids and change nothing.""".format(
    reasons=" or ".join(f'"{r}"' for r in CANCEL_REASONS)
)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# -- sampling ------------------------------------------------------------------------------------


def _orders(state: State, user: dict[str, Any], *statuses: str) -> list[dict[str, Any]]:
    table = state["orders"]
    return [
        table[o] for o in user["orders"] if o in table and (not statuses or table[o]["status"] in statuses)
    ]


def _swap(rng: random.Random, state: State, order: dict[str, Any]) -> tuple[dict, dict] | None:
    products = state["products"]
    options = []
    for item in order["items"]:
        product = products.get(item["product_id"])
        if product is None:
            continue
        new = [v for v in product["variants"].values() if v["available"] and v["item_id"] != item["item_id"]]
        if new:
            options.append((item, new))
    if not options:
        return None
    item, new = rng.choice(options)
    return item, rng.choice(new)


def _method(
    rng: random.Random, user: dict[str, Any], amount: float, exclude: str | None = None
) -> dict | None:
    usable = [
        m
        for m in user["payment_methods"].values()
        if m["id"] != exclude and (m.get("source") != "gift_card" or m.get("balance", 0) >= amount)
    ]
    return rng.choice(usable) if usable else None


def _target_for_user(rng: random.Random, state: State, scenario: str, user_id: str) -> Target | None:
    user = state["users"][user_id]
    t = Target(scenario, user_id, "")
    product_ids: list[str] = []
    t.extra["product_ids"] = product_ids
    if scenario in ("order_cancellation", "order_modification", "payment_update"):
        pending = _orders(state, user, "pending")
        if scenario == "payment_update":
            pending = [o for o in pending if len(o["payment_history"]) == 1]
        if not pending:
            return None
        order = rng.choice(pending)
        oid = order["order_id"]
        t.ids = [oid]
        if scenario == "order_cancellation":
            reason = rng.choice(CANCEL_REASONS)
            t.goal = f'cancel pending order {oid} (reason: "{reason}")'
        elif scenario == "payment_update":
            paid = order["payment_history"][0]
            method = _method(rng, user, paid["amount"], exclude=paid["payment_method_id"])
            if method is None:
                return None
            t.goal = f"pay pending order {oid} with {method['id']} instead of {paid['payment_method_id']}"
        elif rng.random() < 0.5 and (swap := _swap(rng, state, order)) is not None:
            item, new = swap
            method = _method(rng, user, max(new["price"] - item["price"], 0.0))
            if method is None:
                return None
            product_ids.append(item["product_id"])
            t.goal = (
                f"in pending order {oid}, change item {item['item_id']} ({item['name']}, "
                f"{ph.options_text(item['options'])}) to the available variant {new['item_id']} "
                f"({ph.options_text(new['options'])}); pay any difference with {method['id']}"
            )
        else:
            address = ph.new_address(rng)
            t.goal = f"ship pending order {oid} to a new address: {json.dumps(address)}"
    elif scenario in ("item_return", "item_exchange"):
        delivered = _orders(state, user, "delivered")
        if not delivered:
            return None
        order = rng.choice(delivered)
        oid = order["order_id"]
        t.ids = [oid]
        original = order["payment_history"][0]["payment_method_id"] if order["payment_history"] else None
        if scenario == "item_return":
            if original not in user["payment_methods"]:
                return None
            item = rng.choice(order["items"])
            t.goal = (
                f"return item {item['item_id']} ({item['name']}) of delivered order {oid}, "
                f"refund to the original payment method {original}"
            )
        else:
            swap = _swap(rng, state, order)
            if swap is None:
                return None
            item, new = swap
            method = _method(rng, user, max(new["price"] - item["price"], 0.0))
            if method is None:
                return None
            product_ids.append(item["product_id"])
            t.goal = (
                f"exchange item {item['item_id']} ({item['name']}, {ph.options_text(item['options'])}) of "
                f"delivered order {oid} for the available variant {new['item_id']} "
                f"({ph.options_text(new['options'])}); settle the difference with {method['id']}"
            )
    elif scenario == "address_change":
        t.goal = f"change the default address of the account to {json.dumps(ph.new_address(rng))}"
    elif scenario == "order_inquiry":
        orders = _orders(state, user)
        if not orders:
            return None
        order = rng.choice(orders)
        t.ids = [order["order_id"]]
        t.goal = f"ask for the status of order {order['order_id']} (the agent looks it up and tells it)"
    elif scenario == "product_inquiry":
        product_id = rng.choice(sorted(state["products"]))
        name = state["products"][product_id]["name"]
        product_ids.append(product_id)
        t.goal = (
            f"ask how many {name} options the store lists (product id {product_id}); the agent looks it up"
        )
    elif scenario == "policy_refusal":
        orders = _orders(state, user, "processed", "delivered")
        if not orders:
            return None
        order = rng.choice(orders)
        oid = order["order_id"]
        t.ids = [oid]
        t.goal = (
            f"ask to cancel order {oid}, which is already {order['status']}: the agent must look it up, "
            "refuse and change nothing (no write action)"
        )
        t.metadata = {"refused_orders": [oid], "expected_behaviour": "refuse"}
    elif scenario == "human_transfer":
        orders = _orders(state, user, "delivered", "processed")
        if not orders:
            return None
        order = rng.choice(orders)
        t.ids = [order["order_id"]]
        t.goal = (
            f"an item of order {order['order_id']} arrived damaged and the user wants compensation without "
            "a return, which no tool can do: the agent looks at the order and transfers to a human agent"
        )
    else:
        raise NoTarget(f"unknown scenario {scenario!r}")
    return t


def sample_target(rng: random.Random, database: Database, scenario: str, tries: int = 40) -> Target:
    """A possible request for ``scenario`` (a user that has what it needs)."""
    users = _users_for(database, scenario)
    if not users:
        raise NoTarget(f"no user fits {scenario}")
    state = database.fork()
    for _ in range(tries):
        found = _target_for_user(rng, state, scenario, rng.choice(users))
        if found is not None:
            return found
    raise NoTarget(f"no possible {scenario} request found in {tries} users")


# -- rendering -----------------------------------------------------------------------------------


def user_text(state: State, user_id: str) -> str:
    user = state["users"][user_id]
    name = user["name"]
    methods = ", ".join(
        m["id"] + (f" (balance {m['balance']})" if m.get("source") == "gift_card" else "")
        for m in user["payment_methods"].values()
    )
    return (
        f"user_id {user_id}; name {name['first_name']} {name['last_name']}; email {user['email']}; "
        f"zip {user['address']['zip']}; payment methods: {methods}"
    )


def order_text(order: dict[str, Any]) -> str:
    items = "; ".join(
        f"{i['item_id']} {i['name']} ({ph.options_text(i['options'])}) ${i['price']}" for i in order["items"]
    )
    paid = ", ".join(
        f"{p['transaction_type']} {p['amount']} via {p['payment_method_id']}"
        for p in order["payment_history"]
    )
    return f"{order['order_id']} [{order['status']}] items: {items}; paid: {paid}"


def product_text(product: dict[str, Any], max_variants: int = 4) -> str:
    variants = [v for v in product["variants"].values() if v["available"]][:max_variants]
    listed = "; ".join(f"{v['item_id']} ({ph.options_text(v['options'])}) ${v['price']}" for v in variants)
    return f"{product['name']} product_id {product['product_id']} ({len(product['variants'])} variants); available: {listed}"


def _product_ids(target: Target) -> list[str]:
    return list(target.extra.get("product_ids", []))


#: the order statuses worth showing besides the target's own order(s), per scenario
_OTHER_ORDERS: dict[str, tuple[str, ...]] = {
    "item_return": ("delivered",),
    "item_exchange": ("delivered",),
    "order_cancellation": ("pending",),
    "order_modification": ("pending",),
    "payment_update": ("pending",),
}


def context(state: State, target: Target, max_orders: int = 4) -> ContextSections:
    """The user, their relevant orders (the target's first) and the products involved."""
    user = state["users"][target.user_id]
    orders = [state["orders"][o] for o in target.ids]
    if target.scenario not in ("address_change", "product_inquiry"):
        wanted = _OTHER_ORDERS.get(target.scenario, ())
        others = [o for o in _orders(state, user, *wanted) if o["order_id"] not in target.ids]
        orders += others[: max(0, max_orders - len(orders))]
    products = [product_text(state["products"][p]) for p in _product_ids(target) if p in state["products"]]
    return ContextSections(
        user=user_text(state, target.user_id),
        sections=(
            ("Their orders", "an order", tuple(order_text(o) for o in orders)),
            ("Products", "a product", tuple(products)),
        ),
    )


def knowledge(state: State, target: Target) -> str:
    """What the AgentFlow planner knows: the customer, the target's orders and products."""
    lines = [f"Customer: {user_text(state, target.user_id)}"]
    lines += [f"Order: {order_text(state['orders'][o])}" for o in target.ids]
    lines += [f"Product: {product_text(state['products'][p])}" for p in _product_ids(target)]
    return "\n".join(lines)


def identify(state: State, user_id: str) -> tuple[str, dict[str, Any]]:
    """The agent identifies a retail customer by email."""
    return "find_user_id_by_email", {"email": state["users"][user_id]["email"]}


def opening(state: State, user_id: str) -> str:
    account = state["users"][user_id]
    name = account["name"]
    return f"You are {name['first_name']} {name['last_name']} and your email is {account['email']}."


# -- grounding repairs ---------------------------------------------------------------------------


def want_text(target: Target) -> str:
    """The request in the customer's words (second person), from the target's goal."""
    goal = target.goal
    found = re.search(r"\{.*\}", goal)
    if found:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            goal = goal.replace(found.group(0), ph.address_text(json.loads(found.group(0))))
    if target.scenario == "human_transfer":
        return (
            f"An item of order {target.ids[0]} arrived damaged; you want compensation without "
            "returning it, and you ask for a human agent."
        )
    for cut in (" (the agent", "; the agent", ": the agent", ", which no tool"):
        goal = goal.split(cut)[0]
    if goal.startswith("in "):
        text = f"I{goal[1:].replace(', change', ', you want to change', 1)}."
    else:
        text = f"You want to {goal}."
    if target.metadata.get("expected_behaviour") == "refuse":
        text += " If the agent says it is not possible, accept it."
    return text


def ensure_request(instruction: str, target: Target, min_extra: int = 25) -> tuple[str, list[str]]:
    """Add the request when the instruction says little beyond who the customer is."""
    text = instruction
    for needle in (target.user_id, *target.ids):
        text = text.replace(needle, "")
    without_identity = _EMAIL.sub("", re.sub(r"(?i)\byou are [^.]*\.|\byour email is[^.]*\.", "", text))
    words = re.sub(r"(?i)the order id is\s*\.?|your (name|zip)[^.]*\.", "", without_identity).strip()
    if len(words) >= min_extra:
        return instruction, []
    want = want_text(target)
    return f"{instruction.strip()} {want}".strip(), [f"added the request to the instruction: {want}"]


def repair_grounding(
    instruction: str, actions: list[Action], state: State, user_id: str
) -> tuple[str, list[Action], list[str]]:
    """Make the ground truth reachable from the instruction; returns (instruction, actions, repairs).

    - no identification action: find_user_id_by_email is put first;
    - the identification values (email, or name and zip) are added to the instruction if missing;
    - order ids acted on before any get_user_details are added to the instruction if missing;
    - an email in the instruction that is not the user's (copied from an example) becomes theirs.
    """
    user = state["users"].get(user_id)
    repairs: list[str] = []
    if user is None:
        return instruction, actions, repairs
    actions = list(actions)
    if not any(a.name in IDENTIFY for a in actions):
        actions.insert(0, Action(name="find_user_id_by_email", arguments={"email": user["email"]}))
        repairs.append("added find_user_id_by_email as the first action")
    text = instruction.strip()
    for email in sorted(set(_EMAIL.findall(text))):
        if email.lower() != user["email"].lower():
            text = text.replace(email, user["email"])
            repairs.append(f"replaced another user's email {email!r} in the instruction")
    additions: list[str] = []
    looked_up = False
    for action in actions:
        args = action.arguments
        if action.name == "find_user_id_by_email" and str(args.get("email", "")).lower() not in text.lower():
            additions.append(f"Your email is {args.get('email')}.")
        if action.name == "find_user_id_by_name_zip":
            values = [str(args.get(k, "")) for k in ("first_name", "last_name", "zip")]
            if any(v.lower() not in text.lower() for v in values):
                additions.append(f"Your name is {values[0]} {values[1]} and your zip code is {values[2]}.")
        if action.name == "get_user_details":
            looked_up = True
        order_id = args.get("order_id")
        if isinstance(order_id, str) and not looked_up and order_id.lstrip("#").lower() not in text.lower():
            additions.append(f"The order id is {order_id}.")
    additions = list(dict.fromkeys(additions))
    if additions:
        repairs.append("added to the instruction: " + " ".join(additions))
        text = (text + " " + " ".join(additions)).strip()
    return text, actions, repairs


def repair(
    instruction: str, actions: list[Action], state: State, target: Target
) -> tuple[str, list[Action], list[str]]:
    """The request when the instruction lacks it (:func:`ensure_request`), then :func:`repair_grounding`."""
    text, asked = ensure_request(instruction, target)
    text, actions, grounding = repair_grounding(text, actions, state, target.user_id)
    return text, actions, asked + grounding


LLM_GENERATION = LLMGeneration(
    keys=SCENARIO_KEYS,
    direct_system=DIRECT_SYSTEM,
    planner_system=PLANNER_SYSTEM,
    writer_system=WRITER_SYSTEM,
    policy_digest=POLICY_DIGEST,
    sample_target=sample_target,
    scenario_tools=SCENARIO_TOOLS,
    goal_tools=GOAL_TOOLS,
    context=context,
    knowledge=knowledge,
    identify=identify,
    opening=opening,
    repair=repair,
)
