import functools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.domains.retail import RETAIL
from casework.scoring import action_metrics as _action_metrics
from casework.scoring import match_actions as _match_actions
from casework.scoring.actions import action_key as _action_key

# the retail domain's argument rules and identification tools (think/calculate ignored, emails caseless)
_RETAIL = {"rules": RETAIL.arguments, "identification": RETAIL.identification_tools}
action_metrics = functools.partial(_action_metrics, **_RETAIL)
match_actions = functools.partial(_match_actions, **_RETAIL)
action_key = functools.partial(_action_key, rules=RETAIL.arguments)

WRITES = {"cancel_pending_order", "modify_pending_order_address", "return_delivered_order_items"}


def act(name, observation=None, **arguments):
    action = {"name": name, "arguments": arguments}
    if observation is not None:
        action["observation"] = observation
    return action


def test_hand_computed_precision_recall_f1_per_kind():
    expected = [
        act("get_order_details", order_id="#W1"),
        act("cancel_pending_order", order_id="#W1", reason="no longer needed"),
    ]
    called = [
        act("think", thought="hmm"),
        act("get_order_details", order_id="W1"),  # same call once normalised
        act("get_user_details", user_id="u1"),
        act("cancel_pending_order", order_id="#W1", reason="ordered by mistake"),
    ]
    m = action_metrics(expected, called, is_write=WRITES)
    assert (m.tp, m.fp, m.fn) == (1, 2, 1)
    assert m.precision == pytest.approx(1 / 3)
    assert m.recall == pytest.approx(1 / 2)
    assert m.f1 == pytest.approx(0.4)  # 2 * 1/3 * 1/2 / (5/6)
    assert (m.read.precision, m.read.recall) == (0.5, 1.0)
    assert m.read.f1 == pytest.approx(2 / 3)
    assert (m.write.precision, m.write.recall, m.write.f1) == (0.0, 0.0, 0.0)
    assert m.matched == [(0, 1)]  # indices into the lists given, think included
    assert not m.exact_match


def test_is_write_may_be_a_predicate_or_a_set():
    expected = [act("cancel_pending_order", order_id="#W1", reason="x")]
    called = [act("get_order_details", order_id="#W1"), *expected]
    assert action_metrics(expected, called, is_write=WRITES) == action_metrics(
        expected, called, is_write=lambda name: name in WRITES
    )


def test_exact_match_ignores_generic_tools_and_normalisation_differences():
    expected = [
        act("find_user_id_by_email", email="Ann@Example.com"),
        act("return_delivered_order_items", order_id="#W2", item_ids=["2", "1"], payment_method_id="pm"),
    ]
    called = [
        act("think", thought="first identify"),
        act("find_user_id_by_email", email="ann@example.com "),
        act("calculate", expression="1+1"),
        act("return_delivered_order_items", order_id="W2", item_ids=["1", "2"], payment_method_id="pm"),
    ]
    m = action_metrics(expected, called, is_write=WRITES)
    assert m.exact_match
    assert (m.precision, m.recall, m.f1) == (1.0, 1.0, 1.0)
    assert m.matched == [(0, 1), (1, 3)]


def test_exact_match_is_order_sensitive_but_precision_recall_are_not():
    a, b = act("get_user_details", user_id="u"), act("get_order_details", order_id="#W1")
    m = action_metrics([a, b], [b, a], is_write=WRITES)
    assert not m.exact_match
    assert (m.precision, m.recall) == (1.0, 1.0)


def test_multiset_matching_each_expected_action_matched_at_most_once():
    a = act("get_order_details", order_id="#W1")
    m = action_metrics([a, a], [a], is_write=WRITES)
    assert (m.tp, m.fp, m.fn, m.precision, m.recall) == (1, 0, 1, 1.0, 0.5)
    m = action_metrics([a], [a, a], is_write=WRITES)
    assert (m.tp, m.fp, m.fn, m.precision, m.recall) == (1, 1, 0, 0.5, 1.0)
    assert m.matched == [(0, 0)]  # the earliest call is taken


def test_edge_both_empty_is_perfect():
    m = action_metrics([], [], is_write=WRITES)
    assert (m.precision, m.recall, m.f1, m.exact_match) == (1.0, 1.0, 1.0, True)
    assert (m.read.f1, m.write.f1) == (1.0, 1.0)


def test_edge_only_generic_tools_called_counts_as_nothing_called():
    m = action_metrics([], [act("think", thought="x")], is_write=WRITES)
    assert (m.precision, m.recall, m.f1, m.exact_match) == (1.0, 1.0, 1.0, True)


def test_edge_nothing_called_but_something_expected():
    m = action_metrics([act("get_user_details", user_id="u")], [], is_write=WRITES)
    assert (m.precision, m.recall, m.f1, m.exact_match) == (0.0, 0.0, 0.0, False)
    assert (m.write.precision, m.write.recall, m.write.f1) == (1.0, 1.0, 1.0)  # no writes either side
    assert (m.read.precision, m.read.recall) == (0.0, 0.0)


