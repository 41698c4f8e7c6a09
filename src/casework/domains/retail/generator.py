"""Synthetic retail databases (tau-bench v1 layout): realistic, internally consistent, deterministic, fast.

``generate_retail(seed, users=500, orders=1000, products=50)`` returns ``{"users": ..., "orders": ...,
"products": ...}``, each table a dict keyed by id, records with the same key order as tau-bench's.
Guarantees:

* every reference resolves: ``order.user_id`` is a user, ``user.orders`` lists exactly that user's
  orders (in creation order), order items are variants of their product (same name, options, price
  as the catalogue at generation time), every ``payment_method_id`` belongs to the order's user;
* the first payment of an order equals the sum of its original item prices (rounded to 2 dp) and
  payments minus refunds equal the sum of the current item prices (``0`` for cancelled orders);
* statuses roughly like tau-bench (many pending and delivered, some processed and cancelled) plus a
  few ``pending (item modified)``, ``exchange requested`` and ``return requested`` orders carrying
  the fields the tools add; cancelled orders carry a refund and a ``cancel_reason``;
* fulfillments (12-digit tracking ids, covering all items) only on processed, delivered, exchange
  requested and return requested orders;
* all ids unique (user ids ``first_last_1234``, orders ``#W1234567``, 10-digit product and item
  ids, ``credit_card_1234567`` / ``gift_card_1234567`` / ``paypal_1234567`` payment methods) and
  emails unique (``first.last1234@example.com``).

Only ``random.Random(seed)`` is used (no clock, no set iteration), so the same seed gives the same
tables, and :func:`write_tau_layout` the same bytes. More products than the built-in catalogue of
product types reuse the types (same product name, different product id and variants).

Scale: 100,000 users and 200,000 orders generate in a few seconds; writing them with
:func:`write_tau_layout` (``indent=2``, like tau-bench's files) dominates.
"""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Mapping
from itertools import accumulate, product
from pathlib import Path
from typing import Any

from casework.domains.retail.tools import CANCEL_REASONS
from casework.domains.synthetic import CITIES, FIRST_NAMES, LAST_NAMES, STREETS, dumps_indented, write_json

# -- catalogue -------------------------------------------------------------------------------------
# (name, (low, high) base price in USD, {option: values}); variants are sampled option combinations.
#: product types: (name, (low, high) base price, {option: values}), from ``catalogue.json``
CATALOGUE: tuple[tuple[str, tuple[float, float], dict[str, tuple[str, ...]]], ...] = tuple(
    (
        entry["name"],
        (entry["price_range"][0], entry["price_range"][1]),
        {k: tuple(v) for k, v in entry["options"].items()},
    )
    for entry in json.loads((Path(__file__).parent / "catalogue.json").read_text(encoding="utf-8"))
)

CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
CARD_BRAND_CUM_WEIGHTS = tuple(accumulate((45, 40, 10, 5)))

# Order statuses and their share (tau-bench has ~42% pending, 37% delivered, 10% processed, 10% cancelled).
STATUS_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("pending", 38),
    ("processed", 10),
    ("delivered", 34),
    ("cancelled", 10),
    ("pending (item modified)", 2),
    ("exchange requested", 3),
    ("return requested", 3),
)
FULFILLED_STATUSES = frozenset({"processed", "delivered", "exchange requested", "return requested"})
# Payment methods per user: 1 (67%), 2 (27%), 3 (5%), 4 (1%); sources ~ 36% credit card, 34% gift card,
# 30% PayPal, at most one gift card and one PayPal account per user.
N_METHODS_CUM_WEIGHTS = tuple(accumulate((67, 27, 5, 1)))
SOURCE_CUM_WEIGHTS = tuple(accumulate((36, 34, 30)))
SOURCES = ("credit_card", "gift_card", "paypal")
VARIANT_AVAILABLE_P = 0.7  # share of variants in stock
ORDER_AT_HOME_P = 0.8  # share of orders shipped to the user's own address
SPLIT_FULFILLMENT_P = 0.1  # share of multi-item fulfilled orders shipped in two parcels

TABLE_NAMES = ("users", "orders", "products")


class _Ids:
    """Unique random numeric ids drawn from ``random.Random`` (collisions are redrawn)."""

    __slots__ = ("rng", "seen")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seen: set[int] = set()

    def draw(self, low: int, high: int) -> int:
        """A number in ``[low, high)`` not drawn before (from any range)."""
        randrange, seen = self.rng.randrange, self.seen
        while True:
            n = randrange(low, high)
            if n not in seen:
                seen.add(n)
                return n


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def _make_products(rng: random.Random, ids: _Ids, n: int) -> dict[str, dict[str, Any]]:
    products: dict[str, dict[str, Any]] = {}
    for i in range(n):
        name, (low, high), dims = CATALOGUE[i % len(CATALOGUE)]
        product_id = str(ids.draw(10**9, 10**10))
        base = rng.uniform(low, high)
        combos = list(product(*dims.values()))
        k = min(len(combos), rng.randint(5, 20))
        variants: dict[str, dict[str, Any]] = {}
        for combo in rng.sample(combos, k):
            item_id = str(ids.draw(10**9, 10**10))
            variants[item_id] = {
                "item_id": item_id,
                "options": dict(zip(dims, combo, strict=True)),
                "available": rng.random() < VARIANT_AVAILABLE_P,
                "price": _money(base * rng.uniform(0.9, 1.1)),
            }
        products[product_id] = {"name": name, "product_id": product_id, "variants": variants}
    return products


