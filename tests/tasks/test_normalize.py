from __future__ import annotations

import pytest

from casework.domains import ArgumentRules
from casework.domains.retail import RETAIL
from casework.tasks import Action, actions_equal, normalize_action, normalize_arguments
from casework.tasks.normalize import is_string_field

R = RETAIL.arguments  # retail's rules: order-id prefix, case-insensitive names, sorted item lists


def test_order_id_hash_added():
    assert normalize_arguments("cancel_pending_order", {"order_id": "W5442520"}, R) == {
        "order_id": "#W5442520"
    }
    assert actions_equal(
        Action(name="cancel_pending_order", arguments={"order_id": "W5442520", "reason": "no longer needed"}),
        Action(
            name="cancel_pending_order", arguments={"order_id": "#W5442520", "reason": "no longer needed"}
        ),
        R,
    )


def test_email_lowercased_and_stripped():
    args = normalize_arguments("find_user_id_by_email", {"email": "  Olivia.Ito@Example.COM "}, R)
    assert args == {"email": "olivia.ito@example.com"}


def test_names_case_insensitive():
    a = {
        "name": "find_user_id_by_name_zip",
        "arguments": {"first_name": "Olivia", "last_name": "ITO", "zip": "80218"},
    }
    b = {
        "name": "find_user_id_by_name_zip",
        "arguments": {"first_name": "olivia", "last_name": "Ito", "zip": "80218"},
    }
    assert actions_equal(a, b, R)


def test_zip_stays_string():
    args = normalize_arguments(
        "find_user_id_by_name_zip", {"first_name": "A", "last_name": "B", "zip": " 80218 "}, R
    )
    assert args["zip"] == "80218"
    assert not actions_equal(
        ("find_user_id_by_name_zip", {"zip": "80218"}), ("find_user_id_by_name_zip", {"zip": 80218}), R
    )


@pytest.mark.parametrize(
    "field",
    [
        "zip",
        "zip_code",
        "postal_code",
        "last_four",
        "order_id",
        "user_id",
        "item_ids",
        "payment_method_id",
        "id",
    ],
)
def test_id_like_fields(field):
    assert is_string_field(field)


def test_ids_in_lists_stay_strings():
    args = normalize_arguments("return_delivered_order_items", {"item_ids": ["9624127908", "1008292230"]}, R)
    assert args["item_ids"] == ["1008292230", "9624127908"]


def test_numeric_strings_become_numbers():
    args = normalize_arguments(
        "refund", {"amount": "12.5", "price": " 3 ", "total": "4.0", "note": "12 apples"}, R
    )
    assert args == {"amount": 12.5, "price": 3, "total": 4, "note": "12 apples"}
    assert actions_equal(("refund", {"amount": "12.50"}), ("refund", {"amount": 12.5}), R)
    assert actions_equal(("refund", {"amount": 12.0}), ("refund", {"amount": "12"}), R)


def test_leading_zero_strings_stay_strings():
    assert normalize_arguments("t", {"quantity": "0042"}, R) == {"quantity": "0042"}
    assert normalize_arguments("t", {"quantity": "0.5"}, R) == {"quantity": 0.5}


def test_nested_values_use_their_own_field_names():
    args = {
        "payment_methods": [{"payment_id": " 123 ", "amount": "50"}],
        "passengers": [{"first_name": "ANA"}],
    }
    assert normalize_arguments("book_reservation", args, R) == {
        "payment_methods": [{"payment_id": "123", "amount": 50}],
        "passengers": [{"first_name": "ana"}],
    }


def test_whitespace_stripped_and_bools_untouched():
    assert normalize_arguments("t", {"reason": " ordered by mistake\n", "flag": True, "x": None}, R) == {
        "reason": "ordered by mistake",
        "flag": True,
        "x": None,
    }


def test_return_item_ids_sorted():
    a = (
        "return_delivered_order_items",
        {"order_id": "#W1", "item_ids": ["2", "1"], "payment_method_id": "p"},
    )
    b = (
        "return_delivered_order_items",
        {"order_id": "#W1", "item_ids": ["1", "2"], "payment_method_id": "p"},
    )
    assert actions_equal(a, b, R)


