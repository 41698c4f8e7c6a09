import random
import statistics
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.scoring import (
    average_reward,
    count_infrastructure_errors,
    pass_hat_k,
    pass_hat_k_per_task,
    pass_k_table,
    rewards_of,
    success_rate,
    successes_by_task,
    wilson_interval,
)

T, F = True, False
EXAMPLE = {"a": [T, T, F], "b": [F, F, F]}


def test_pass_hat_k_hand_computed():
    assert pass_hat_k(EXAMPLE, 1) == pytest.approx((2 / 3 + 0) / 2)
    assert pass_hat_k(EXAMPLE, 2) == pytest.approx((1 / 3 + 0) / 2)  # C(2,2)/C(3,2)
    assert pass_hat_k(EXAMPLE, 3) == 0.0


def test_pass_hat_k_excludes_and_reports_tasks_with_too_few_trials():
    data = {"a": [T, T, F], "c": [T]}
    assert pass_hat_k(data, 1) == pytest.approx((2 / 3 + 1) / 2)
    assert pass_hat_k(data, 2) == pytest.approx(1 / 3)
    values, excluded = pass_hat_k_per_task(data, 2)
    assert values == {"a": pytest.approx(1 / 3)}
    assert excluded == ["c"]
    with pytest.raises(ValueError, match="no task has 4 trials"):
        pass_hat_k(data, 4)
    with pytest.raises(ValueError, match="at least 1"):
        pass_hat_k(data, 0)


def test_wilson_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-5)
    assert high == pytest.approx(0.9433, abs=5e-5)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(3.8416 / 13.8416))  # z^2 / (n + z^2)
    assert wilson_interval(10, 10) == (pytest.approx(10 / 13.8416), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pass_k_table_hand_computed():
    table = pass_k_table(EXAMPLE, seed=1)
    z = NormalDist().inv_cdf(0.975)  # the table's z comes from its confidence level
    assert sorted(table) == [1, 2, 3]
    for k, expected in {1: 1 / 3, 2: 1 / 6, 3: 0.0}.items():
        row = table[k]
        assert (row.k, row.n_tasks, row.excluded_tasks) == (k, 2, [])
        assert row.value == pytest.approx(expected)
        assert (row.wilson_low, row.wilson_high) == pytest.approx(wilson_interval(expected * 2, 2, z))
        assert 0.0 <= row.bootstrap_low <= row.value <= row.bootstrap_high <= 1.0
    # two tasks: a resample holds a twice, b twice, or one of each -> k=1 values 0, 1/3, 2/3
    assert table[1].bootstrap_low == 0.0
    assert table[1].bootstrap_high == pytest.approx(2 / 3)


def test_pass_k_table_with_unequal_trials_and_options():
    data = {"a": [T, T, F], "c": [T]}
    table = pass_k_table(data, resamples=0)
    assert table[2].excluded_tasks == ["c"]
    assert table[2].n_tasks == 1
    assert table[1].bootstrap_low is None and table[1].bootstrap_high is None
    assert sorted(pass_k_table(data, max_k=1, resamples=0)) == [1]
    assert pass_k_table({}) == {}
    wide = pass_k_table(EXAMPLE, confidence=0.99, resamples=0)[1]
    assert (wide.wilson_low, wide.wilson_high) == pytest.approx(wilson_interval(2 / 3, 2, z=2.5758293035489))


def test_pass_k_table_same_seed_same_table():
    rng = random.Random(7)
    data = {i: [rng.random() < 0.5 for _ in range(4)] for i in range(300)}
    assert pass_k_table(data, seed=3) == pass_k_table(data, seed=3)
    assert pass_k_table(data, seed=3) != pass_k_table(data, seed=4)


def test_bootstrap_agrees_with_a_naive_per_task_bootstrap():
    rng = random.Random(11)
    data = {i: [rng.random() < rng.random() for _ in range(5)] for i in range(400)}
    table = pass_k_table(data, seed=5, resamples=2000)
    tasks = list(data)
    naive_rng = random.Random(99)
    for k in (1, 3):
        per_task, _ = pass_hat_k_per_task(data, k)
        means = sorted(
            statistics.fmean(per_task[naive_rng.choice(tasks)] for _ in tasks) for _ in range(2000)
        )
        assert table[k].bootstrap_low == pytest.approx(float(np.quantile(means, 0.025)), abs=0.01)
        assert table[k].bootstrap_high == pytest.approx(float(np.quantile(means, 0.975)), abs=0.01)


def test_10000_tasks_of_8_trials_every_k_with_intervals_around_the_value():
    # (speed is measured by `casework bench`, not asserted here)
    rng = random.Random(1)
    data = {i: [rng.random() < 0.6 for _ in range(8)] for i in range(10_000)}
    table = pass_k_table(data)
    assert sorted(table) == list(range(1, 9))
    for row in table.values():
        assert row.n_tasks == 10_000
        assert row.bootstrap_low <= row.value <= row.bootstrap_high
        assert row.bootstrap_high - row.bootstrap_low < 0.05  # 10,000 tasks: a narrow interval


def test_success_rate_and_average_reward():
    assert success_rate([1.0, 0.0, True, 0.999]) == 0.5
    assert success_rate([0.999], threshold=0.9) == 1.0
    assert average_reward([1.0, 0.0, 0.5]) == 0.5
    assert success_rate([]) == average_reward([]) == 0.0


RECORDS = [
    {"task_id": "a", "reward": 1.0, "termination_reason": "agent_stop"},
    {"task_id": "a", "reward": 0.0, "termination_reason": "infrastructure_error"},
    {"task_id": "b", "reward": 0.0, "termination_reason": "endpoint_timeout"},
    {"task_id": "b", "reward": 0.0, "termination_reason": "user_stop"},
    {"task_id": "b", "reward": 0.0, "termination_reason": "timeout"},
]


def test_infrastructure_errors_count_as_failures_unless_excluded_explicitly():
    assert count_infrastructure_errors(RECORDS) == 2
    assert successes_by_task(RECORDS) == {"a": [T, F], "b": [F, F, F]}
    assert successes_by_task(RECORDS, exclude_infrastructure=True) == {"a": [T], "b": [F, F]}
    assert rewards_of(RECORDS) == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert rewards_of(RECORDS, exclude_infrastructure=True) == [1.0, 0.0, 0.0]
    only_infra = [RECORDS[1]]
    assert successes_by_task(only_infra, exclude_infrastructure=True) == {}


def test_records_may_be_objects():
    class Result:
        def __init__(self, task_id, reward, termination_reason):
            self.task_id, self.reward, self.termination_reason = task_id, reward, termination_reason

    records = [Result(r["task_id"], r["reward"], r["termination_reason"]) for r in RECORDS]
    assert successes_by_task(records) == successes_by_task(RECORDS)
    assert count_infrastructure_errors(records) == 2


# ----------------------------------------------------------------- properties


@given(st.integers(1, 8), st.lists(st.integers(0, 8), min_size=1, max_size=20))
def test_property_pass_hat_k_non_increasing_in_k_with_equal_trials(n, successes):
    data = {i: [j < min(c, n) for j in range(n)] for i, c in enumerate(successes)}
    values = [pass_hat_k(data, k) for k in range(1, n + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:], strict=False))
    table = pass_k_table(data, resamples=50, seed=0)
    assert [row.value for row in table.values()] == pytest.approx(values)


@given(st.integers(0, 1000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.1, 4.0))
def test_property_wilson_contains_point_estimate(sn, z):
    s, n = sn
    low, high = wilson_interval(s, n, z)
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low - 1e-12 <= s / n <= high + 1e-12