def _make_users(rng: random.Random, ids: _Ids, n: int) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {}
    emails: set[str] = set()
    random_, randrange, choice, choices = rng.random, rng.randrange, rng.choice, rng.choices
    n_methods = choices((1, 2, 3, 4), cum_weights=N_METHODS_CUM_WEIGHTS, k=n)
    for i in range(n):
        first, last = choice(FIRST_NAMES), choice(LAST_NAMES)
        lf, ll = first.lower(), last.lower()
        while True:
            user_id = f"{lf}_{ll}_{randrange(1000, 10000)}"
            if user_id not in users:
                break
        while True:
            email = f"{lf}.{ll}{randrange(1000, 10000)}@example.com"
            if email not in emails:
                emails.add(email)
                break
        methods: dict[str, dict[str, Any]] = {}
        have_gift = have_paypal = False
        while len(methods) < n_methods[i]:
            r = random_() * 100
            if r < SOURCE_CUM_WEIGHTS[0]:
                pm_id = f"credit_card_{ids.draw(1_000_000, 10_000_000)}"
                brand = choices(CARD_BRANDS, cum_weights=CARD_BRAND_CUM_WEIGHTS)[0]
                methods[pm_id] = {
                    "source": "credit_card",
                    "brand": brand,
                    "last_four": f"{randrange(10000):04d}",
                    "id": pm_id,
                }
            elif r < SOURCE_CUM_WEIGHTS[1]:
                if have_gift:
                    continue
                have_gift = True
                pm_id = f"gift_card_{ids.draw(1_000_000, 10_000_000)}"
                methods[pm_id] = {"source": "gift_card", "balance": randrange(0, 101), "id": pm_id}
            else:
                if have_paypal:
                    continue
                have_paypal = True
                pm_id = f"paypal_{ids.draw(1_000_000, 10_000_000)}"
                methods[pm_id] = {"source": "paypal", "id": pm_id}
        users[user_id] = {
            "name": {"first_name": first, "last_name": last},
            "address": _address(rng),
            "email": email,
            "payment_methods": methods,
            "orders": [],
        }
    return users


def _address(rng: random.Random) -> dict[str, str]:
    randrange = rng.randrange
    city, state, zip3 = rng.choice(CITIES)
    second = f"Suite {randrange(100, 1000)}" if rng.random() < 0.85 else f"Apt {randrange(1, 100)}"
    return {
        "address1": f"{randrange(100, 1000)} {rng.choice(STREETS)}",
        "address2": second,
        "city": city,
        "country": "USA",
        "state": state,
        "zip": f"{zip3}{randrange(100):02d}",
    }


def generate_retail(seed: int, users: int = 500, orders: int = 1000, products: int = 50) -> dict[str, dict]:
    """A synthetic retail database ``{"users", "orders", "products"}`` (see the module docstring)."""
    if users < 0 or orders < 0 or products < 0:
        raise ValueError("users, orders and products must be non-negative")
    if orders and (not users or not products):
        raise ValueError("orders need at least one user and one product")
    if users > 1_000_000 or orders > 3_000_000:
        raise ValueError("at most 1,000,000 users and 3,000,000 orders (the id spaces are too small beyond)")
    rng = random.Random(seed)
    ids = _Ids(rng)
    # Millions of new dicts trigger the cyclic GC over and over (3x slower at 200,000 orders); nothing
    # here makes cycles, so pause it while building.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        product_table = _make_products(rng, ids, products)
        user_table = _make_users(rng, ids, users)
        order_table = _make_orders(rng, ids, orders, user_table, product_table)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"users": user_table, "orders": order_table, "products": product_table}


