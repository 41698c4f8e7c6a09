"""Pydantic models of the retail records (tau-bench v1 layout), used to validate loaded data.

The records are declared as pydantic-configured ``TypedDict`` classes: the database keeps plain dicts
(key order as in the file), and these classes both type those dicts statically and validate them at
run time through the :data:`TABLE_ADAPTERS` (one ``TypeAdapter`` per table, so a whole table is checked
in one call into pydantic-core; about 4x faster than ``BaseModel`` instances, which matters for
200,000-order databases). Validation is strict (no coercion: ``"12"`` is not a number, ``1`` is not a
string) and requires the core fields. Orders allow extra fields (tools add some; the known ones are
typed when present) and so do users (tau2's ``db.json`` users carry ``user_id``).

Use :func:`validate_record` to check one record, e.g. ``validate_record("orders", order)``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

OrderStatus = Literal[
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "pending (item modified)",
    "exchange requested",
    "return requested",
]
ORDER_STATUSES: tuple[str, ...] = OrderStatus.__args__  # type: ignore[attr-defined]
PaymentSource = Literal["credit_card", "gift_card", "paypal"]
PAYMENT_SOURCES: tuple[str, ...] = PaymentSource.__args__  # type: ignore[attr-defined]
TransactionType = Literal["payment", "refund"]

# Strict float accepts ints too (JSON numbers), but not strings or bools.
_STRICT = ConfigDict(strict=True)
_OPEN = ConfigDict(strict=True, extra="allow")


@with_config(_STRICT)
class Name(TypedDict):
    first_name: str
    last_name: str


@with_config(_STRICT)
class Address(TypedDict):
    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str


@with_config(_STRICT)
class CreditCard(TypedDict):
    source: Literal["credit_card"]
    brand: str
    last_four: str
    id: str


@with_config(_STRICT)
class GiftCard(TypedDict):
    source: Literal["gift_card"]
    balance: float
    id: str


@with_config(_STRICT)
class Paypal(TypedDict):
    source: Literal["paypal"]
    id: str


PaymentMethod = Annotated[CreditCard | GiftCard | Paypal, Field(discriminator="source")]


@with_config(_OPEN)
class User(TypedDict):
    name: Name
    address: Address
    email: str
    payment_methods: dict[str, PaymentMethod]
    orders: list[str]


@with_config(_STRICT)
class OrderItem(TypedDict):
    name: str
    product_id: str
    item_id: str
    price: float
    options: dict[str, str]


@with_config(_STRICT)
class Fulfillment(TypedDict):
    tracking_id: list[str]
    item_ids: list[str]


@with_config(_STRICT)
class Payment(TypedDict):
    transaction_type: TransactionType
    amount: float
    payment_method_id: str


@with_config(_OPEN)
class Order(TypedDict):
    order_id: str
    user_id: str
    address: Address
    items: list[OrderItem]
    fulfillments: list[Fulfillment]
    status: OrderStatus
    payment_history: list[Payment]
    # Added by the write tools (typed when present).
    cancel_reason: NotRequired[str]
    exchange_items: NotRequired[list[str]]
    exchange_new_items: NotRequired[list[str]]
    exchange_payment_method_id: NotRequired[str]
    exchange_price_difference: NotRequired[float]
    return_items: NotRequired[list[str]]
    return_payment_method_id: NotRequired[str]


@with_config(_STRICT)
class Variant(TypedDict):
    item_id: str
    options: dict[str, str]
    available: bool
    price: float


@with_config(_STRICT)
class Product(TypedDict):
    name: str
    product_id: str
    variants: dict[str, Variant]


# Whole-table validators: {record id: record}.
USERS: TypeAdapter[dict[str, User]] = TypeAdapter(dict[str, User])
ORDERS: TypeAdapter[dict[str, Order]] = TypeAdapter(dict[str, Order])
PRODUCTS: TypeAdapter[dict[str, Product]] = TypeAdapter(dict[str, Product])
TABLE_ADAPTERS: dict[str, TypeAdapter[Any]] = {"users": USERS, "orders": ORDERS, "products": PRODUCTS}
RECORD_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "users": TypeAdapter(User),
    "orders": TypeAdapter(Order),
    "products": TypeAdapter(Product),
}


def validate_record(table: str, record: Any) -> Any:
    """Validate one record of ``table`` ("users", "orders" or "products"); raises ``ValidationError``."""
    return RECORD_ADAPTERS[table].validate_python(record)


__all__ = [
    "ORDERS",
    "ORDER_STATUSES",
    "PAYMENT_SOURCES",
    "PRODUCTS",
    "RECORD_ADAPTERS",
    "TABLE_ADAPTERS",
    "USERS",
    "Address",
    "CreditCard",
    "Fulfillment",
    "GiftCard",
    "Name",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Payment",
    "PaymentMethod",
    "PaymentSource",
    "Paypal",
    "Product",
    "TransactionType",
    "User",
    "Variant",
    "validate_record",
]