def test_edge_something_called_but_nothing_expected():
    m = action_metrics([], [act("get_user_details", user_id="u")], is_write=WRITES)
    assert (m.precision, m.recall, m.f1, m.exact_match) == (0.0, 0.0, 0.0, False)
    assert (m.tp, m.fp, m.fn) == (0, 1, 0)


# ----------------------------------------------------------------- identification equivalence

BY_EMAIL = act("find_user_id_by_email", email="ann@example.com")
BY_NAME = act("find_user_id_by_name_zip", first_name="Ann", last_name="Lee", zip="10001")


def test_identification_by_email_and_by_name_zip_match_when_same_user():
    called = [{**BY_NAME, "observation": "ann_lee_1"}]
    m = action_metrics([BY_EMAIL], called, is_write=WRITES, expected_observations=["ann_lee_1"])
    assert (m.tp, m.matched, m.exact_match) == (1, [(0, 0)], True)
    assert m.read.recall == 1.0


def test_identification_equivalence_with_resolver():
    called = [{**BY_NAME, "observation": " ann_lee_1\n"}]
    m = action_metrics([BY_EMAIL], called, is_write=WRITES, resolve_user=lambda a: "ann_lee_1")
    assert m.tp == 1
    # expected_observations wins over the resolver when it has an entry
    m = action_metrics(
        [BY_EMAIL],
        called,
        is_write=WRITES,
        expected_observations=["bob_2"],
        resolve_user=lambda a: "ann_lee_1",
    )
    assert m.tp == 0
    # a None entry falls back to the resolver
    m = action_metrics(
        [BY_EMAIL], called, is_write=WRITES, expected_observations=[None], resolve_user=lambda a: "ann_lee_1"
    )
    assert m.tp == 1


def test_identification_no_match_for_other_user_error_or_unknown_or_disabled():
    exp_obs = ["ann_lee_1"]
    other = [{**BY_NAME, "observation": "bob_2"}]
    error = [{**BY_NAME, "observation": "Error: user not found"}]
    same = [{**BY_NAME, "observation": "ann_lee_1"}]
    assert action_metrics([BY_EMAIL], other, is_write=WRITES, expected_observations=exp_obs).tp == 0
    assert action_metrics([BY_EMAIL], error, is_write=WRITES, expected_observations=exp_obs).tp == 0
    assert action_metrics([BY_EMAIL], same, is_write=WRITES).tp == 0  # expected side unresolved
    disabled = action_metrics(
        [BY_EMAIL], same, is_write=WRITES, expected_observations=exp_obs, identification_equivalent=False
    )
    assert (disabled.tp, disabled.exact_match) == (0, False)


def test_identification_does_not_match_non_identification_tools():
    called = [act("get_user_details", user_id="ann_lee_1", observation="ann_lee_1")]
    assert action_metrics([BY_EMAIL], called, is_write=WRITES, expected_observations=["ann_lee_1"]).tp == 0


def test_exact_key_matches_are_taken_before_identification_matches():
    expected = [BY_EMAIL, BY_NAME]
    called = [{**BY_NAME, "observation": "ann_lee_1"}, {**BY_EMAIL, "observation": "ann_lee_1"}]
    pairs = match_actions(expected, called, expected_observations=["ann_lee_1", "ann_lee_1"])
    assert pairs == [(0, 1), (1, 0)]


def test_expected_observations_must_align():
    with pytest.raises(ValueError, match="one entry"):
        action_metrics([BY_EMAIL], [], is_write=WRITES, expected_observations=[])


# ----------------------------------------------------------------- properties

_actions = st.builds(
    lambda name, oid: act(name, order_id=oid),
    st.sampled_from(["get_order_details", "cancel_pending_order", "think", "return_delivered_order_items"]),
    st.sampled_from(["#W1", "W1", "#W2", "W3"]),
)


@given(st.lists(_actions, max_size=8), st.lists(_actions, max_size=8))
def test_property_metrics_in_unit_interval_and_tp_is_multiset_intersection(expected, called):
    m = action_metrics(expected, called, is_write=WRITES)
    for prf in (m, m.read, m.write):
        assert 0.0 <= prf.precision <= 1.0
        assert 0.0 <= prf.recall <= 1.0
        assert 0.0 <= prf.f1 <= 1.0
    keys = lambda actions: Counter(action_key(a) for a in actions if a["name"] != "think")  # noqa: E731
    assert m.tp == sum((keys(expected) & keys(called)).values())
    assert m.tp == m.read.tp + m.write.tp
    assert len({e for e, _ in m.matched}) == len({c for _, c in m.matched}) == m.tp
    assert all(action_key(expected[e]) == action_key(called[c]) for e, c in m.matched)
    if m.exact_match:
        assert (m.precision, m.recall) == (1.0, 1.0)
