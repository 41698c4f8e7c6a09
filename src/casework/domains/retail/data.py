"""Loading, validating and building retail databases.

Two on-disk layouts are read by :func:`load_retail`:

* a **tau-bench v1 directory** holding ``users.json``, ``orders.json`` and ``products.json``, each a
  JSON object ``{id: record}``;
* a **single JSON file** ``{"users": ..., "orders": ..., "products": ...}`` (tau2's ``db.json``).

Every record is checked against :mod:`casework.domains.retail.models` (one pydantic call per table),
record ids against their keys, and references across tables (``order.user_id``, item product and
variant ids, ``user.orders``). Any problem raises :class:`~casework.domains.domain.DataError` naming
the file, the record and the field, e.g. ``orders.json: order '#W123' field 'status': expected one of
pending, processed, ..., got 'shipped'``. The :class:`Database` keeps the raw dicts, in file order.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from casework.domains.loading import TableSchema, field_path, read_tables, show_value
from casework.domains.retail.generator import generate_retail
from casework.domains.retail.models import PAYMENT_SOURCES, TABLE_ADAPTERS
from casework.domains.state import Database

TABLES = ("users", "orders", "products")
_RECORD = {"users": "user", "orders": "order", "products": "product"}
_LAYOUT_HINT = (
    "expected a tau-bench layout directory (users.json, orders.json, products.json) or a db.json file"
)


@functools.cache
def default_retail_database() -> Database:
    """The embedded default database: ``generate_retail(seed=0)`` with default sizes, built once per process."""
    return Database(generate_retail(seed=0))


def load_retail(path: Path) -> Database:
    """Read and validate a retail database from a tau-bench directory or a single ``db.json`` file."""
    path = Path(path)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing builds millions of containers without cycles; the GC only slows it down
    try:
        tables, sources = _read(path)
        check_retail(tables, sources)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Database(tables)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    return read_tables(path, TABLES, domain="retail", layout_hint=_LAYOUT_HINT, single_file="tau2's db.json")


# -- validation ------------------------------------------------------------------------------------
def _strip_union_tags(path: list[Any]) -> list[Any]:
    """Drop the discriminator tag pydantic inserts after a payment method id in error locations."""
    out: list[Any] = []
    for i, part in enumerate(path):
        if i >= 2 and path[i - 2] == "payment_methods" and part in PAYMENT_SOURCES:
            continue
        out.append(part)
    return out


def check_retail(tables: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Validate retail tables (record shapes, ids, references); raise :class:`DataError` on any problem.

    ``sources`` names where each table came from (used in messages; defaults to ``<table>.json``).
    """
    _SCHEMA.check(tables, sources)


def _check_ids(tables: Mapping[str, Any], sources: Mapping[str, str]) -> Iterator[str]:
    """Each record's own id fields match the keys they are stored under."""
    for key, user in tables["users"].items():
        if "user_id" in user and user["user_id"] != key:
            yield f"{sources['users']}: user {key!r} field 'user_id': expected {key!r} (the record's key), got {show_value(user['user_id'])}"
        for pm_key, method in user["payment_methods"].items():
            if method["id"] != pm_key:
                yield (
                    f"{sources['users']}: user {key!r} field {field_path(['payment_methods', pm_key, 'id'])!r}: "
                    f"expected {pm_key!r} (the payment method's key), got {show_value(method['id'])}"
                )
    for key, order in tables["orders"].items():
        if order["order_id"] != key:
            yield f"{sources['orders']}: order {key!r} field 'order_id': expected {key!r} (the record's key), got {show_value(order['order_id'])}"
    for key, product in tables["products"].items():
        if product["product_id"] != key:
            yield f"{sources['products']}: product {key!r} field 'product_id': expected {key!r} (the record's key), got {show_value(product['product_id'])}"
        for item_key, variant in product["variants"].items():
            if variant["item_id"] != item_key:
                yield (
                    f"{sources['products']}: product {key!r} field {field_path(['variants', item_key, 'item_id'])!r}: "
                    f"expected {item_key!r} (the variant's key), got {show_value(variant['item_id'])}"
                )


def _check_references(tables: Mapping[str, Any], sources: Mapping[str, str]) -> Iterator[str]:
    """References across tables resolve: order.user_id, order items, user.orders."""
    users, orders, products = tables["users"], tables["orders"], tables["products"]
    for key, order in orders.items():
        if order["user_id"] not in users:
            yield f"{sources['orders']}: order {key!r} field 'user_id': no user {order['user_id']!r} in {sources['users']}"
        for i, item in enumerate(order["items"]):
            product = products.get(item["product_id"])
            if product is None:
                yield (
                    f"{sources['orders']}: order {key!r} field 'items[{i}].product_id': "
                    f"no product {item['product_id']!r} in {sources['products']}"
                )
            elif item["item_id"] not in product["variants"]:
                yield (
                    f"{sources['orders']}: order {key!r} field 'items[{i}].item_id': product "
                    f"{item['product_id']!r} has no variant {item['item_id']!r} in {sources['products']}"
                )
    for key, user in users.items():
        for i, order_id in enumerate(user["orders"]):
            if order_id not in orders:
                yield f"{sources['users']}: user {key!r} field 'orders[{i}]': no order {order_id!r} in {sources['orders']}"


_SCHEMA = TableSchema(
    domain="retail",
    tables=TABLES,
    adapters=TABLE_ADAPTERS,
    records=_RECORD,
    checks=(_check_ids, _check_references),
    strip_loc=_strip_union_tags,
)

__all__ = ["TABLES", "check_retail", "default_retail_database", "load_retail"]
