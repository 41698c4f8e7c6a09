"""Retail data: the synthetic generator, the tau-bench writer, the models and the validating loader."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from casework.domains.domain import DataError
from casework.domains.retail.data import check_retail, default_retail_database, load_retail
from casework.domains.retail.generator import (
    CATALOGUE,
    FULFILLED_STATUSES,
    dumps_indented,
    generate_retail,
    write_tau_layout,
)
from casework.domains.retail.models import ORDER_STATUSES, TABLE_ADAPTERS, validate_record
from casework.domains.state import canonical_hash_of

TAU_RETAIL_HASH = "ae10e8a7f23bedf88c90a528efa2d59d27cae24b5ce1f0d28768b39257bf9f0d"
SMALL = {"users": 200, "orders": 600, "products": 20}


@pytest.fixture(scope="module")
def small() -> dict:
    return generate_retail(3, **SMALL)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# -- generator -----------------------------------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    sizes = {"users": 40, "orders": 90, "products": 8}
    write_tau_layout(generate_retail(7, **sizes), tmp_path / "a")
    write_tau_layout(generate_retail(7, **sizes), tmp_path / "b")
    write_tau_layout(generate_retail(8, **sizes), tmp_path / "c")
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert sorted(a) == ["orders.json", "products.json", "users.json"]
    assert a == b
    assert all(a[name] != c[name] for name in a)


def test_written_files_are_json_dumps_indent_2(tmp_path: Path, small: dict) -> None:
    write_tau_layout(small, tmp_path)
    for name in ("users", "orders", "products"):
        assert (tmp_path / f"{name}.json").read_text() == json.dumps(small[name], indent=2) + "\n"


def _nested(depth: int) -> list:
    value: list = [{"deep": [1]}]
    for _ in range(depth):
        value = [1, {"k": value}]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        0,
        'é\n"x"',
        None,
        True,
        1.5,
        {"a": {}, "b": [], "c": [[1, [2]], {}], "d": {"e": None, "f": [True, 2.25]}},
        [(1, 2), {"é": "ü"}, ()],
        {1: {2: 3}, False: [{"x": None}], None: {1.5: "k"}},
        _nested(20),
        [1e16, 1e-05, 2**70, -0.0, 123456.78],  # where orjson's text differs: the json fallback
    ],
)
def test_dumps_indented_matches_json_dumps(value: object) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2)


def test_generated_records_pass_the_models_and_the_loader_checks(small: dict) -> None:
    for name, adapter in TABLE_ADAPTERS.items():
        adapter.validate_python(small[name])
    check_retail(small)
    order = next(iter(small["orders"].values()))
    validate_record("orders", order)
    assert list(order)[:7] == [
        "order_id",
        "user_id",
        "address",
        "items",
        "fulfillments",
        "status",
        "payment_history",
    ]
    user = next(iter(small["users"].values()))
    assert list(user) == ["name", "address", "email", "payment_methods", "orders"]
    product = next(iter(small["products"].values()))
    assert list(product) == ["name", "product_id", "variants"]
    assert list(next(iter(product["variants"].values()))) == ["item_id", "options", "available", "price"]


def test_generated_references_resolve(small: dict) -> None:
    users, orders, products = small["users"], small["orders"], small["products"]
    assert (len(users), len(orders), len(products)) == (200, 600, 20)
    owned: dict[str, list[str]] = {u: [] for u in users}
    for order_id, order in orders.items():
        assert order["order_id"] == order_id
        owned[order["user_id"]].append(order_id)
        methods = users[order["user_id"]]["payment_methods"]
        for payment in order["payment_history"]:
            assert payment["payment_method_id"] in methods
        for key in ("exchange_payment_method_id", "return_payment_method_id"):
            if key in order:
                assert order[key] in methods
        for item in order["items"]:
            variant = products[item["product_id"]]["variants"][item["item_id"]]
            assert item["name"] == products[item["product_id"]]["name"]
            assert (item["price"], item["options"]) == (variant["price"], variant["options"])
        item_ids = [item["item_id"] for item in order["items"]]
        assert len(set(item_ids)) == len(item_ids)
        for key in ("exchange_items", "return_items"):
            if key in order:
                assert set(order[key]) <= set(item_ids) and order[key] == sorted(order[key])
    for user_id, user in users.items():
        assert user["orders"] == owned[user_id]
        for pm_id, method in user["payment_methods"].items():
            assert method["id"] == pm_id


def test_generated_payments_and_statuses(small: dict) -> None:
    orders = small["orders"].values()
    statuses = Counter(order["status"] for order in orders)
    assert set(statuses) == set(ORDER_STATUSES)
    assert (
        statuses["pending"] > statuses["cancelled"] and statuses["delivered"] > statuses["return requested"]
    )
    for order in orders:
        items_total = round(sum(item["price"] for item in order["items"]), 2)
        history = order["payment_history"]
        net = sum(p["amount"] if p["transaction_type"] == "payment" else -p["amount"] for p in history)
        assert history[0]["transaction_type"] == "payment"
        if order["status"] == "cancelled":
            assert history[0]["amount"] == items_total
            assert [p["transaction_type"] for p in history] == ["payment", "refund"]
            assert round(net, 2) == 0 and order["cancel_reason"] in ("no longer needed", "ordered by mistake")
        else:
            assert round(net, 2) == items_total
            assert "cancel_reason" not in order
        if order["status"] == "pending (item modified)":
            assert len(history) == 2
        else:
            assert len(history) == (2 if order["status"] == "cancelled" else 1)
        if order["status"] == "exchange requested":
            assert len(order["exchange_new_items"]) == len(order["exchange_items"])
            assert isinstance(order["exchange_price_difference"], float)
        if order["status"] == "return requested":
            assert order["return_items"]


def test_generated_fulfillments(small: dict) -> None:
    tracking: list[str] = []
    for order in small["orders"].values():
        if order["status"] in FULFILLED_STATUSES:
            covered = [i for f in order["fulfillments"] for i in f["item_ids"]]
            assert sorted(covered) == sorted(item["item_id"] for item in order["items"])
            for fulfillment in order["fulfillments"]:
                assert all(re.fullmatch(r"\d{12}", t) for t in fulfillment["tracking_id"])
                tracking += fulfillment["tracking_id"]
        else:
            assert order["fulfillments"] == []
    assert len(tracking) == len(set(tracking)) > 0


def test_generated_ids_and_distributions(small: dict) -> None:
    users, orders, products = small["users"], small["orders"], small["products"]
    assert all(re.fullmatch(r"[a-z]+_[a-z]+_\d{4}", u) for u in users)
    assert all(re.fullmatch(r"#W\d{7}", o) for o in orders)
    item_ids = [i for p in products.values() for i in p["variants"]]
    assert all(re.fullmatch(r"\d{10}", i) for i in [*products, *item_ids])
    assert len(set(item_ids) | set(products)) == len(item_ids) + len(products)
    emails = [u["email"] for u in users.values()]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d{4}@example\.com", e) for e in emails)
    methods = [m for u in users.values() for m in u["payment_methods"].values()]
    assert len({m["id"] for m in methods}) == len(methods)
    sources = Counter(m["source"] for m in methods)
    for source in ("credit_card", "gift_card", "paypal"):
        assert 0.2 < sources[source] / len(methods) < 0.5
        assert all(re.fullmatch(rf"{source}_\d{{7}}", m["id"]) for m in methods if m["source"] == source)
    assert all(0 <= m["balance"] <= 100 for m in methods if m["source"] == "gift_card")
    assert all(re.fullmatch(r"\d{4}", m["last_four"]) for m in methods if m["source"] == "credit_card")
    for user in users.values():
        kinds = Counter(m["source"] for m in user["payment_methods"].values())
        assert kinds["gift_card"] <= 1 and kinds["paypal"] <= 1
        assert re.fullmatch(r"\d{5}", user["address"]["zip"]) and user["address"]["country"] == "USA"
    available = [v["available"] for p in products.values() for v in p["variants"].values()]
    assert 0.55 < sum(available) / len(available) < 0.85
    for product in products.values():
        assert 1 <= len(product["variants"]) <= 20
        options = [tuple(v["options"].items()) for v in product["variants"].values()]
        assert len(set(options)) == len(options)


def test_more_products_than_catalogue_types() -> None:
    tables = generate_retail(1, users=5, orders=10, products=len(CATALOGUE) + 3)
    assert len(tables["products"]) == len(CATALOGUE) + 3
    check_retail(tables)


def test_sizes_are_checked() -> None:
    assert generate_retail(0, users=0, orders=0, products=0) == {"users": {}, "orders": {}, "products": {}}
    with pytest.raises(ValueError, match="at least one user"):
        generate_retail(0, users=0, orders=5)


def test_default_database_is_built_once() -> None:
    db = default_retail_database()
    assert db is default_retail_database()
    assert {name: len(table) for name, table in db.tables.items()} == {
        "users": 500,
        "orders": 1000,
        "products": 50,
    }
    assert db.canonical_hash() == canonical_hash_of(generate_retail(0))


# -- loader --------------------------------------------------------------------------------------------
def test_load_tau_layout_directory(tmp_path: Path, small: dict) -> None:
    write_tau_layout(small, tmp_path)
    db = load_retail(tmp_path)
    assert db.canonical_hash() == canonical_hash_of(small)
    assert list(db.tables["orders"]) == list(small["orders"])  # file order kept
    assert db.tables["orders"] == small["orders"]


def test_load_single_db_json_with_user_ids(tmp_path: Path, small: dict) -> None:
    tables = json.loads(json.dumps(small))
    for user_id, user in tables["users"].items():
        user["user_id"] = user_id
    (tmp_path / "db.json").write_text(json.dumps(tables))
    db = load_retail(tmp_path / "db.json")
    assert db.canonical_hash() == canonical_hash_of(tables)


def test_missing_file_names_the_file(tmp_path: Path, small: dict) -> None:
    write_tau_layout(small, tmp_path)
    (tmp_path / "users.json").unlink()
    with pytest.raises(DataError, match=r"no users\.json in .*tau-bench layout directory"):
        load_retail(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load_retail(tmp_path / "nope.json")


def test_malformed_json_names_file_and_position(tmp_path: Path, small: dict) -> None:
    write_tau_layout(small, tmp_path)
    (tmp_path / "orders.json").write_text('{\n  "#W1": {\n    "order_id": "#W1",,\n')
    with pytest.raises(DataError, match=r"orders\.json: not valid JSON: .* line 3 column 23"):
        load_retail(tmp_path)


def test_wrong_field_type_names_record_and_field(tmp_path: Path, small: dict) -> None:
    tables = json.loads(json.dumps(small))
    order_id = list(tables["orders"])[5]
    tables["orders"][order_id]["items"][0]["price"] = "12.50"
    tables["orders"][list(tables["orders"])[6]]["status"] = "shipped"
    write_tau_layout(tables, tmp_path)
    with pytest.raises(DataError) as info:
        load_retail(tmp_path)
    message = str(info.value)
    assert (
        f"orders.json: order '{order_id}' field 'items[0].price': expected a valid number, got '12.50'"
        in message
    )
    assert "field 'status': expected one of pending, processed, delivered" in message
    assert "got 'shipped'" in message


def test_bad_records_in_db_json(tmp_path: Path, small: dict) -> None:
    tables = json.loads(json.dumps(small))
    user_id = next(iter(tables["users"]))
    method = next(iter(tables["users"][user_id]["payment_methods"].values()))
    method["source"] = "bitcoin"
    (tmp_path / "db.json").write_text(json.dumps(tables))
    with pytest.raises(
        DataError,
        match=rf"db\.json.*user '{user_id}' field 'payment_methods\.\w+\.source': expected one of credit_card, gift_card, paypal, got 'bitcoin'",
    ):
        load_retail(tmp_path / "db.json")
    (tmp_path / "db.json").write_text(json.dumps({"users": {}, "orders": {}}))
    with pytest.raises(DataError, match="no table 'products'"):
        load_retail(tmp_path / "db.json")
    (tmp_path / "db.json").write_text("[]")
    with pytest.raises(DataError, match="expected a JSON object"):
        load_retail(tmp_path / "db.json")


def test_broken_references_are_reported(tmp_path: Path, small: dict) -> None:
    tables = json.loads(json.dumps(small))
    first, second = list(tables["orders"])[:2]
    tables["orders"][first]["user_id"] = "nobody_0000"
    tables["orders"][second]["items"][0]["product_id"] = "0000000000"
    write_tau_layout(tables, tmp_path)
    with pytest.raises(DataError) as info:
        load_retail(tmp_path)
    message = str(info.value)
    assert f"order '{first}' field 'user_id': no user 'nobody_0000'" in message
    assert f"order '{second}' field 'items[0].product_id': no product '0000000000'" in message


def test_mismatched_record_key_is_reported(small: dict) -> None:
    tables = json.loads(json.dumps(small))
    order_id = next(iter(tables["orders"]))
    tables["orders"][order_id]["order_id"] = "#W0000000"
    with pytest.raises(DataError, match=rf"order '{order_id}' field 'order_id': expected '{order_id}'"):
        check_retail(tables)


def test_reference_data_loads_with_the_tau_hash(tau_retail_dir: Path) -> None:
    db = load_retail(tau_retail_dir)
    assert {name: len(table) for name, table in db.tables.items()} == {
        "users": 500,
        "orders": 1000,
        "products": 50,
    }
    assert db.canonical_hash() == TAU_RETAIL_HASH
