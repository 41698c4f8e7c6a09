"""The 16 retail tools, compatible with tau-bench v1 (same effects on the data, same error strings).

Reads return the record as ``json.dumps(record)`` (default separators), as tau-bench does. Writes
validate everything on the shared records first, then take this fork's own copies with
``TableView.edit`` and change those, so a failed call never leaves a half-applied change and the
base database and sibling forks are never touched.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from casework.domains.state import Record, State
from casework.domains.tools import ToolError, ToolKind, tool

CANCEL_REASONS = ["no longer needed", "ordered by mistake"]

#: identification tool -> the fields the user states for it (in the order the policy lists them)
IDENTIFICATION: dict[str, tuple[str, ...]] = {
    "find_user_id_by_email": ("email",),
    "find_user_id_by_name_zip": ("first_name", "last_name", "zip"),
}
TRANSFER_TOOL = "transfer_to_human_agents"

# The reason is a plain string for validation, so that a wrong one gives tau-bench's own
# "Error: invalid reason"; the schema still lists the allowed values as an enum.
CancelReason = Annotated[str, Field(json_schema_extra={"enum": CANCEL_REASONS})]


# -- helpers -------------------------------------------------------------------------------------


def _order(db: State, order_id: str) -> Record:
    orders = db["orders"]
    if order_id not in orders:
        raise ToolError("order not found")
    return orders[order_id]


def _payment_methods(db: State, order: Record) -> dict[str, Any]:
    return db["users"][order["user_id"]]["payment_methods"]


def _check_items_present(order: Record, item_ids: list[str], message: Callable[[str], str]) -> None:
    """Every id in ``item_ids`` must be in the order at least as many times as it is listed."""
    all_item_ids = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > all_item_ids.count(item_id):
            raise ToolError(message(item_id))


def _price_difference(db: State, order: Record, item_ids: list[str], new_item_ids: list[str]) -> float:
    """Sum of (new price - old price) over the pairs; checks each new item is an available variant."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    products = db["products"]
    diff_price: float = 0  # an int 0 when there are no pairs, as in tau-bench (it shows in the hash)
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = next(item for item in order["items"] if item["item_id"] == item_id)
        variants = products[item["product_id"]]["variants"]
        if not (new_item_id in variants and variants[new_item_id]["available"]):
            raise ToolError(f"new item {new_item_id} not found or available")
        diff_price += variants[new_item_id]["price"] - item["price"]
    return diff_price


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict[str, str]:
    return {
        "address1": address1,
        "address2": address2,
        "city": city,
        "state": state,
        "country": country,
        "zip": zip,
    }


# -- read tools ----------------------------------------------------------------------------------


def _email_key(profile: dict) -> str:
    return profile["email"].lower()


def _name_zip_key(profile: dict) -> tuple[str, str, str]:
    name = profile["name"]
    return name["first_name"].lower(), name["last_name"].lower(), profile["address"]["zip"]


@tool(ToolKind.READ)
def find_user_id_by_email(db: State, email: str) -> str:
    """Find a user's id from their email address (case-insensitive). Use it to authenticate a user.

    Returns the bare user id, or an error if no user has that email.

    Args:
        email: The user's email address, such as 'something@example.com'.
    """
    user_id = db["users"].first_key(_email_key, email.lower())
    if user_id is None:
        raise ToolError("user not found")
    return user_id


@tool(ToolKind.READ)
def find_user_id_by_name_zip(db: State, first_name: str, last_name: str, zip: str) -> str:
    """Find a user's id from their first name, last name and zip code. Use it to authenticate a user.

    Names are compared case-insensitively, the zip code exactly. Use this when the user cannot
    give, or cannot be found by, their email address. Returns the bare user id.

    Args:
        first_name: The user's first name, such as 'John'.
        last_name: The user's last name, such as 'Doe'.
        zip: The zip code of the user's address, such as '12345'.
    """
    user_id = db["users"].first_key(_name_zip_key, (first_name.lower(), last_name.lower(), zip))
    if user_id is None:
        raise ToolError("user not found")
    return user_id


@tool(ToolKind.READ)
def get_user_details(db: State, user_id: str) -> str:
    """Get a user's profile: name, address, email, payment methods (with gift card balances) and order ids.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
    """
    users = db["users"]
    if user_id not in users:
        raise ToolError("user not found")
    return json.dumps(users[user_id])


