"""The retail tools of τ³-bench (``src/tau2/domains/retail/tools.py``): profiles ``tau3`` and ``tau3-exact``.

What differs from tau-bench v1 (:mod:`casework.domains.retail.tools`), read from τ³'s tool source
and data model (``data_model.py``) and written here without τ³'s code:

- **tool set**: ``get_item_details`` (an item id's variant record) is added, ``think`` is dropped;
- **errors** are capitalised as τ³ writes them (``Error: Order not found``, ``Error: User not found``,
  ``Error: Product not found``, ``Error: Non-pending order cannot be modified``, ...), and a few say
  something else: an exchange with too many of one item says ``Number of ID not found.``, a new item
  id that is no variant of the product says ``Variant not found`` (an unavailable one still says
  ``New item ID not found or available``), a return to another card says ``Payment method should be
  the original payment method``; ``modify_pending_order_items`` refuses a pair whose new item is the
  old one (``The new item id should be different from the old item id``);
- **observations** are records as τ³'s pydantic models dump them (``json.dumps(model_dump())``):
  the model's key order, prices, amounts and balances as floats, and an order's optional fields
  shown as ``null`` when unset (``cancel_reason``, ``exchange_items``, ``exchange_new_items``,
  ``exchange_payment_method_id``, ``exchange_price_difference``, ``return_items``,
  ``return_payment_method_id``). The stored records keep the layout of the data they were loaded
  from (no ``null`` fields are written), so a state hashes like τ³'s with its null fields dropped;
- **effects**: an address or payment change is allowed on any order whose status *contains*
  ``pending`` (τ³ tests ``"pending" in status``, so a ``pending (item modified)`` order can still
  change its address); emails and names are found ignoring case and accents (τ³ folds them);
  amounts written by τ³'s models are floats.

``modify_pending_order_items`` — the one decision. τ³ gives *every* modified item the price and the
options of the *last* new variant of the call (its second loop reads a variable left over from the
first loop), so its final state, and its DB verdict, depend on the order of the item pairs and
give a keyboard a thermostat's price. ``tau3`` keeps the correct per-item behaviour (each item
takes its own new variant's price and options, as tau-bench v1 does); ``tau3-exact`` reproduces τ³,
so that verdicts match τ³'s leaderboard. ``casework tasks validate`` warns on the tasks whose golden
final state differs between the two (see :func:`casework.validation.profiles.profile_divergence`).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any

from casework.domains.retail import tools as v1
from casework.domains.state import Record, State
from casework.domains.tools import ToolError, ToolKind, tool

#: an order's optional fields in τ³'s model, in its order (shown as null when unset)
ORDER_OPTIONAL = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)


# -- records as τ³'s models dump them ------------------------------------------------------------


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _address(a: Record) -> dict[str, Any]:
    return {k: a[k] for k in ("address1", "address2", "city", "country", "state", "zip")}


def order_view(o: Record) -> dict[str, Any]:
    """An order as τ³ shows it: model key order, floats, unset optional fields as null."""
    view: dict[str, Any] = {
        "order_id": o["order_id"],
        "user_id": o["user_id"],
        "address": _address(o["address"]),
        "items": [
            {
                "name": i["name"],
                "product_id": i["product_id"],
                "item_id": i["item_id"],
                "price": _float(i["price"]),
                "options": dict(i["options"]),
            }
            for i in o["items"]
        ],
        "status": o["status"],
        "fulfillments": [
            {"tracking_id": list(f["tracking_id"]), "item_ids": list(f["item_ids"])}
            for f in o["fulfillments"]
        ],
        "payment_history": [
            {
                "transaction_type": p["transaction_type"],
                "amount": _float(p["amount"]),
                "payment_method_id": p["payment_method_id"],
            }
            for p in o["payment_history"]
        ],
    }
    for key in ORDER_OPTIONAL:
        value = o.get(key)
        view[key] = _float(value) if key == "exchange_price_difference" else value
    return view


def _method_view(m: Record) -> dict[str, Any]:
    if m["source"] == "credit_card":
        return {"source": m["source"], "id": m["id"], "brand": m["brand"], "last_four": m["last_four"]}
    if m["source"] == "gift_card":
        return {"source": m["source"], "id": m["id"], "balance": _float(m["balance"])}
    return {"source": m["source"], "id": m["id"]}


def user_view(user_id: str, u: Record) -> dict[str, Any]:
    """A user as τ³ shows it (the ``user_id`` field comes first; v1 data has none, the key is used)."""
    return {
        "user_id": u.get("user_id", user_id),
        "name": {"first_name": u["name"]["first_name"], "last_name": u["name"]["last_name"]},
        "address": _address(u["address"]),
        "email": u["email"],
        "payment_methods": {k: _method_view(m) for k, m in u["payment_methods"].items()},
        "orders": list(u["orders"]),
    }


def variant_view(v: Record) -> dict[str, Any]:
    return {
        "item_id": v["item_id"],
        "options": dict(v["options"]),
        "available": v["available"],
        "price": _float(v["price"]),
    }


def product_view(p: Record) -> dict[str, Any]:
    return {
        "name": p["name"],
        "product_id": p["product_id"],
        "variants": {k: variant_view(v) for k, v in p["variants"].items()},
    }


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _doc(source: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a τ³ tool the description of its v1 counterpart (the same tool, the same arguments)."""

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__doc__ = source.__doc__
        return function

    return apply