def _make_orders(
    rng: random.Random,
    ids: _Ids,
    n: int,
    users: dict[str, dict[str, Any]],
    products: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    random_, randrange, choice = rng.random, rng.randrange, rng.choice
    draw = ids.draw
    # Flat views for speed: per product (name, product_id, [variant records]).
    catalogue = [(p["name"], pid, list(p["variants"].values())) for pid, p in products.items()]
    n_products = len(catalogue)
    variants_of = {product_id: variants for _, product_id, variants in catalogue}
    user_ids = list(users)
    user_records = [users[u] for u in user_ids]
    user_methods = [list(u["payment_methods"]) for u in user_records]
    user_gift = [next((m for m in ms if m.startswith("gift_card_")), None) for ms in user_methods]
    names, weights = zip(*STATUS_WEIGHTS, strict=True)
    statuses = rng.choices(names, cum_weights=tuple(accumulate(weights)), k=n)
    n_users = len(user_ids)
    table: dict[str, dict[str, Any]] = {}

    for status in statuses:
        order_id = f"#W{draw(1_000_000, 10_000_000)}"
        u = randrange(n_users)
        user_id = user_ids[u]
        user = user_records[u]
        methods = user_methods[u]
        address = dict(user["address"]) if random_() < ORDER_AT_HOME_P else _address(rng)
        # Items: 1-5 distinct variants.
        n_items = randrange(1, 6)
        items: list[dict[str, Any]] = []
        taken: list[str] = []
        while len(items) < n_items:
            name, product_id, variants = catalogue[randrange(n_products)]
            v = variants[randrange(len(variants))]
            item_id = v["item_id"]
            if item_id in taken:
                continue
            taken.append(item_id)
            items.append(
                {
                    "name": name,
                    "product_id": product_id,
                    "item_id": item_id,
                    "price": v["price"],
                    "options": dict(v["options"]),
                }
            )
        pm_id = methods[randrange(len(methods))]
        total = _money(sum(it["price"] for it in items))
        payments = [{"transaction_type": "payment", "amount": total, "payment_method_id": pm_id}]
        fulfillments: list[dict[str, Any]] = []
        if status in FULFILLED_STATUSES:
            if len(taken) > 1 and random_() < SPLIT_FULFILLMENT_P:
                cut = randrange(1, len(taken))
                parts = (taken[:cut], taken[cut:])
            else:
                parts = (taken,)
            fulfillments = [{"tracking_id": [str(draw(10**11, 10**12))], "item_ids": list(p)} for p in parts]
        order: dict[str, Any] = {
            "order_id": order_id,
            "user_id": user_id,
            "address": address,
            "items": items,
            "fulfillments": fulfillments,
            "status": status,
            "payment_history": payments,
        }
        if status == "cancelled":
            payments.append({"transaction_type": "refund", "amount": total, "payment_method_id": pm_id})
            order["cancel_reason"] = choice(CANCEL_REASONS)
        elif status == "pending (item modified)":
            # One item swapped for another variant of the same product; the difference is charged or refunded.
            it = items[randrange(len(items))]
            alternatives = [
                v for v in variants_of[it["product_id"]] if v["item_id"] not in taken and v["available"]
            ]
            if alternatives:
                new = alternatives[randrange(len(alternatives))]
                diff = _money(new["price"] - it["price"])
                it["item_id"], it["price"], it["options"] = new["item_id"], new["price"], dict(new["options"])
                payments.append(
                    {
                        "transaction_type": "payment" if diff >= 0 else "refund",
                        "amount": abs(diff),
                        "payment_method_id": pm_id,
                    }
                )
            else:
                order["status"] = "pending"
        elif status == "exchange requested":
            chosen = sorted(rng.sample(taken, randrange(1, len(taken) + 1)))
            by_id = {it["item_id"]: it for it in items}
            new_ids: list[str] = []
            diff = 0.0
            for item_id in chosen:
                old = by_id[item_id]
                alternatives = [
                    v for v in variants_of[old["product_id"]] if v["item_id"] != item_id and v["available"]
                ]
                if not alternatives:  # no other variant in stock: exchange for the same item
                    alternatives = [products[old["product_id"]]["variants"][item_id]]
                new = alternatives[randrange(len(alternatives))]
                new_ids.append(new["item_id"])
                diff += new["price"] - old["price"]
            order["exchange_items"] = chosen
            order["exchange_new_items"] = sorted(new_ids)
            order["exchange_payment_method_id"] = pm_id
            order["exchange_price_difference"] = _money(diff)
        elif status == "return requested":
            order["return_items"] = sorted(rng.sample(taken, randrange(1, len(taken) + 1)))
            gift = user_gift[u]
            order["return_payment_method_id"] = gift if gift is not None and random_() < 0.3 else pm_id
        table[order_id] = order
        user["orders"].append(order_id)
    return table


def write_tau_layout(tables: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``users.json``, ``orders.json`` and ``products.json`` (tau-bench layout) into ``out_dir``.

    Each file holds exactly ``json.dumps(table, indent=2)`` plus a final newline (ASCII, key order
    kept), so the same tables always give the same bytes (:func:`casework.domains.synthetic.write_json`).
    Returns the paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_json(out_dir / f"{name}.json", tables[name]) for name in TABLE_NAMES]


__all__ = ["CATALOGUE", "dumps_indented", "generate_retail", "write_tau_layout"]
