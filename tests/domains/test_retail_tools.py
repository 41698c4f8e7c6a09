"""The retail tools on a small hand-made database: results, error strings, state changes, fork isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from casework.domains.retail import RETAIL
from casework.domains.state import Database, State, copy_json
from casework.domains.tools import ToolKind

CARD, PAYPAL, GIFT = "credit_card_1111111", "paypal_2222222", "gift_card_3333333"
BOB_GIFT, BOB_CARD = "gift_card_4444444", "credit_card_5555555"
SHIRT, LAMP = "1000000001", "1000000002"
BLUE_M, RED_M, GREEN_L, BLUE_L = "2000000001", "2000000002", "2000000003", "2000000004"
WHITE, BLACK, GOLD, SILVER = "3000000001", "3000000002", "3000000003", "3000000004"

WRITE_TOOLS = {
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
}
NEW_ADDRESS = {
    "address1": "1 New Street",
    "address2": "Floor 2",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "73301",
}


def _variant(item_id: str, price: float, available: bool = True, **options: str) -> dict[str, Any]:
    return {"item_id": item_id, "options": options, "available": available, "price": price}


def _item(product: str, item_id: str, price: float, **options: str) -> dict[str, Any]:
    name = {SHIRT: "T-Shirt", LAMP: "Desk Lamp"}[product]
    return {"name": name, "product_id": product, "item_id": item_id, "price": price, "options": options}


def _order(
    order_id: str, user: str, status: str, items: list, payments: list[tuple[float, str]]
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "user_id": user,
        "address": {
            "address1": "5 Old Road",
            "address2": "",
            "city": "Boston",
            "country": "USA",
            "state": "MA",
            "zip": "02101",
        },
        "items": items,
        "fulfillments": [],
        "status": status,
        "payment_history": [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": method}
            for amount, method in payments
        ],
    }


def _tables() -> dict[str, dict[str, Any]]:
    products = {
        SHIRT: {
            "name": "T-Shirt",
            "product_id": SHIRT,
            "variants": {
                BLUE_M: _variant(BLUE_M, 20.0, color="blue", size="M"),
                RED_M: _variant(RED_M, 25.5, color="red", size="M"),
                GREEN_L: _variant(GREEN_L, 22.0, False, color="green", size="L"),
                BLUE_L: _variant(BLUE_L, 19.0, color="blue", size="L"),
            },
        },
        LAMP: {
            "name": "Desk Lamp",
            "product_id": LAMP,
            "variants": {
                WHITE: _variant(WHITE, 50.0, color="white"),
                BLACK: _variant(BLACK, 80.0, color="black"),
                GOLD: _variant(GOLD, 300.0, color="gold"),
                SILVER: _variant(SILVER, 60.0, False, color="silver"),
            },
        },
    }
    users = {
        "alice_smith_1": {
            "name": {"first_name": "Alice", "last_name": "Smith"},
            "address": {
                "address1": "5 Old Road",
                "address2": "",
                "city": "Boston",
                "country": "USA",
                "state": "MA",
                "zip": "02101",
            },
            "email": "Alice.Smith@example.com",
            "payment_methods": {
                CARD: {"source": "credit_card", "brand": "visa", "last_four": "1111", "id": CARD},
                PAYPAL: {"source": "paypal", "id": PAYPAL},
                GIFT: {"source": "gift_card", "balance": 100.0, "id": GIFT},
            },
            "orders": ["#W1000001", "#W1000002", "#W1000003", "#W1000004", "#W1000005"],
        },
        "bob_jones_2": {
            "name": {"first_name": "Bob", "last_name": "Jones"},
            "address": {
                "address1": "9 Elm St",
                "address2": "Apt 3",
                "city": "Denver",
                "country": "USA",
                "state": "CO",
                "zip": "80201",
            },
            "email": "bob.jones@example.com",
            "payment_methods": {
                BOB_GIFT: {"source": "gift_card", "balance": 10.0, "id": BOB_GIFT},
                BOB_CARD: {"source": "credit_card", "brand": "amex", "last_four": "5555", "id": BOB_CARD},
            },
            "orders": ["#W2000001"],
        },
    }
    orders = {
        "#W1000001": _order(
            "#W1000001",
            "alice_smith_1",
            "pending",
            [_item(SHIRT, BLUE_M, 20.0, color="blue", size="M"), _item(LAMP, WHITE, 50.0, color="white")],
            [(70.0, CARD)],
        ),
        "#W1000002": _order(
            "#W1000002",
            "alice_smith_1",
            "delivered",
            [
                _item(SHIRT, BLUE_M, 20.0, color="blue", size="M"),
                _item(SHIRT, BLUE_M, 20.0, color="blue", size="M"),
                _item(LAMP, WHITE, 50.0, color="white"),
            ],
            [(90.0, PAYPAL)],
        ),
        "#W1000003": _order(
            "#W1000003",
            "alice_smith_1",
            "processed",
            [_item(LAMP, BLACK, 80.0, color="black")],
            [(80.0, CARD)],
        ),
        "#W1000004": _order(
            "#W1000004",
            "alice_smith_1",
            "pending",
            [_item(SHIRT, BLUE_M, 20.0, color="blue", size="M")],
            [(20.0, GIFT)],
        ),
        "#W1000005": _order(
            "#W1000005",
            "alice_smith_1",
            "pending",
            [_item(LAMP, WHITE, 50.0, color="white")],
            [(30.0, GIFT), (20.0, CARD)],
        ),
        "#W2000001": _order(
            "#W2000001",
            "bob_jones_2",
            "pending",
            [_item(LAMP, WHITE, 50.0, color="white")],
            [(50.0, BOB_CARD)],
        ),
    }
    return {"orders": orders, "products": products, "users": users}


@pytest.fixture
def db() -> Database:
    return Database(_tables())


@pytest.fixture
def state(db: Database) -> State:
    return db.fork()


def call(fork: State, name: str, /, **arguments: Any) -> str:
    """Call a tool by name; ``fork`` and ``name`` are positional-only so an address's "state" can be an argument."""
    return RETAIL.toolbox.call(fork, name, arguments)