def make_tau3_tools(exact: bool) -> list[Callable[..., Any]]:
    """τ³'s retail tools; ``exact`` reproduces ``modify_pending_order_items``'s last-variant defect."""

    def get_order(db: State, order_id: str) -> Record:
        if order_id not in db["orders"]:
            raise ToolError("Order not found")
        return db["orders"][order_id]

    def payment_method(db: State, user_id: str, payment_method_id: str) -> Record:
        if user_id not in db["users"]:
            raise ToolError("User not found")
        methods = db["users"][user_id]["payment_methods"]
        if payment_method_id not in methods:
            raise ToolError("Payment method not found")
        return methods[payment_method_id]

    def get_variant(db: State, product_id: str, item_id: str) -> Record:
        if product_id not in db["products"]:
            raise ToolError("Product not found")
        variants = db["products"][product_id]["variants"]
        if item_id not in variants:
            raise ToolError("Variant not found")
        return variants[item_id]

    def check_count(order: Record, item_ids: list[str], message: Callable[[str], str]) -> None:
        present = [item["item_id"] for item in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > present.count(item_id):
                raise ToolError(message(item_id))

    def new_variants(
        db: State, order: Record, item_ids: list[str], new_item_ids: list[str], refuse_same: bool
    ) -> tuple[list[Record], Any]:
        """Each pair's new variant (checked as τ³ checks them, in its order) and the price difference."""
        variants, diff_price = [], 0
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            if refuse_same and item_id == new_item_id:
                raise ToolError("The new item id should be different from the old item id")
            item = next(item for item in order["items"] if item["item_id"] == item_id)
            variant = get_variant(db, item["product_id"], new_item_id)
            if not variant["available"]:
                raise ToolError(f"New item {new_item_id} not found or available")
            diff_price += variant["price"] - item["price"]
            variants.append(variant)
        return variants, diff_price

    @tool(ToolKind.READ)
    @_doc(v1.find_user_id_by_email)
    def find_user_id_by_email(db: State, email: str) -> str:
        wanted = _fold(email)
        user_id = db["users"].first_key(lambda u: _fold(u["email"]), wanted)
        if user_id is None:
            raise ToolError("User not found")
        return user_id

    @tool(ToolKind.READ)
    @_doc(v1.find_user_id_by_name_zip)
    def find_user_id_by_name_zip(db: State, first_name: str, last_name: str, zip: str) -> str:
        def key(u: Record) -> tuple[str, str, str]:
            return _fold(u["name"]["first_name"]), _fold(u["name"]["last_name"]), u["address"]["zip"]

        user_id = db["users"].first_key(key, (_fold(first_name), _fold(last_name), zip))
        if user_id is None:
            raise ToolError("User not found")
        return user_id

    @tool(ToolKind.READ)
    @_doc(v1.get_user_details)
    def get_user_details(db: State, user_id: str) -> str:
        if user_id not in db["users"]:
            raise ToolError("User not found")
        return json.dumps(user_view(user_id, db["users"][user_id]))

    @tool(ToolKind.READ)
    @_doc(v1.get_order_details)
    def get_order_details(db: State, order_id: str) -> str:
        return json.dumps(order_view(get_order(db, order_id)))

    @tool(ToolKind.READ)
    @_doc(v1.get_product_details)
    def get_product_details(db: State, product_id: str) -> str:
        if product_id not in db["products"]:
            raise ToolError("Product not found")
        return json.dumps(product_view(db["products"][product_id]))

    @tool(ToolKind.READ)
    def get_item_details(db: State, item_id: str) -> str:
        """Get an item's details: its options, price and availability. An item id is not a product id.

        Args:
            item_id: The item id, such as '6086499569'.
        """
        for product in db["products"].values():
            if item_id in product["variants"]:
                return json.dumps(variant_view(product["variants"][item_id]))
        raise ToolError("Item not found")

    @tool(ToolKind.WRITE)
    @_doc(v1.cancel_pending_order)
    def cancel_pending_order(db: State, order_id: str, reason: v1.CancelReason) -> str:
        order = get_order(db, order_id)
        if order["status"] != "pending":
            raise ToolError("Non-pending order cannot be cancelled")
        if reason not in v1.CANCEL_REASONS:
            raise ToolError("Invalid reason")
        credits = []
        for payment in order["payment_history"]:  # every method is looked up before anything changes
            method = payment_method(db, order["user_id"], payment["payment_method_id"])
            if method["source"] == "gift_card":
                credits.append((payment["payment_method_id"], payment["amount"]))
        if credits:
            methods = db["users"].edit(order["user_id"])["payment_methods"]
            for method_id, amount in credits:
                methods[method_id]["balance"] = round(methods[method_id]["balance"] + amount, 2)
        order = db["orders"].edit(order_id)
        refunds = [
            {
                "transaction_type": "refund",
                "amount": _float(p["amount"]),
                "payment_method_id": p["payment_method_id"],
            }
            for p in order["payment_history"]
        ]
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return json.dumps(order_view(order))

    @tool(ToolKind.WRITE)
    @_doc(v1.exchange_delivered_order_items)
    def exchange_delivered_order_items(
        db: State, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> str:
        order = get_order(db, order_id)
        if order["status"] != "delivered":
            raise ToolError("Non-delivered order cannot be exchanged")
        check_count(order, item_ids, lambda item_id: f"Number of {item_id} not found.")
        if len(item_ids) != len(new_item_ids):
            raise ToolError("The number of items to be exchanged should match.")
        _, diff_price = new_variants(db, order, item_ids, new_item_ids, refuse_same=False)
        diff_price = round(diff_price, 2)
        method = payment_method(db, order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff_price:
            raise ToolError("Insufficient gift card balance to pay for the price difference")
        order = db["orders"].edit(order_id)
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = float(diff_price)
        return json.dumps(order_view(order))

    @tool(ToolKind.WRITE)
    @_doc(v1.modify_pending_order_address)
    def modify_pending_order_address(
        db: State, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> str:
        order = get_order(db, order_id)
        if "pending" not in order["status"]:
            raise ToolError("Non-pending order cannot be modified")
        order = db["orders"].edit(order_id)
        order["address"] = v1._address(address1, address2, city, state, country, zip)
        return json.dumps(order_view(order))

    @tool(ToolKind.WRITE)
    @_doc(v1.modify_pending_order_items)
    def modify_pending_order_items(
        db: State, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> str:
        order = get_order(db, order_id)
        if order["status"] != "pending":
            raise ToolError("Non-pending order cannot be modified")
        check_count(order, item_ids, lambda item_id: f"{item_id} not found")
        if len(item_ids) != len(new_item_ids):
            raise ToolError("The number of items to be exchanged should match")
        variants, diff_price = new_variants(db, order, item_ids, new_item_ids, refuse_same=True)
        method = payment_method(db, order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff_price:
            raise ToolError("Insufficient gift card balance to pay for the new item")
        order = db["orders"].edit(order_id)
        order["payment_history"].append(
            {
                "transaction_type": "payment" if diff_price > 0 else "refund",
                "amount": float(abs(diff_price)),
                "payment_method_id": payment_method_id,
            }
        )
        if method["source"] == "gift_card":
            card = db["users"].edit(order["user_id"])["payment_methods"][payment_method_id]
            card["balance"] = round(card["balance"] - diff_price, 2)
        for position, (item_id, new_item_id) in enumerate(zip(item_ids, new_item_ids, strict=True)):
            item = next(item for item in order["items"] if item["item_id"] == item_id)
            # τ³ (exact) takes the variant of the last pair for every item; tau3 takes each pair's own
            variant = variants[-1] if exact else variants[position]
            item["item_id"] = new_item_id
            item["price"] = _float(variant["price"])
            item["options"] = dict(variant["options"])
        order["status"] = "pending (item modified)"
        return json.dumps(order_view(order))

    @tool(ToolKind.WRITE)
    @_doc(v1.modify_pending_order_payment)
    def modify_pending_order_payment(db: State, order_id: str, payment_method_id: str) -> str:
        order = get_order(db, order_id)
        if "pending" not in order["status"]:
            raise ToolError("Non-pending order cannot be modified")
        method = payment_method(db, order["user_id"], payment_method_id)
        history = order["payment_history"]
        if len(history) != 1 or history[0]["transaction_type"] != "payment":
            raise ToolError("There should be exactly one payment for a pending order")
        old_id = history[0]["payment_method_id"]
        if old_id == payment_method_id:
            raise ToolError("The new payment method should be different from the current one")
        amount = history[0]["amount"]
        if method["source"] == "gift_card" and method["balance"] < amount:
            raise ToolError("Insufficient gift card balance to pay for the order")
        old_method = payment_method(db, order["user_id"], old_id)
        order = db["orders"].edit(order_id)
        order["payment_history"].extend(
            [
                {
                    "transaction_type": "payment",
                    "amount": _float(amount),
                    "payment_method_id": payment_method_id,
                },
                {"transaction_type": "refund", "amount": _float(amount), "payment_method_id": old_id},
            ]
        )
        if method["source"] == "gift_card" or old_method["source"] == "gift_card":
            methods = db["users"].edit(order["user_id"])["payment_methods"]
            if method["source"] == "gift_card":
                methods[payment_method_id]["balance"] = round(
                    methods[payment_method_id]["balance"] - amount, 2
                )
            if old_method["source"] == "gift_card":
                methods[old_id]["balance"] = round(methods[old_id]["balance"] + amount, 2)
        return json.dumps(order_view(order))

    @tool(ToolKind.WRITE)
    @_doc(v1.return_delivered_order_items)
    def return_delivered_order_items(
        db: State, order_id: str, item_ids: list[str], payment_method_id: str
    ) -> str:
        order = get_order(db, order_id)
        if order["status"] != "delivered":
            raise ToolError("Non-delivered order cannot be returned")
        method = payment_method(db, order["user_id"], payment_method_id)
        if (
            method["source"] != "gift_card"
            and payment_method_id != order["payment_history"][0]["payment_method_id"]
        ):
            raise ToolError("Payment method should be the original payment method")
        check_count(order, item_ids, lambda item_id: "Some item not found")
        order = db["orders"].edit(order_id)
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return json.dumps(order_view(order))

    @tool(ToolKind.WRITE)
    @_doc(v1.modify_user_address)
    def modify_user_address(
        db: State, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> str:
        if user_id not in db["users"]:
            raise ToolError("User not found")
        user = db["users"].edit(user_id)
        user["address"] = v1._address(address1, address2, city, state, country, zip)
        return json.dumps(user_view(user_id, user))

    @tool(ToolKind.GENERIC)
    @_doc(v1.calculate)
    def calculate(db: State, expression: str) -> str:
        if not all(char in v1._CALCULATOR_CHARACTERS for char in expression):
            raise ToolError("Invalid characters in expression")
        return v1.calculate(db, expression)

    return [
        calculate,
        cancel_pending_order,
        exchange_delivered_order_items,
        find_user_id_by_name_zip,
        find_user_id_by_email,
        get_order_details,
        get_product_details,
        get_item_details,
        get_user_details,
        v1.list_all_product_types,
        modify_pending_order_address,
        modify_pending_order_items,
        modify_pending_order_payment,
        modify_user_address,
        return_delivered_order_items,
        v1.transfer_to_human_agents,
    ]


__all__ = ["ORDER_OPTIONAL", "make_tau3_tools", "order_view", "product_view", "user_view", "variant_view"]
