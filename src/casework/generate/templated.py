"""Templated task generation (no LLM): sample real entities, build ground truth by executing it.

Each scenario picks a user and records from the database, writes the actions, replays them on a
fork (a scenario whose actions error is skipped and resampled) and phrases the instruction the
simulated user will follow. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from casework.domains import Database, Domain, State
from casework.tasks.model import Action, Task

Scenario = Callable[[random.Random, State, str], "tuple[list[Action], list[str], str] | None"]


def _who(rng: random.Random, user: dict[str, Any]) -> str:
    name = f"{user['name']['first_name']} {user['name']['last_name']}"
    if rng.random() < 0.5:
        return f"You are {name} and your email is {user['email']}."
    return f"Your name is {name} and your zip code is {user['address']['zip']}."


def _orders_with(state: State, user_id: str, status: str) -> list[dict[str, Any]]:
    orders = state["orders"]
    return [orders[o] for o in state["users"][user_id]["orders"] if o in orders and orders[o]["status"] == status]


def _cancel(rng: random.Random, state: State, user_id: str):
    pending = _orders_with(state, user_id, "pending")
    if not pending:
        return None
    order = rng.choice(pending)
    reason = rng.choice(["no longer needed", "ordered by mistake"])
    why = "you no longer need it" if reason == "no longer needed" else "you ordered it by mistake"
    text = f"You want to cancel order {order['order_id']} because {why}."
    return [Action(name="cancel_pending_order", arguments={"order_id": order["order_id"], "reason": reason})], [], text


def _return(rng: random.Random, state: State, user_id: str):
    delivered = _orders_with(state, user_id, "delivered")
    if not delivered:
        return None
    order = rng.choice(delivered)
    items = rng.sample(order["items"], k=rng.randint(1, len(order["items"])))
    method = order["payment_history"][0]["payment_method_id"]
    names = ", ".join(f"the {i['name'].lower()}" for i in items)
    text = f"You want to return {names} from order {order['order_id']} and get the refund on the original payment method."
    args = {"order_id": order["order_id"], "item_ids": [i["item_id"] for i in items], "payment_method_id": method}
    return [Action(name="return_delivered_order_items", arguments=args)], [], text


def _address(rng: random.Random, state: State, user_id: str):
    street = f"{rng.randint(10, 9999)} {rng.choice(['Maple', 'Cedar', 'Lake', 'Hill', 'River'])} {rng.choice(['Street', 'Avenue', 'Road'])}"
    city, st, zip_code = rng.choice([("Austin", "TX", "78701"), ("Denver", "CO", "80202"), ("Seattle", "WA", "98101")])
    args = {
        "user_id": user_id,
        "address1": street,
        "address2": f"Apt {rng.randint(1, 99)}",
        "city": city,
        "state": st,
        "country": "USA",
        "zip": zip_code,
    }
    text = (
        f"You moved and want your default address changed to {args['address1']}, {args['address2']}, "
        f"{city}, {st} {zip_code}, USA."
    )
    return [Action(name="modify_user_address", arguments=args)], [], text


def _status(rng: random.Random, state: State, user_id: str):
    orders = [state["orders"][o] for o in state["users"][user_id]["orders"] if o in state["orders"]]
    if not orders:
        return None
    order = rng.choice(orders)
    text = f"You want to know the status of your order {order['order_id']}."
    return [Action(name="get_order_details", arguments={"order_id": order["order_id"]})], [order["status"]], text


SCENARIOS: dict[str, Scenario] = {
    "order_cancellation": _cancel,
    "item_return": _return,
    "address_change": _address,
    "order_inquiry": _status,
}


def _identify(rng: random.Random, user_id: str, user: dict[str, Any], who: str) -> Action:
    if "email" in who:
        return Action(name="find_user_id_by_email", arguments={"email": user["email"]})
    name = user["name"]
    return Action(
        name="find_user_id_by_name_zip",
        arguments={"first_name": name["first_name"], "last_name": name["last_name"], "zip": user["address"]["zip"]},
    )


def generate_templated(domain: Domain, database: Database, n: int, seed: int = 0) -> list[Task]:
    """``n`` tasks cycling through :data:`SCENARIOS`, each verified by replay on a fork."""
    rng = random.Random(seed)
    user_ids = sorted(database.tables["users"])
    tasks: list[Task] = []
    names = list(SCENARIOS)
    attempts = 0
    while len(tasks) < n:
        attempts += 1
        if attempts > 100 * n + 100:
            raise RuntimeError(f"could not sample {n} tasks from this database (got {len(tasks)})")
        scenario = names[len(tasks) % len(names)]
        user_id = rng.choice(user_ids)
        state = database.fork()
        built = SCENARIOS[scenario](rng, state, user_id)
        if built is None:
            continue
        actions, outputs, want = built
        user = state["users"][user_id]
        who = _who(rng, user)
        actions = [_identify(rng, user_id, user, who), *actions]
        if any(domain.call(state, a.name, a.arguments).startswith("Error") for a in actions):
            continue
        tasks.append(
            Task(
                id=f"templated-{seed}-{len(tasks)}",
                domain=domain.name,
                user_id=user_id,
                instruction=f"{who} {want}",
                actions=actions,
                outputs=outputs,
                scenario=scenario,
                metadata={
                    "generation_method": "templated",
                    "seed": seed,
                    "num_actions": len(actions),
                },
            )
        )
    return tasks
