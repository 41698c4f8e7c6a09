import functools
from enum import StrEnum

import pytest

from casework.domains.retail import RETAIL
from casework.scoring import ErrorCategory, RewardBreakdown, is_infrastructure_error
from casework.scoring import classify_failure as _classify_failure

# the retail domain's argument rules and identification tools
classify_failure = functools.partial(
    _classify_failure, rules=RETAIL.arguments, identification=RETAIL.identification_tools
)

WRITES = {"cancel_pending_order", "return_delivered_order_items", "exchange_delivered_order_items"}


def act(name, observation=None, **arguments):
    action = {"name": name, "arguments": arguments}
    if observation is not None:
        action["observation"] = observation
    return action


GET = act("get_order_details", order_id="#W1")
CANCEL = act("cancel_pending_order", order_id="#W1", reason="no longer needed")
EXPECTED = [GET, CANCEL]


def classify(expected, called, **kwargs):
    kwargs.setdefault("reward", 0.0)
    return classify_failure(expected, called, **kwargs)


def test_success_is_none_whatever_else():
    d = classify(EXPECTED, [], reward=1.0, termination_reason="infrastructure_error")
    assert d.category is ErrorCategory.NONE


def test_infrastructure_has_top_precedence():
    called = [act("get_order_details", "Error: order not found", order_id="#W9")]
    d = classify(EXPECTED, called, termination_reason="infrastructure_error")
    assert d.category == ErrorCategory.INFRASTRUCTURE == "infrastructure"
    assert classify(EXPECTED, called, termination_reason="Endpoint_Timeout").category == "infrastructure"
    # the simulation's own wall-clock timeout is judged on the actions, not as infrastructure
    assert classify(EXPECTED, called, termination_reason="timeout").category == "execution"


def test_termination_reason_may_be_an_enum():
    class Reason(StrEnum):
        INFRA = "infrastructure_error"
        USER = "user_error"

    assert classify(EXPECTED, [], termination_reason=Reason.INFRA).category == "infrastructure"
    assert classify(EXPECTED, [], termination_reason=Reason.USER).category == "user_simulator"
    assert is_infrastructure_error(Reason.INFRA)
    assert not is_infrastructure_error("agent_stop")


def test_user_simulator_beats_execution():
    called = [act("get_order_details", "Error: order not found", order_id="#W9")]
    assert classify(EXPECTED, called, termination_reason="user_error").category == "user_simulator"
    assert classify(EXPECTED, called, user_simulator_error=True).category == "user_simulator"


def test_execution_error_from_observations_beats_parameter():
    called = [act("get_order_details", "Error: order not found", order_id="#W9")]
    d = classify(EXPECTED, called, termination_reason="agent_stop")
    assert d.category == ErrorCategory.EXECUTION
    assert d.detail == "get_order_details(order_id='#W9') returned 'Error: order not found'"


def test_execution_error_from_tool_errors_list():
    d = classify(EXPECTED, [], tool_errors=["Error: bad payment method", "ok"])
    assert d.category == "execution"
    assert "bad payment method" in d.detail


def test_error_the_ground_truth_also_hit_is_not_execution():
    expected = [act("get_order_details", order_id="#W9"), CANCEL]
    called = [act("get_order_details", "Error: order not found", order_id="#W9")]
    d = classify(expected, called, expected_observations=["Error: order not found", "ok"])
    assert d.category == "action_sequence"  # the cancel is missing, the error was expected
    assert d.detail == "missing cancel_pending_order(order_id='#W1', reason='no longer needed')"


def test_outputs_only_failure():
    called = [GET, act("get_user_details", user_id="u"), CANCEL]  # an extra read does not matter
    breakdown = RewardBreakdown(0.0, db_match=True, outputs_match=False, outputs_found=[False])
    assert classify(EXPECTED, called, reward=breakdown).category == ErrorCategory.OUTPUTS
    assert classify(EXPECTED, called, db_match=True, outputs_match=False).category == "outputs"


def test_outputs_when_actions_all_match_and_db_unknown():
    assert classify(EXPECTED, EXPECTED, outputs_match=False).category == "outputs"


def test_parameter_right_tool_wrong_arguments_with_detail():
    called = [GET, act("cancel_pending_order", order_id="#W2", reason="no longer needed")]
    d = classify(EXPECTED, called)
    assert d.category == ErrorCategory.PARAMETER
    assert d.detail == (
        "expected cancel_pending_order(order_id='#W1', reason='no longer needed'), called with order_id='#W2'"
    )


def test_parameter_detail_names_missing_and_extra_arguments_and_picks_closest_call():
    called = [
        act("cancel_pending_order", order_id="#W7", reason="x"),
        act("cancel_pending_order", order_id="W1", note="hi"),  # agrees on order_id once normalised
    ]
    d = classify([CANCEL], called)
    assert d.category == "parameter"
    assert d.detail.endswith("called with without reason, extra note='hi'")


def test_parameter_beats_logic():
    expected = [CANCEL, act("return_delivered_order_items", order_id="#W3", item_ids=["1"])]
    called = [
        act("cancel_pending_order", order_id="#W1", reason="ordered by mistake"),
        act("exchange_delivered_order_items", order_id="#W3", item_ids=["1"], new_item_ids=["2"]),
    ]
    assert classify(expected, called).category == "parameter"


def test_logic_wrong_tool():
    expected = [GET, act("return_delivered_order_items", order_id="#W1", item_ids=["1"])]
    called = [GET, act("exchange_delivered_order_items", order_id="#W1", item_ids=["1"], new_item_ids=["2"])]
    d = classify(expected, called, is_write=WRITES)
    assert d.category == ErrorCategory.LOGIC
    assert d.detail.startswith(
        "expected return_delivered_order_items(order_id='#W1', item_ids=['1']), called "
    )
    assert d.detail.endswith(" instead")


def test_logic_pairs_only_the_same_kind_when_kinds_are_known():
    called = [GET, act("get_product_details", product_id="p")]  # a read where a write was expected
    assert classify(EXPECTED, called).category == "logic"
    d = classify(EXPECTED, called, is_write=WRITES)
    assert d.category == "action_sequence"
    assert d.detail.startswith("missing cancel_pending_order")


def test_action_sequence_missing_extra_and_out_of_order():
    assert classify(EXPECTED, [GET]).detail == (
        "missing cancel_pending_order(order_id='#W1', reason='no longer needed')"
    )
    d = classify(EXPECTED, [*EXPECTED, CANCEL])
    assert (d.category, d.detail) == (
        "action_sequence",
        "extra cancel_pending_order(order_id='#W1', reason='no longer needed')",
    )
    d = classify(EXPECTED, [CANCEL, act("think", thought="oops"), GET])
    assert (d.category, d.detail) == (
        "action_sequence",
        "actions out of order: called cancel_pending_order, get_order_details",
    )


def test_identification_equivalence_is_not_a_failure_of_the_actions():
    expected = [act("find_user_id_by_email", email="a@b.c"), CANCEL]
    called = [act("find_user_id_by_name_zip", "u1", first_name="A", last_name="B", zip="1"), CANCEL]
    d = classify(expected, called, expected_observations=["u1", None], outputs_match=True)
    assert d.category == ErrorCategory.UNKNOWN
    d = classify(expected, called, outputs_match=True)  # expected side unresolved: wrong tool
    assert d.category == "logic"


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_categories_are_plain_strings(category):
    assert ErrorCategory(str(category)) is category
