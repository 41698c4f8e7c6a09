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
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from casework.domains.domain import DataError
from casework.domains.loading import json_kind, read_tables
from casework.domains.retail.generator import generate_retail
from casework.domains.retail.models import PAYMENT_SOURCES, TABLE_ADAPTERS
from casework.domains.state import Database

TABLES = ("users", "orders", "products")
_RECORD = {"users": "user", "orders": "order", "products": "product"}
_LAYOUT_HINT = (
    "expected a tau-bench layout directory (users.json, orders.json, products.json) or a db.json file"
)
MAX_REPORTED = 5  # problems listed in one error message
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


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
def check_retail(tables: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Validate retail tables (record shapes, ids, references); raise :class:`DataError` on any problem.

    ``sources`` names where each table came from (used in messages; defaults to ``<table>.json``).
    """
    sources = dict(sources or {name: f"{name}.json" for name in TABLES})
    for name in TABLES:
        if name not in tables:
            raise DataError(f"no table {name!r}: a retail database has users, orders and products")
        if not isinstance(tables[name], dict):
            raise DataError(
                f"{sources[name]}: expected a JSON object of {name} keyed by id, got {_kind(tables[name])}"
            )
    for name in TABLES:
        try:
            TABLE_ADAPTERS[name].validate_python(tables[name])
        except ValidationError as exc:
            _raise(list(_describe_errors(name, sources[name], exc)), exc.error_count())
    _raise(list(_check_ids(tables, sources)))
    _raise(list(_check_references(tables, sources)))


def _raise(problems: list[str], total: int | None = None) -> None:
    if not problems:
        return
    total = max(total or 0, len(problems))
    shown = problems[:MAX_REPORTED]
    if total > len(shown):
        shown.append(f"... and {total - len(shown)} more problem(s)")
    raise DataError("\n".join(shown))


def _describe_errors(table: str, source: str, exc: ValidationError) -> Iterator[str]:
    for error in exc.errors(include_url=False)[:MAX_REPORTED]:
        loc = list(error["loc"])
        if not loc:  # the table itself (already checked to be a dict, so not expected)
            yield f"{source}: {error['msg']}"
            continue
        record_id, path = loc[0], _strip_union_tags(loc[1:])
        where = f"{source}: {_RECORD[table]} {record_id!r}"
        kind, given = error["type"], error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "missing":
            yield f"{where} field {_path(path)!r}: required field is missing"
            continue
        if kind == "union_tag_invalid":
            path = [*path, "source"]
            expected = "expected one of " + ", ".join(_QUOTED.findall(str(ctx.get("expected_tags", ""))))
            given = ctx.get("tag")
        elif kind == "union_tag_not_found":
            yield f"{where} field {_path([*path, 'source'])!r}: required field is missing"
            continue
        elif kind == "literal_error":
            expected = "expected one of " + ", ".join(_QUOTED.findall(str(ctx.get("expected", ""))))
        else:
            msg = error["msg"]
            expected = (
                "expected " + msg[len("Input should be ") :] if msg.startswith("Input should be ") else msg
            )
            if kind in ("dict_type", "model_type", "typed_dict_type"):
                expected = "expected an object"
        field = f" field {_path(path)!r}" if path else ""
        yield f"{where}{field}: {expected}, got {_show(given)}"


def _strip_union_tags(path: list[Any]) -> list[Any]:
    """Drop the discriminator tag pydantic inserts after a payment method id in error locations."""
    out: list[Any] = []
    for i, part in enumerate(path):
        if i >= 2 and path[i - 2] == "payment_methods" and part in PAYMENT_SOURCES:
            continue
        out.append(part)
    return out


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    return json_kind(value)


def _check_ids(tables: Mapping[str, Any], sources: Mapping[str, str]) -> Iterator[str]:
    """Each record's own id fields match the keys they are stored under."""
    for key, user in tables["users"].items():
        if "user_id" in user and user["user_id"] != key:
            yield f"{sources['users']}: user {key!r} field 'user_id': expected {key!r} (the record's key), got {_show(user['user_id'])}"
        for pm_key, method in user["payment_methods"].items():
            if method["id"] != pm_key:
                yield (
                    f"{sources['users']}: user {key!r} field {_path(['payment_methods', pm_key, 'id'])!r}: "
                    f"expected {pm_key!r} (the payment method's key), got {_show(method['id'])}"
                )
    for key, order in tables["orders"].items():
        if order["order_id"] != key:
            yield f"{sources['orders']}: order {key!r} field 'order_id': expected {key!r} (the record's key), got {_show(order['order_id'])}"
    for key, product in tables["products"].items():
        if product["product_id"] != key:
            yield f"{sources['products']}: product {key!r} field 'product_id': expected {key!r} (the record's key), got {_show(product['product_id'])}"
        for item_key, variant in product["variants"].items():
            if variant["item_id"] != item_key:
                yield (
                    f"{sources['products']}: product {key!r} field {_path(['variants', item_key, 'item_id'])!r}: "
                    f"expected {item_key!r} (the variant's key), got {_show(variant['item_id'])}"
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


__all__ = ["TABLES", "check_retail", "default_retail_database", "load_retail"]
