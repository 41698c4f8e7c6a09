import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.domains.retail import RETAIL
from casework.scoring import ShapedWeights
from casework.scoring import shaped_reward as _shaped_reward

shaped_reward = functools.partial(_shaped_reward, rules=RETAIL.arguments)  # retail's rules: think ignored

REQUIRED = {
    "get_order_details": ["order_id"],
    "cancel_pending_order": ["order_id", "reason"],
    "get_user_details": ["user_id"],
}


def act(name, **arguments):
    return {"name": name, "arguments": arguments}


GET = act("get_order_details", order_id="#W1")
CANCEL = act("cancel_pending_order", order_id="#W1", reason="no longer needed")


def test_worked_example_with_every_term():
    called = [
        act("get_order_details", order_id="W1"),  # name + arguments (normalised)
        act("cancel_pending_order", order_id="#W1"),  # name only, 'reason' missing
        act("get_user_details", user_id="u1"),  # not expected
    ]
    r = shaped_reward([GET, CANCEL], called, required_args=REQUIRED)
    # 2 names (2.0) + 1 argument set (0.5) + in order (0.5) - 1 incorrect (0.3) - 1 missing (0.4)
    assert r.total == pytest.approx(2.3)
    assert r.max_total == pytest.approx(3.5)  # 2 * (1.0 + 0.5) + 0.5
    assert r.normalized == pytest.approx(2.3 / 3.5)
    assert (r.name_matches, r.argument_matches, r.in_order) == (2, 1, True)
    assert (r.name_score, r.argument_score, r.order_score) == (2.0, 0.5, 0.5)
    assert r.incorrect_penalty == pytest.approx(0.3)
    assert r.missing_argument_penalty == pytest.approx(0.4)
    assert r.incorrect_actions == [2]
    assert r.missing_arguments == [(1, "reason")]
    assert r.matched == [(0, 0), (1, 1)]


def test_perfect_trajectory_scores_max_and_generic_tools_are_ignored():
    called = [act("think", thought="look first"), GET, act("calculate", expression="2*3"), CANCEL]
    r = shaped_reward([GET, CANCEL], called, required_args=REQUIRED)
    assert r.total == pytest.approx(3.5)
    assert r.normalized == 1.0
    assert r.matched == [(0, 1), (1, 3)]
    assert r.incorrect_actions == []


def test_out_of_order_loses_only_the_order_bonus():
    r = shaped_reward([GET, CANCEL], [CANCEL, GET])
    assert (r.total, r.in_order, r.order_score) == (3.0, False, 0.0)
    assert r.normalized == pytest.approx(3.0 / 3.5)


def test_tie_breaking_prefers_argument_matches_over_order():
    a_x, a_y = act("get_order_details", order_id="#W1"), act("get_order_details", order_id="#W2")
    r = shaped_reward([a_x, a_y], [a_y, a_x])
    # both argument sets matched (crossing), so no order bonus: 2 + 1 + 0 = 3.0 (a name-only,
    # order-keeping assignment would give 2 + 0 + 0.5 = 2.5)
    assert (r.total, r.argument_matches, r.in_order, r.matched) == (3.0, 2, False, [(0, 1), (1, 0)])


def test_tie_breaking_full_match_first_then_earliest_call():
    r = shaped_reward([GET], [act("get_order_details", order_id="#W9"), GET])
    assert r.matched == [(0, 1)]
    assert r.incorrect_actions == [0]
    assert r.total == pytest.approx(1.0 + 0.5 + 0.5 - 0.3)
    r = shaped_reward(
        [GET], [act("get_order_details", order_id="#W9"), act("get_order_details", order_id="#W8")]
    )
    assert r.matched == [(0, 0)]
    assert r.incorrect_actions == [1]
    assert r.total == pytest.approx(1.0 + 0.5 - 0.3)


def test_repeated_call_beyond_the_expected_count_is_incorrect():
    r = shaped_reward([GET], [GET, GET])
    assert r.incorrect_actions == [1]
    assert r.total == pytest.approx(2.0 - 0.3)


def test_nothing_called():
    r = shaped_reward([GET, CANCEL], [])
    assert (r.total, r.normalized, r.in_order, r.max_total) == (0.0, 0.0, False, 3.5)


def test_nothing_expected():
    assert shaped_reward([], []).normalized == 1.0
    assert shaped_reward([], [act("think", thought="x")]).normalized == 1.0
    r = shaped_reward([], [GET])
    assert (r.total, r.normalized, r.max_total) == (pytest.approx(-0.3), 0.0, 0.0)


def test_negative_total_is_clipped_to_zero_when_normalised():
    called = [act("get_user_details", user_id="u")] * 5 + [act("get_order_details")]
    r = shaped_reward([GET], called, required_args=REQUIRED)
    assert r.total == pytest.approx(1.0 + 0.5 - 5 * 0.3 - 0.4)  # -0.4
    assert r.normalized == 0.0


def test_required_args_as_callable_and_none_value_counts_as_missing():
    called = [act("cancel_pending_order", order_id=None, reason="x")]
    r = shaped_reward([CANCEL], called, required_args=lambda name: REQUIRED.get(name, []))
    assert r.missing_arguments == [(0, "order_id")]


def test_custom_weights_and_determinism():
    weights = ShapedWeights(name=2.0, arguments=1.0, order=0.0, incorrect=1.0, missing_argument=0.0)
    called = [GET, act("get_user_details", user_id="u")]
    r = shaped_reward([GET, CANCEL], called, weights=weights)
    assert r.total == pytest.approx(2.0 + 1.0 - 1.0)
    assert r.max_total == pytest.approx(6.0)
    assert r == shaped_reward([GET, CANCEL], called, weights=weights)


_actions = st.builds(
    lambda name, oid: act(name, order_id=oid) if oid else act(name),
    st.sampled_from(["get_order_details", "cancel_pending_order", "think", "get_user_details"]),
    st.sampled_from(["#W1", "W1", "#W2", None]),
)


@given(st.lists(_actions, max_size=8), st.lists(_actions, max_size=8))
def test_property_normalized_in_unit_interval_and_perfect_copy_scores_one(expected, called):
    r = shaped_reward(expected, called, required_args=REQUIRED)
    assert 0.0 <= r.normalized <= 1.0
    assert r.total <= r.max_total + 1e-9
    assert r.argument_matches <= r.name_matches
    assert shaped_reward(expected, expected).normalized == 1.0