def assert_base_untouched(db: Database) -> None:
    """The base still holds exactly the data it was built from, and a fresh fork sees it."""
    assert db.tables == _tables()
    assert db.fork().canonical_hash() == Database(_tables()).canonical_hash()


# -- the toolbox -----------------------------------------------------------------------------------


def test_sixteen_tools_in_order_with_kinds() -> None:
    toolbox = RETAIL.toolbox
    names = toolbox.names()
    assert len(names) == 16
    assert len(toolbox.names(ToolKind.READ)) == 6
    assert set(toolbox.names(ToolKind.WRITE)) == WRITE_TOOLS
    assert toolbox.names(ToolKind.GENERIC) == ["calculate", "think", "transfer_to_human_agents"]
    kinds = [toolbox[n].kind for n in names]
    assert kinds == [ToolKind.READ] * 6 + [ToolKind.WRITE] * 7 + [ToolKind.GENERIC] * 3
    assert [n for n in names if toolbox[n].ends_conversation] == ["transfer_to_human_agents"]
    assert all(RETAIL.is_write(n) == (n in WRITE_TOOLS) for n in names)


def test_openai_schemas_have_required_and_enum() -> None:
    schemas = {s["function"]["name"]: s for s in RETAIL.toolbox.openai_schemas()}
    assert len(schemas) == 16
    for schema in schemas.values():
        assert schema["type"] == "function"
        params = schema["function"]["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) == set(params["properties"])  # every argument is required
        assert all(p.get("description") for p in params["properties"].values())
        assert schema["function"]["description"]
    cancel = schemas["cancel_pending_order"]["function"]
    assert cancel["parameters"]["properties"]["reason"]["enum"] == ["no longer needed", "ordered by mistake"]
    assert cancel["parameters"]["properties"]["reason"]["type"] == "string"
    assert cancel["parameters"]["required"] == ["order_id", "reason"]
    assert "confirmation" in cancel["description"]
    items = schemas["modify_pending_order_items"]["function"]["parameters"]
    assert items["properties"]["item_ids"] == {
        "description": items["properties"]["item_ids"]["description"],
        "items": {"type": "string"},
        "type": "array",
    }
    assert items["required"] == ["order_id", "item_ids", "new_item_ids", "payment_method_id"]
    assert schemas["list_all_product_types"]["function"]["parameters"]["properties"] == {}
    assert schemas["list_all_product_types"]["function"]["parameters"]["required"] == []
    for name in WRITE_TOOLS:
        assert "confirmation" in schemas[name]["function"]["description"], name
    assert (
        "'#W0000000'"
        in schemas["get_order_details"]["function"]["parameters"]["properties"]["order_id"]["description"]
    )


def test_argument_errors(state: State, db: Database) -> None:
    assert call(state, "no_such_tool").startswith("Error: unknown tool 'no_such_tool'")
    assert call(state, "get_order_details") == (
        "Error: invalid arguments for get_order_details: missing required argument 'order_id'"
    )
    extra = call(state, "get_order_details", order_id="#W1000001", verbose=True)
    assert extra == "Error: invalid arguments for get_order_details: unexpected argument 'verbose'"
    wrong = call(state, "get_order_details", order_id=1000001)
    assert wrong.startswith("Error: invalid arguments for get_order_details: argument 'order_id'")
    not_list = call(
        state, "return_delivered_order_items", order_id="#W1000002", item_ids=BLUE_M, payment_method_id=PAYPAL
    )
    assert not_list.startswith(
        "Error: invalid arguments for return_delivered_order_items: argument 'item_ids'"
    )
    assert RETAIL.toolbox.call(state, "get_order_details", '{"order_id": "#W1000001"}').startswith("{")
    assert not state.changed_keys()
    assert_base_untouched(db)


# -- read tools ------------------------------------------------------------------------------------


def test_find_user_id_by_email(state: State) -> None:
    assert call(state, "find_user_id_by_email", email="alice.smith@EXAMPLE.com") == "alice_smith_1"
    assert call(state, "find_user_id_by_email", email="Alice.Smith@example.com") == "alice_smith_1"
    assert call(state, "find_user_id_by_email", email="nobody@example.com") == "Error: user not found"


def test_find_user_id_by_name_zip(state: State) -> None:
    assert (
        call(state, "find_user_id_by_name_zip", first_name="bob", last_name="JONES", zip="80201")
        == "bob_jones_2"
    )
    assert call(state, "find_user_id_by_name_zip", first_name="Bob", last_name="Jones", zip="80202") == (
        "Error: user not found"
    )
    assert call(state, "find_user_id_by_name_zip", first_name="Rob", last_name="Jones", zip="80201") == (
        "Error: user not found"
    )


def test_name_zip_lookup_follows_an_address_change_on_this_fork_only(state: State, db: Database) -> None:
    address = {"address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX", "country": "USA"}
    assert call(state, "modify_user_address", user_id="bob_jones_2", zip="73301", **address).startswith("{")
    found = call(state, "find_user_id_by_name_zip", first_name="Bob", last_name="Jones", zip="73301")
    assert found == "bob_jones_2"
    old = call(state, "find_user_id_by_name_zip", first_name="Bob", last_name="Jones", zip="80201")
    assert old == "Error: user not found"
    other = db.fork()  # a sibling fork still finds the old address
    assert (
        call(other, "find_user_id_by_name_zip", first_name="Bob", last_name="Jones", zip="80201")
        == "bob_jones_2"
    )


def test_get_details(state: State, db: Database) -> None:
    user = call(state, "get_user_details", user_id="bob_jones_2")
    assert user == json.dumps(db.tables["users"]["bob_jones_2"])
    assert json.loads(user)["payment_methods"][BOB_GIFT]["balance"] == 10.0
    assert call(state, "get_user_details", user_id="carol") == "Error: user not found"
    order = call(state, "get_order_details", order_id="#W1000001")
    assert order == json.dumps(db.tables["orders"]["#W1000001"])
    assert ", " in order and ": " in order  # default separators, like tau-bench
    assert call(state, "get_order_details", order_id="W1000001") == "Error: order not found"
    assert call(state, "get_product_details", product_id=LAMP) == json.dumps(db.tables["products"][LAMP])
    assert call(state, "get_product_details", product_id=BLUE_M) == "Error: product not found"


def test_list_all_product_types(state: State) -> None:
    listed = call(state, "list_all_product_types")
    assert listed == json.dumps({"Desk Lamp": LAMP, "T-Shirt": SHIRT})
    assert list(json.loads(listed)) == ["Desk Lamp", "T-Shirt"]


def test_reads_see_this_forks_writes(state: State) -> None:
    call(state, "modify_user_address", user_id="bob_jones_2", **NEW_ADDRESS)
    assert json.loads(call(state, "get_user_details", user_id="bob_jones_2"))["address"] == NEW_ADDRESS
    assert (
        call(state, "find_user_id_by_name_zip", first_name="Bob", last_name="Jones", zip="73301")
        == "bob_jones_2"
    )


# -- generic tools ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 2", "4.0"),
        ("2 + 3 * 4", "14.0"),
        ("(2 + 3) * 4", "20.0"),
        ("10 - 4 - 3", "3.0"),
        ("100 / 8 / 5", "2.5"),
        ("-5 + 3", "-2.0"),
        ("-(2 + 3) * -2", "10.0"),
        ("+7", "7.0"),
        ("1.5 * 2.25", "3.38"),
        (".5 + 1.", "1.5"),
        ("10 / 3", "3.33"),
        ("(1299.99 - 1103.5) * 0.5", "98.25"),
        ("  ( ( 1 ) )  ", "1.0"),
        ("2 * (3 + (4 - 1) * 2) / 3", "6.0"),
        ("0.1 + 0.2", "0.3"),
    ],
)
def test_calculate(state: State, expression: str, expected: str) -> None:
    assert call(state, "calculate", expression=expression) == expected


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "abs(-1)", "2 ** x", "1 % 2", "x", "1e5", "[1]", "2; 3", "print(1)", "1 == 1"],
)
def test_calculate_rejects_characters(state: State, expression: str) -> None:
    assert call(state, "calculate", expression=expression) == "Error: invalid characters in expression"


