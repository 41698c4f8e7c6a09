"""Pydantic models of the retail records (tau-bench v1 layout), used to validate loaded data.

The database itself keeps plain dicts (key order as in the file); these models only check shapes.
They are strict (no coercion: ``"12"`` is not a number, ``1`` is not a string) and require the core
fields. Orders allow extra fields (tools add some, such as ``cancel_reason``; the known ones are typed
when present) and so do users (tau2's ``db.json`` users carry ``user_id``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

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
TransactionType = Literal["payment", "refund"]

Number = float  # strict float accepts ints too (JSON numbers), but not strings or bools


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class _Open(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Name(_Strict):
    first_name: str
    last_name: str


class Address(_Strict):
    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str


class CreditCard(_Strict):
    source: Literal["credit_card"]
    brand: str
    last_four: str
    id: str


class GiftCard(_Strict):
    source: Literal["gift_card"]
    balance: Number
    id: str


class Paypal(_Strict):
    source: Literal["paypal"]
    id: str


PaymentMethod = Annotated[CreditCard | GiftCard | Paypal, Field(discriminator="source")]


class User(_Open):
    name: Name
    address: Address
    email: str
    payment_methods: dict[str, PaymentMethod]
    orders: list[str]


class OrderItem(_Strict):
    name: str
    product_id: str
    item_id: str
    price: Number
    options: dict[str, str]


class Fulfillment(_Strict):
    tracking_id: list[str]
    item_ids: list[str]


class Payment(_Strict):
    transaction_type: TransactionType
    amount: Number
    payment_method_id: str


class Order(_Open):
    order_id: str
    user_id: str
    address: Address
    items: list[OrderItem]
    fulfillments: list[Fulfillment]
    status: OrderStatus
    payment_history: list[Payment]
    # Added by the write tools (typed when present).
    cancel_reason: str | None = None
    exchange_items: list[str] | None = None
    exchange_new_items: list[str] | None = None
    exchange_payment_method_id: str | None = None
    exchange_price_difference: Number | None = None
    return_items: list[str] | None = None
    return_payment_method_id: str | None = None


class Variant(_Strict):
    item_id: str
    options: dict[str, str]
    available: bool
    price: Number


class Product(_Strict):
    name: str
    product_id: str
    variants: dict[str, Variant]


# Whole-table validators (one call into pydantic-core per table: much faster than per record).
USERS = TypeAdapter(dict[str, User])
ORDERS = TypeAdapter(dict[str, Order])
PRODUCTS = TypeAdapter(dict[str, Product])
TABLE_ADAPTERS: dict[str, TypeAdapter] = {"users": USERS, "orders": ORDERS, "products": PRODUCTS}

__all__ = [
    "ORDER_STATUSES",
    "TABLE_ADAPTERS",
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
]
