"""Copy-on-write states: isolation, canonical hash equivalence, diffs."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.domains.state import Database, canonical_hash_of, copy_json


def small_tables() -> dict:
    return {
        "orders": {
            "#W1": {"order_id": "#W1", "status": "pending", "items": [{"item_id": "1", "price": 1.5}]},
            "#W2": {"order_id": "#W2", "status": "delivered", "items": []},
            "#W3": {"order_id": "#W3", "status": "pending", "items": [{"item_id": "2", "price": 10.0}]},
        },
        "products": {"p1": {"name": "Lamp", "variants": {"1": {"price": 1.5, "available": True}}}},
        "users": {
            "u1": {"name": {"first_name": "Ana"}, "orders": ["#W1", "#W2"]},
            "u2": {"name": {"first_name": "Bo"}, "orders": ["#W3"]},
        },
    }


def reference_hash(tables: dict) -> str:
    return hashlib.sha256(json.dumps(tables, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_base_hash_matches_reference_serialisation():
    tables = small_tables()
    assert Database(copy.deepcopy(tables)).canonical_hash() == reference_hash(tables)


def test_fork_hash_after_edit_matches_full_serialisation():
    db = Database(small_tables())
    state = db.fork()
    state["orders"].edit("#W2")["status"] = "return requested"
    expected = small_tables()
    expected["orders"]["#W2"]["status"] = "return requested"
    assert state.canonical_hash() == reference_hash(expected)
    assert db.canonical_hash() == reference_hash(small_tables())


def test_add_and_delete_records_hash_like_the_plain_data():
    db = Database(small_tables())
    state = db.fork()
    state["orders"].put("#W0", {"order_id": "#W0"})  # sorts first
    state["orders"].put("#W9", {"order_id": "#W9"})  # sorts last
    state["users"].delete("u2")
    expected = small_tables()
    expected["orders"]["#W0"] = {"order_id": "#W0"}
    expected["orders"]["#W9"] = {"order_id": "#W9"}
    del expected["users"]["u2"]
    assert state.canonical_hash() == reference_hash(expected)
    assert "u2" not in state["users"] and len(state["users"]) == 1
    assert sorted(state["orders"]) == ["#W0", "#W1", "#W2", "#W3", "#W9"]


def test_deleting_every_record_of_a_table_hashes_an_empty_object():
    db = Database(small_tables())
    state = db.fork()
    for key in list(state["orders"]):
        state["orders"].delete(key)
    expected = small_tables()
    expected["orders"] = {}
    assert state.canonical_hash() == reference_hash(expected)


def test_fork_isolation_between_siblings_and_children():
    db = Database(small_tables())
    a, b = db.fork(), db.fork()
    a["orders"].edit("#W1")["status"] = "cancelled"
    assert b["orders"]["#W1"]["status"] == "pending"
    assert db.tables["orders"]["#W1"]["status"] == "pending"
    child = a.fork()
    child["orders"].edit("#W1")["items"].append({"item_id": "x"})
    a["orders"].edit("#W1")["status"] = "pending"
    assert child["orders"]["#W1"]["status"] == "cancelled"
    assert len(a["orders"]["#W1"]["items"]) == 1
    assert len(child["orders"]["#W1"]["items"]) == 2


def test_edit_of_missing_record_raises_key_error():
    state = Database(small_tables()).fork()
    with pytest.raises(KeyError):
        state["orders"].edit("#nope")
    with pytest.raises(KeyError):
        state["nope"]


def test_diff_lists_field_changes_and_appends():
    db = Database(small_tables())
    state = db.fork()
    order = state["orders"].edit("#W1")
    order["status"] = "cancelled"
    order["cancel_reason"] = "no longer needed"
    order["items"].append({"item_id": "3", "price": 2.0})
    state["users"].delete("u2")
    changes = db.fork().diff(state)
    described = [c.describe() for c in changes]
    assert described == [
        '+ orders["#W1"].cancel_reason = "no longer needed"',
        '+ orders["#W1"].items[1] = {"item_id":"3","price":2.0}',
        '~ orders["#W1"].status: "pending" -> "cancelled"',
        '- users["u2"] (was {"name":{"first_name":"Bo"},"orders":["#W3"]})',
    ]
    assert state.diff(db.fork())[0].op == "remove"  # the reverse direction
    assert not db.fork().diff(db.fork())


def test_same_as_ignores_no_op_edits():
    db = Database(small_tables())
    state = db.fork()
    state["orders"].edit("#W1")  # copied, unchanged
    assert state.same_as(db.fork())
    assert state.canonical_hash() == db.canonical_hash()


def test_copy_json_is_deep():
    data = {"a": [1, {"b": 2}]}
    copied = copy_json(data)
    copied["a"][1]["b"] = 3
    assert data["a"][1]["b"] == 2


# -- property-based: random edits on random forks stay isolated and hash like the plain data --------
keys = st.sampled_from(["#W1", "#W2", "#W3", "#W4", "u1", "u2", "u3", "p1"])
values = st.one_of(
    st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=4)
)
operations = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(["orders", "users", "products"]),
        keys,
        st.sampled_from(["edit", "put", "delete", "fork"]),
        values,
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_random_operations_match_a_plain_dict_model(ops):
    db = Database(small_tables())
    states = [db.fork()]
    models = [small_tables()]  # independent deep copies mirror every state
    for which, table, key, op, value in ops:
        i = which % len(states)
        state, model = states[i], models[i]
        if op == "fork":
            states.append(state.fork())
            models.append(copy.deepcopy(model))
        elif op == "put":
            state[table].put(key, {"v": value})
            model[table][key] = {"v": value}
        elif op == "delete":
            if key in model[table]:
                state[table].delete(key)
                del model[table][key]
            else:
                with pytest.raises(KeyError):
                    state[table].delete(key)
        elif key in model[table]:
            state[table].edit(key)["v"] = value
            model[table][key]["v"] = value
    for state, model in zip(states, models, strict=True):
        assert state.to_dict() == model
        assert state.canonical_hash() == reference_hash(model)
        assert {t: set(state[t]) for t in model} == {t: set(model[t]) for t in model}
    assert db.to_dict() == small_tables()  # the base never changes
    assert canonical_hash_of(db.to_dict()) == reference_hash(small_tables())


# -- first_key: an index of the base plus the fork's changes answers like a scan ---------------------
def _group(record: dict) -> object:
    return record.get("g")


def _scan(view, value):
    return next((k for k, r in view.items() if r.get("g") == value), None)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k0", "k1", "k2", "k3", "k4", "n1", "n2"]),
            st.sampled_from(["edit", "put", "delete", "fork"]),
            st.integers(0, 2),
        ),
        max_size=20,
    )
)
def test_first_key_answers_like_a_scan_after_any_changes(ops):
    db = Database({"users": {f"k{i}": {"g": i % 3} for i in range(5)}})
    state = db.fork()
    for key, op, value in ops:
        view = state["users"]
        if op == "fork":
            state = state.fork()
        elif op == "put":
            view.put(key, {"g": value})
        elif op == "delete" and key in view:
            view.delete(key)
        elif op == "edit" and key in view:
            view.edit(key)["g"] = value
        for wanted in (0, 1, 2, 3):
            assert state["users"].first_key(_group, wanted) == _scan(state["users"], wanted)
    assert db.fork()["users"].first_key(_group, 1) == "k1"  # the base is untouched