def test_calculate_errors(state: State) -> None:
    assert call(state, "calculate", expression="1 / 0") == "Error: division by zero"
    assert call(state, "calculate", expression="5 / (2 - 2)") == "Error: division by zero"
    for bad in ["", "1 +", "(1 + 2", "()", "1 2", "(1, 2)"]:
        result = call(state, "calculate", expression=bad)
        assert result.startswith("Error: "), (bad, result)
    assert call(state, "calculate", expression="2 ** 100000").startswith("Error: ")


def test_think_and_transfer(state: State) -> None:
    assert call(state, "think", thought="The order is pending, so it can be cancelled.") == ""
    assert (
        call(state, "transfer_to_human_agents", summary="Wants a refund to a new card.")
        == "Transfer successful"
    )
    assert not state.changed_keys()


# -- cancel_pending_order --------------------------------------------------------------------------


def test_cancel_pending_order(state: State, db: Database) -> None:
    sibling = db.fork()
    result = json.loads(call(state, "cancel_pending_order", order_id="#W1000001", reason="no longer needed"))
    assert result["status"] == "cancelled"
    assert result["cancel_reason"] == "no longer needed"
    assert result["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 70.0,
        "payment_method_id": CARD,
    }
    assert state["orders"]["#W1000001"] == result
    assert state.changed_keys() == {"orders": ["#W1000001"]}  # a card refund touches no user
    assert sibling["orders"]["#W1000001"]["status"] == "pending"
    assert not sibling.changed_keys()
    assert_base_untouched(db)