@pytest.mark.parametrize("tool", ["exchange_delivered_order_items", "modify_pending_order_items"])
def test_item_pairs_sorted_jointly(tool):
    a = {"order_id": "#W1", "item_ids": ["3", "1"], "new_item_ids": ["30", "10"], "payment_method_id": "p"}
    b = {"order_id": "W1", "item_ids": ["1", "3"], "new_item_ids": ["10", "30"], "payment_method_id": "p"}
    assert actions_equal((tool, a), (tool, b), R)
    assert normalize_arguments(tool, a, R)["new_item_ids"] == ["10", "30"]
    # the pairing matters: 3->10 and 1->30 is a different exchange
    c = {"order_id": "#W1", "item_ids": ["1", "3"], "new_item_ids": ["30", "10"], "payment_method_id": "p"}
    assert not actions_equal((tool, a), (tool, c), R)


def test_list_order_kept_for_other_tools():
    assert not actions_equal(
        ("other_tool", {"item_ids": ["2", "1"]}), ("other_tool", {"item_ids": ["1", "2"]}), R
    )


def test_unequal_pair_lengths_left_as_given():
    args = normalize_arguments(
        "exchange_delivered_order_items", {"item_ids": ["2", "1"], "new_item_ids": ["9"]}, R
    )
    assert args == {"item_ids": ["2", "1"], "new_item_ids": ["9"]}


def test_domain_sorted_list_rules():
    rules = ArgumentRules(sorted_lists={"__placeholder__": (("seats",), ("flights", "dates"))})
    args = normalize_arguments(
        "__placeholder__", {"seats": ["b", "a"], "flights": ["F2", "F1"], "dates": ["d2", "d1"]}, rules
    )
    assert args == {"seats": ["a", "b"], "flights": ["F1", "F2"], "dates": ["d1", "d2"]}
    # without the domain's rules the same lists keep their order
    assert normalize_arguments("__placeholder__", {"seats": ["b", "a"]}) == {"seats": ["b", "a"]}


def test_normalize_action_is_hashable_key():
    key = normalize_action({"name": " cancel_pending_order ", "kwargs": {"reason": "x", "order_id": "W1"}}, R)
    assert key == ("cancel_pending_order", '{"order_id":"#W1","reason":"x"}')
    assert (
        len(
            {
                key,
                normalize_action(
                    Action(name="cancel_pending_order", arguments={"order_id": "#W1", "reason": "x"}), R
                ),
            }
        )
        == 1
    )
    assert not actions_equal(
        ("cancel_pending_order", {"order_id": "#W1"}),
        ("modify_pending_order_address", {"order_id": "#W1"}),
        R,
    )


def test_normalize_action_rejects_garbage():
    with pytest.raises(TypeError):
        normalize_action(42, R)  # type: ignore[arg-type]


def test_input_not_mutated():
    args = {"item_ids": ["2", "1"], "new_item_ids": ["b", "a"]}
    normalize_arguments("exchange_delivered_order_items", args, R)
    assert args == {"item_ids": ["2", "1"], "new_item_ids": ["b", "a"]}


def test_free_text_arguments_do_not_decide_a_match():
    """A transfer's summary or a thought is prose: two transfers match whatever they say."""
    from casework.tasks.normalize import actions_equal

    a = {"name": "transfer_to_human_agents", "arguments": {"summary": "User wants a price match."}}
    b = {"name": "transfer_to_human_agents", "arguments": {"summary": "Return of an item in transit."}}
    assert actions_equal(a, b, R)
    assert actions_equal(
        {"name": "think", "arguments": {"thought": "x"}}, {"name": "think", "arguments": {"thought": "y"}}, R
    )
    assert not actions_equal(
        {"name": "cancel_pending_order", "arguments": {"order_id": "#W1", "reason": "no longer needed"}},
        {"name": "cancel_pending_order", "arguments": {"order_id": "#W1", "reason": "ordered by mistake"}},
        R,
    )
