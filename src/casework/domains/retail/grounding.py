"""Grounding checks for retail actions: do the ids an action names exist and belong to the task's user?

Checked against the state just before the action runs, so ids created or changed by earlier
actions (a modified item's new id) are seen as they are at that point.
"""

from __future__ import annotations

from typing import Any

from casework.domains.state import State


def _order_key(order_id: Any) -> str:
    text = str(order_id).strip()
    return text if text.startswith("#") else "#" + text


def ground_action(state: State, user_id: str | None, name: str, arguments: dict[str, Any]) -> list[str]:
    """Problems with the ids in one retail action (empty when everything resolves)."""
    problems: list[str] = []
    users, orders, products = state["users"], state["orders"], state["products"]
    owner = user_id

    if "user_id" in arguments:
        given = arguments["user_id"]
        if given not in users:
            problems.append(f"user_id {given!r} does not exist")
        elif user_id is not None and given != user_id:
            problems.append(f"user_id {given!r} is not the task's user {user_id!r}")

    if name == "find_user_id_by_email" and user_id is not None and user_id in users:
        email = str(arguments.get("email", "")).strip().lower()
        if users[user_id]["email"].lower() != email:
            problems.append(
                f"email {arguments.get('email')!r} is not the email of the task's user {user_id!r}"
            )
    if name == "find_user_id_by_name_zip" and user_id is not None and user_id in users:
        record = users[user_id]
        same_name = (
            record["name"]["first_name"].lower() == str(arguments.get("first_name", "")).lower()
            and record["name"]["last_name"].lower() == str(arguments.get("last_name", "")).lower()
        )
        if not same_name or record["address"]["zip"] != arguments.get("zip"):
            problems.append(f"name and zip do not identify the task's user {user_id!r}")

    order = None
    if "order_id" in arguments:
        key = _order_key(arguments["order_id"])
        if key not in orders:
            problems.append(f"order_id {arguments['order_id']!r} does not exist")
        else:
            order = orders[key]
            if user_id is not None and order["user_id"] != user_id:
                problems.append(
                    f"order {key} belongs to {order['user_id']!r}, not the task's user {user_id!r}"
                )
            owner = owner or order["user_id"]

    if "payment_method_id" in arguments and owner is not None and owner in users:
        method = arguments["payment_method_id"]
        if method not in users[owner]["payment_methods"]:
            problems.append(f"payment method {method!r} does not belong to user {owner!r}")

    if "product_id" in arguments and arguments["product_id"] not in products:
        problems.append(f"product_id {arguments['product_id']!r} does not exist")

    if order is not None and isinstance(arguments.get("item_ids"), list):
        in_order = {item["item_id"] for item in order["items"]}
        for item_id in arguments["item_ids"]:
            if item_id not in in_order:
                problems.append(f"item {item_id!r} is not in order {order['order_id']}")

    if order is not None and isinstance(arguments.get("new_item_ids"), list):
        product_of = {item["item_id"]: item["product_id"] for item in order["items"]}
        old_ids = arguments.get("item_ids") if isinstance(arguments.get("item_ids"), list) else []
        for position, new_id in enumerate(arguments["new_item_ids"]):
            old_id = old_ids[position] if position < len(old_ids) else None
            product_id = product_of.get(old_id)
            if product_id is None:
                continue
            if product_id in products and new_id not in products[product_id]["variants"]:
                problems.append(
                    f"new item {new_id!r} is not a variant of product {product_id} (item {old_id!r})"
                )
    return problems