def test_cancel_refunds_gift_card_immediately(state: State, db: Database) -> None:
    result = json.loads(
        call(state, "cancel_pending_order", order_id="#W1000005", reason="ordered by mistake")
    )
    assert result["payment_history"][2:] == [
        {"transaction_type": "refund", "amount": 30.0, "payment_method_id": GIFT},
        {"transaction_type": "refund", "amount": 20.0, "payment_method_id": CARD},
    ]
    assert state["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 130.0
    assert db.tables["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 100.0
    assert_base_untouched(db)


def test_cancel_errors(state: State, db: Database) -> None:
    assert (
        call(state, "cancel_pending_order", order_id="#W9", reason="no longer needed")
        == "Error: order not found"
    )
    assert call(state, "cancel_pending_order", order_id="#W1000003", reason="no longer needed") == (
        "Error: non-pending order cannot be cancelled"
    )
    assert (
        call(state, "cancel_pending_order", order_id="#W1000001", reason="too expensive")
        == "Error: invalid reason"
    )
    assert not state.changed_keys()
    assert_base_untouched(db)


# -- modify_pending_order_address / modify_user_address ------------------------------------------


def test_modify_pending_order_address(state: State, db: Database) -> None:
    result = call(state, "modify_pending_order_address", order_id="#W1000001", **NEW_ADDRESS)
    order = json.loads(result)
    assert list(order["address"].items()) == list(NEW_ADDRESS.items())  # key order too
    assert state["orders"]["#W1000001"]["address"] == NEW_ADDRESS
    assert state.changed_keys() == {"orders": ["#W1000001"]}
    assert_base_untouched(db)
    assert (
        call(state, "modify_pending_order_address", order_id="#W0", **NEW_ADDRESS) == "Error: order not found"
    )
    assert call(state, "modify_pending_order_address", order_id="#W1000002", **NEW_ADDRESS) == (
        "Error: non-pending order cannot be modified"
    )


def test_modify_user_address(state: State, db: Database) -> None:
    user = json.loads(call(state, "modify_user_address", user_id="alice_smith_1", **NEW_ADDRESS))
    assert list(user["address"].items()) == list(NEW_ADDRESS.items())
    assert state.changed_keys() == {"users": ["alice_smith_1"]}
    assert state["orders"]["#W1000001"]["address"]["city"] == "Boston"  # orders keep their address
    assert call(state, "modify_user_address", user_id="carol", **NEW_ADDRESS) == "Error: user not found"
    assert_base_untouched(db)


# -- modify_pending_order_payment ------------------------------------------------------------------


def test_modify_payment_to_gift_card(state: State, db: Database) -> None:
    order = json.loads(
        call(state, "modify_pending_order_payment", order_id="#W1000001", payment_method_id=GIFT)
    )
    assert order["payment_history"] == [
        {"transaction_type": "payment", "amount": 70.0, "payment_method_id": CARD},
        {"transaction_type": "payment", "amount": 70.0, "payment_method_id": GIFT},
        {"transaction_type": "refund", "amount": 70.0, "payment_method_id": CARD},
    ]
    assert state["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 30.0
    assert order["status"] == "pending"
    assert_base_untouched(db)


def test_modify_payment_from_gift_card_refunds_it(state: State, db: Database) -> None:
    order = json.loads(
        call(state, "modify_pending_order_payment", order_id="#W1000004", payment_method_id=PAYPAL)
    )
    assert order["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": 20.0, "payment_method_id": PAYPAL},
        {"transaction_type": "refund", "amount": 20.0, "payment_method_id": GIFT},
    ]
    assert state["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 120.0
    assert_base_untouched(db)


def test_modify_payment_errors(state: State, db: Database) -> None:
    def pay(order_id: str, method: str) -> str:
        return call(state, "modify_pending_order_payment", order_id=order_id, payment_method_id=method)

    assert pay("#W404", CARD) == "Error: order not found"
    assert pay("#W1000003", PAYPAL) == "Error: non-pending order cannot be modified"
    assert pay("#W1000001", BOB_CARD) == "Error: payment method not found"  # another user's method
    assert pay("#W1000005", PAYPAL) == "Error: there should be exactly one payment for a pending order"
    assert pay("#W1000001", CARD) == "Error: the new payment method should be different from the current one"
    assert pay("#W2000001", BOB_GIFT) == "Error: insufficient gift card balance to pay for the order"
    assert not state.changed_keys()
    assert_base_untouched(db)


# -- modify_pending_order_items --------------------------------------------------------------------


def test_modify_items_each_gets_its_own_variant(state: State, db: Database) -> None:
    """Regression: two items of different products each take their own new variant's price and options."""
    result = call(
        state,
        "modify_pending_order_items",
        order_id="#W1000001",
        item_ids=[BLUE_M, WHITE],
        new_item_ids=[RED_M, BLACK],
        payment_method_id=CARD,
    )
    order = json.loads(result)
    assert order["status"] == "pending (item modified)"
    shirt, lamp = order["items"]
    assert (shirt["item_id"], shirt["price"], shirt["options"]) == (
        RED_M,
        25.5,
        {"color": "red", "size": "M"},
    )
    assert (lamp["item_id"], lamp["price"], lamp["options"]) == (BLACK, 80.0, {"color": "black"})
    assert shirt["product_id"] == SHIRT and lamp["product_id"] == LAMP
    assert order["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": 35.5,
        "payment_method_id": CARD,
    }
    assert state.changed_keys() == {"orders": ["#W1000001"]}
    # The order's options are its own copy, not the product's record.
    state["orders"].edit("#W1000001")["items"][1]["options"]["color"] = "changed"
    assert db.tables["products"][LAMP]["variants"][BLACK]["options"] == {"color": "black"}
    assert_base_untouched(db)


def test_modify_items_refund_to_gift_card(state: State, db: Database) -> None:
    order = json.loads(
        call(
            state,
            "modify_pending_order_items",
            order_id="#W1000004",
            item_ids=[BLUE_M],
            new_item_ids=[BLUE_L],
            payment_method_id=GIFT,
        )
    )
    assert order["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 1.0,
        "payment_method_id": GIFT,
    }
    assert state["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 101.0
    assert order["items"][0]["item_id"] == BLUE_L
    assert_base_untouched(db)


def test_modify_items_gift_card_pays(state: State, db: Database) -> None:
    call(
        state,
        "modify_pending_order_items",
        order_id="#W1000001",
        item_ids=[WHITE],
        new_item_ids=[BLACK],
        payment_method_id=GIFT,
    )
    assert state["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 70.0
    assert_base_untouched(db)


def test_modify_items_errors(state: State, db: Database) -> None:
    def modify(order_id: str, old: list[str], new: list[str], method: str = CARD) -> str:
        return call(
            state,
            "modify_pending_order_items",
            order_id=order_id,
            item_ids=old,
            new_item_ids=new,
            payment_method_id=method,
        )

    assert modify("#W0", [BLUE_M], [RED_M]) == "Error: order not found"
    assert modify("#W1000002", [BLUE_M], [RED_M]) == "Error: non-pending order cannot be modified"
    assert modify("#W1000001", [BLACK], [GOLD]) == f"Error: {BLACK} not found"
    assert (
        modify("#W1000001", [BLUE_M, BLUE_M], [RED_M, RED_M]) == f"Error: {BLUE_M} not found"
    )  # multiplicity
    assert (
        modify("#W1000001", [BLUE_M], [RED_M, BLUE_L])
        == "Error: the number of items to be exchanged should match"
    )
    assert modify("#W1000001", [BLUE_M], [GREEN_L]) == f"Error: new item {GREEN_L} not found or available"
    assert (
        modify("#W1000001", [BLUE_M], [BLACK]) == f"Error: new item {BLACK} not found or available"
    )  # other product
    assert modify("#W1000001", [BLUE_M], [RED_M], BOB_CARD) == "Error: payment method not found"
    assert (
        modify("#W2000001", [WHITE], [BLACK], BOB_GIFT)
        == "Error: insufficient gift card balance to pay for the new item"
    )
    assert not state.changed_keys()
    assert_base_untouched(db)


def test_modify_items_only_once(state: State) -> None:
    args = {"order_id": "#W1000001", "item_ids": [BLUE_M], "new_item_ids": [RED_M], "payment_method_id": CARD}
    assert not call(state, "modify_pending_order_items", **args).startswith("Error")
    again = {**args, "item_ids": [RED_M], "new_item_ids": [BLUE_M]}
    assert call(state, "modify_pending_order_items", **again) == "Error: non-pending order cannot be modified"
    assert call(state, "cancel_pending_order", order_id="#W1000001", reason="no longer needed") == (
        "Error: non-pending order cannot be cancelled"
    )


# -- exchange_delivered_order_items ----------------------------------------------------------------


def test_exchange_delivered_order_items(state: State, db: Database) -> None:
    order = json.loads(
        call(
            state,
            "exchange_delivered_order_items",
            order_id="#W1000002",
            item_ids=[WHITE, BLUE_M, BLUE_M],
            new_item_ids=[GOLD, RED_M, BLUE_L],
            payment_method_id=PAYPAL,
        )
    )
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == sorted([WHITE, BLUE_M, BLUE_M])
    assert order["exchange_new_items"] == sorted([GOLD, RED_M, BLUE_L])
    assert order["exchange_payment_method_id"] == PAYPAL
    assert order["exchange_price_difference"] == 254.5  # 250 + 5.5 - 1
    assert order["items"] == db.tables["orders"]["#W1000002"]["items"]  # items change only on arrival
    assert state.changed_keys() == {"orders": ["#W1000002"]}
    assert_base_untouched(db)


def test_exchange_rounds_price_difference(state: State) -> None:
    order = json.loads(
        call(
            state,
            "exchange_delivered_order_items",
            order_id="#W1000002",
            item_ids=[BLUE_M],
            new_item_ids=[RED_M],
            payment_method_id=GIFT,
        )
    )
    assert order["exchange_price_difference"] == 5.5
    assert state["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 100.0  # charged later


def test_exchange_errors(state: State, db: Database) -> None:
    def exchange(order_id: str, old: list[str], new: list[str], method: str = PAYPAL) -> str:
        return call(
            state,
            "exchange_delivered_order_items",
            order_id=order_id,
            item_ids=old,
            new_item_ids=new,
            payment_method_id=method,
        )

    assert exchange("#W0", [BLUE_M], [RED_M]) == "Error: order not found"
    assert exchange("#W1000001", [BLUE_M], [RED_M]) == "Error: non-delivered order cannot be exchanged"
    assert exchange("#W1000002", [BLACK], [GOLD]) == f"Error: {BLACK} not found"
    assert exchange("#W1000002", [WHITE, WHITE], [GOLD, GOLD]) == f"Error: {WHITE} not found"
    assert exchange("#W1000002", [WHITE], []) == "Error: the number of items to be exchanged should match"
    assert exchange("#W1000002", [WHITE], [SILVER]) == f"Error: new item {SILVER} not found or available"
    assert (
        exchange("#W1000002", [WHITE], ["9999999999"]) == "Error: new item 9999999999 not found or available"
    )
    assert exchange("#W1000002", [WHITE], [GOLD], BOB_GIFT) == "Error: payment method not found"
    assert exchange("#W1000002", [WHITE], [GOLD], GIFT) == (
        "Error: insufficient gift card balance to pay for the price difference"
    )
    assert not state.changed_keys()
    assert_base_untouched(db)


# -- return_delivered_order_items ------------------------------------------------------------------


def test_return_delivered_order_items(state: State, db: Database) -> None:
    order = json.loads(
        call(
            state,
            "return_delivered_order_items",
            order_id="#W1000002",
            item_ids=[WHITE, BLUE_M, BLUE_M],
            payment_method_id=PAYPAL,
        )
    )
    assert order["status"] == "return requested"
    assert order["return_items"] == [BLUE_M, BLUE_M, WHITE]
    assert order["return_payment_method_id"] == PAYPAL
    other = db.fork()
    gift = json.loads(
        call(
            other,
            "return_delivered_order_items",
            order_id="#W1000002",
            item_ids=[WHITE],
            payment_method_id=GIFT,
        )
    )
    assert gift["return_payment_method_id"] == GIFT
    assert state["orders"]["#W1000002"]["return_payment_method_id"] == PAYPAL  # forks stay apart
    assert_base_untouched(db)


def test_return_errors(state: State, db: Database) -> None:
    def give_back(order_id: str, items: list[str], method: str = PAYPAL) -> str:
        return call(
            state, "return_delivered_order_items", order_id=order_id, item_ids=items, payment_method_id=method
        )

    assert give_back("#W0", [BLUE_M]) == "Error: order not found"
    assert give_back("#W1000003", [BLACK], CARD) == "Error: non-delivered order cannot be returned"
    assert give_back("#W1000002", [BLUE_M], BOB_GIFT) == "Error: payment method not found"
    assert give_back("#W1000002", [BLUE_M], CARD) == (
        "Error: payment method should be either the original payment method or a gift card"
    )
    assert give_back("#W1000002", [BLUE_M, BLUE_M, BLUE_M]) == "Error: some item not found"
    assert give_back("#W1000002", [GOLD]) == "Error: some item not found"
    assert not state.changed_keys()
    assert_base_untouched(db)


# -- isolation across many writes ------------------------------------------------------------------


def test_writes_on_a_child_fork_leave_parent_and_siblings_alone(db: Database) -> None:
    parent = db.fork()
    call(parent, "modify_user_address", user_id="bob_jones_2", **NEW_ADDRESS)
    parent_hash = parent.canonical_hash()
    child, sibling = parent.fork(), parent.fork()
    call(child, "cancel_pending_order", order_id="#W1000004", reason="no longer needed")
    call(
        child, "modify_pending_order_payment", order_id="#W2000001", payment_method_id=BOB_GIFT
    )  # insufficient
    call(child, "modify_user_address", user_id="bob_jones_2", **{**NEW_ADDRESS, "city": "Dallas"})
    assert child["users"]["alice_smith_1"]["payment_methods"][GIFT]["balance"] == 120.0
    assert parent.canonical_hash() == parent_hash
    assert sibling.canonical_hash() == parent_hash
    assert parent["users"]["bob_jones_2"]["address"]["city"] == "Austin"
    assert parent["orders"]["#W1000004"]["status"] == "pending"
    expected = copy_json(_tables())
    expected["users"]["bob_jones_2"]["address"] = NEW_ADDRESS
    assert parent.to_dict() == expected
    assert_base_untouched(db)