@tool(ToolKind.READ)
def get_order_details(db: State, order_id: str) -> str:
    """Get an order's status and details: items (with item ids, prices and options), address, fulfillments and payments.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
    """
    return json.dumps(_order(db, order_id))


@tool(ToolKind.READ)
def get_product_details(db: State, product_id: str) -> str:
    """Get a product's details: its name and every variant (item id, options, price, availability).

    Args:
        product_id: The product id, such as '6086499569'. A product id is not an item id.
    """
    products = db["products"]
    if product_id not in products:
        raise ToolError("product not found")
    return json.dumps(products[product_id])


@tool(ToolKind.READ)
def list_all_product_types(db: State) -> str:
    """List every product type the store sells, as a JSON object mapping product name to product id, sorted by name.

    Use the product id with get_product_details to see a product's variants.
    """
    names = {product["name"]: product["product_id"] for product in db["products"].values()}
    return json.dumps(dict(sorted(names.items())))


# -- write tools ---------------------------------------------------------------------------------


@tool(ToolKind.WRITE)
def cancel_pending_order(db: State, order_id: str, reason: CancelReason) -> str:
    """Cancel an order whose status is 'pending'; orders that are processed, delivered or otherwise cannot be cancelled.

    Before calling, tell the user the order and the reason and get their explicit confirmation
    (yes). On success the status becomes 'cancelled' and every payment is refunded to the method it
    came from: a gift card is credited at once, other methods within 5 to 7 business days. Returns
    the order after the cancellation.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
        reason: Why the user cancels: either 'no longer needed' or 'ordered by mistake'.
    """
    order = _order(db, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be cancelled")
    if reason not in CANCEL_REASONS:
        raise ToolError("invalid reason")
    methods = _payment_methods(db, order)
    refunds = []
    gift_card_credits: list[tuple[str, Any]] = []
    for payment in order["payment_history"]:
        payment_id = payment["payment_method_id"]
        refunds.append(
            {"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": payment_id}
        )
        if "gift_card" in payment_id:
            methods[payment_id]  # noqa: B018 - fail before changing anything if the card is unknown
            gift_card_credits.append((payment_id, payment["amount"]))
    if gift_card_credits:
        user_methods = db["users"].edit(order["user_id"])["payment_methods"]
        for payment_id, amount in gift_card_credits:
            card = user_methods[payment_id]
            card["balance"] = round(card["balance"] + amount, 2)
    order = db["orders"].edit(order_id)
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return json.dumps(order)


@tool(ToolKind.WRITE)
def modify_pending_order_address(
    db: State, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> str:
    """Change the shipping address of an order whose status is 'pending'.

    Before calling, tell the user the order and the full new address and get their explicit
    confirmation (yes). Returns the order after the change.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1', or '' if none.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    order = _order(db, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be modified")
    order = db["orders"].edit(order_id)
    order["address"] = _address(address1, address2, city, state, country, zip)
    return json.dumps(order)


@tool(ToolKind.WRITE)
def modify_pending_order_items(
    db: State, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    """Swap items of an order whose status is 'pending' for other variants (options) of the same products.

    This can be done only once per order: the order becomes 'pending (item modified)' and can then be
    neither modified nor cancelled, so collect every item to change before calling. Each new item
    must be an available variant of the same product as the item it replaces. The price difference
    is charged to, or refunded to, the given payment method; a gift card must hold enough balance to
    pay it. Before calling, tell the user the items, the new items and the payment method and get
    their explicit confirmation (yes). Returns the order after the change.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
        item_ids: The item ids to replace, such as ['1008292230']. An id may repeat if the order holds it several times.
        new_item_ids: The new item ids, in the same order as item_ids, such as ['1008292230'].
            Each must be a variant of the same product as the item it replaces.
        payment_method_id: The user's payment method that pays or receives the price difference,
            such as 'gift_card_0000000' or 'credit_card_0000000'.
    """
    order = _order(db, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be modified")
    _check_items_present(order, item_ids, lambda item_id: f"{item_id} not found")
    diff_price = _price_difference(db, order, item_ids, new_item_ids)
    methods = _payment_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    method = methods[payment_method_id]
    if method["source"] == "gift_card" and method["balance"] < diff_price:
        raise ToolError("insufficient gift card balance to pay for the new item")

    products = db["products"]
    order = db["orders"].edit(order_id)
    # The amount is the unrounded sum, as in tau-bench (rounding it changes the reference hashes).
    order["payment_history"].append(
        {
            "transaction_type": "payment" if diff_price > 0 else "refund",
            "amount": abs(diff_price),
            "payment_method_id": payment_method_id,
        }
    )
    if method["source"] == "gift_card":
        card = db["users"].edit(order["user_id"])["payment_methods"][payment_method_id]
        card["balance"] = round(card["balance"] - diff_price, 2)
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = next(item for item in order["items"] if item["item_id"] == item_id)
        variant = products[item["product_id"]]["variants"][new_item_id]  # this item's own product
        item["item_id"] = new_item_id
        item["price"] = variant["price"]
        item["options"] = dict(variant["options"])
    order["status"] = "pending (item modified)"
    return json.dumps(order)


@tool(ToolKind.WRITE)
def modify_pending_order_payment(db: State, order_id: str, payment_method_id: str) -> str:
    """Pay an order whose status is 'pending' with another of the user's payment methods.

    The order must have exactly one payment, and the new method must differ from it; a gift card
    must hold enough balance for the whole amount. The new method is charged and the old one
    refunded (a gift card at once, other methods within 5 to 7 business days). Before calling, tell
    the user the order and the new payment method and get their explicit confirmation (yes).
    Returns the order after the change.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
        payment_method_id: The user's new payment method, such as 'gift_card_0000000' or 'credit_card_0000000'.
    """
    order = _order(db, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be modified")
    methods = _payment_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    history = order["payment_history"]
    if len(history) != 1 or history[0]["transaction_type"] != "payment":
        raise ToolError("there should be exactly one payment for a pending order")
    old_id = history[0]["payment_method_id"]
    if old_id == payment_method_id:
        raise ToolError("the new payment method should be different from the current one")
    amount = history[0]["amount"]
    method = methods[payment_method_id]
    if method["source"] == "gift_card" and method["balance"] < amount:
        raise ToolError("insufficient gift card balance to pay for the order")
    old_is_gift_card = "gift_card" in old_id
    if old_is_gift_card:
        methods[old_id]  # noqa: B018 - fail before changing anything if the card is unknown

    order = db["orders"].edit(order_id)
    order["payment_history"].extend(
        [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
            {"transaction_type": "refund", "amount": amount, "payment_method_id": old_id},
        ]
    )
    if method["source"] == "gift_card" or old_is_gift_card:
        user_methods = db["users"].edit(order["user_id"])["payment_methods"]
        if method["source"] == "gift_card":
            card = user_methods[payment_method_id]
            card["balance"] = round(card["balance"] - amount, 2)
        if old_is_gift_card:
            card = user_methods[old_id]
            card["balance"] = round(card["balance"] + amount, 2)
    return json.dumps(order)


@tool(ToolKind.WRITE)
def exchange_delivered_order_items(
    db: State, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    """Request an exchange of items of an order whose status is 'delivered' for other variants of the same products.

    This can be done only once per order: the order becomes 'exchange requested', so collect every
    item to exchange before calling. Each new item must be an available variant of the same product
    as the item it replaces. The price difference is charged to, or refunded to, the given payment
    method; a gift card must hold enough balance to pay it. The user will receive an email with
    instructions for sending the items back. Before calling, tell the user the items, the new items
    and the payment method and get their explicit confirmation (yes). Returns the order after the
    request.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
        item_ids: The item ids to exchange, such as ['1008292230']. An id may repeat if the order holds it several times.
        new_item_ids: The new item ids, in the same order as item_ids, such as ['1008292230'].
            Each must be a variant of the same product as the item it replaces.
        payment_method_id: The user's payment method that pays or receives the price difference,
            such as 'gift_card_0000000' or 'credit_card_0000000'.
    """
    order = _order(db, order_id)
    if order["status"] != "delivered":
        raise ToolError("non-delivered order cannot be exchanged")
    _check_items_present(order, item_ids, lambda item_id: f"{item_id} not found")
    diff_price = round(_price_difference(db, order, item_ids, new_item_ids), 2)
    methods = _payment_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    method = methods[payment_method_id]
    if method["source"] == "gift_card" and method["balance"] < diff_price:
        raise ToolError("insufficient gift card balance to pay for the price difference")

    order = db["orders"].edit(order_id)
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = diff_price
    return json.dumps(order)


@tool(ToolKind.WRITE)
def return_delivered_order_items(
    db: State, order_id: str, item_ids: list[str], payment_method_id: str
) -> str:
    """Request a return of items of an order whose status is 'delivered'.

    The order becomes 'return requested', so collect every item to return before calling. The
    refund goes to the order's original payment method or to one of the user's gift cards. The
    user will receive an email with instructions for sending the items back. Before calling, tell
    the user the items and the refund method and get their explicit confirmation (yes). Returns
    the order after the request.

    Args:
        order_id: The order id, such as '#W0000000'. Include the '#' at the start.
        item_ids: The item ids to return, such as ['1008292230']. An id may repeat if the order holds it several times.
        payment_method_id: The payment method that receives the refund: the order's original one or a
            gift card of the user, such as 'gift_card_0000000' or 'credit_card_0000000'.
    """
    order = _order(db, order_id)
    if order["status"] != "delivered":
        raise ToolError("non-delivered order cannot be returned")
    if payment_method_id not in _payment_methods(db, order):
        raise ToolError("payment method not found")
    if (
        "gift_card" not in payment_method_id
        and payment_method_id != order["payment_history"][0]["payment_method_id"]
    ):
        raise ToolError("payment method should be either the original payment method or a gift card")
    _check_items_present(order, item_ids, lambda item_id: "some item not found")

    order = db["orders"].edit(order_id)
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return json.dumps(order)


@tool(ToolKind.WRITE)
def modify_user_address(
    db: State, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> str:
    """Change the default address stored in a user's profile (existing orders keep their own address).

    Before calling, tell the user the full new address and get their explicit confirmation (yes).
    Returns the user's profile after the change.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1', or '' if none.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    users = db["users"]
    if user_id not in users:
        raise ToolError("user not found")
    user = users.edit(user_id)
    user["address"] = _address(address1, address2, city, state, country, zip)
    return json.dumps(user)


# -- generic tools -------------------------------------------------------------------------------

_CALCULATOR_CHARACTERS = frozenset("0123456789+-*/(). ")
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_EXPONENT = 1000


def _evaluate(node: ast.AST) -> int | float:
    """Arithmetic on numbers only: walks the parsed expression, never calls ``eval``."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ToolError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    raise ToolError("invalid expression")


@tool(ToolKind.GENERIC)
def calculate(db: State, expression: str) -> str:
    """Calculate the result of an arithmetic expression, rounded to two decimals.

    Only numbers, the operators + - * /, parentheses, the decimal point and spaces are allowed.

    Args:
        expression: The expression to calculate, such as '2 + 2' or '(1299.99 - 1103.5) * 0.5'.
    """
    if not all(char in _CALCULATOR_CHARACTERS for char in expression):
        raise ToolError("invalid characters in expression")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"invalid syntax: {exc.msg}") from None
    try:
        value = _evaluate(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError as exc:
        raise ToolError(str(exc)) from None
    return str(round(float(value), 2))


@tool(ToolKind.GENERIC)
def think(db: State, thought: str) -> str:
    """Think about something: write down reasoning or a plan. It changes nothing and fetches no new information.

    Use it for complex reasoning, for example to work out which items to exchange, or to check a
    request against the policy before acting.

    Args:
        thought: The thought to write down.
    """
    return ""


@tool(ToolKind.GENERIC, ends_conversation=True)
def transfer_to_human_agents(db: State, summary: str) -> str:
    """Transfer the user to a human agent, with a summary of their issue.

    Only transfer when the user explicitly asks for a human agent, or when the request cannot be
    handled within the policy and the available tools.

    Args:
        summary: A summary of the user's issue, such as 'The user wants to return an order that is still in transit.'
    """
    return "Transfer successful"


TOOLS: list[Callable[..., Any]] = [
    find_user_id_by_email,
    find_user_id_by_name_zip,
    get_order_details,
    get_product_details,
    get_user_details,
    list_all_product_types,
    cancel_pending_order,
    exchange_delivered_order_items,
    modify_pending_order_address,
    modify_pending_order_items,
    modify_pending_order_payment,
    modify_user_address,
    return_delivered_order_items,
    calculate,
    think,
    transfer_to_human_agents,
]
