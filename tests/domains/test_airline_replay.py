"""Replaying τ³'s airline train tasks (golden ``evaluation_criteria.actions``) on v1's data and on τ³'s db.json.

How the expected values were derived:

* Every golden action succeeds, in every profile and on both data sets: these are τ³ tasks graded
  by replaying their actions, and none of them is listed upstream as erroring.
* Diffs of tasks 11, 12, 20, 21, 40, 42 are written out by hand from the tools' published semantics
  (e.g. task 21: new flights HAT290 at 142 and HAT175 at 170 replace HAT084 at 122 and HAT266 at 131
  for 1 passenger, so the gift card pays (142 + 170) - (122 + 131) = 59 and goes from 113 to 54; task
  11: a downgrade from business to basic economy for 3 passengers refunds (53 + 99 - 561 - 1339) x 3
  = -5244 to the gift card, 128 -> 5372; v1 keeps ``cabin`` business, τ³ sets basic_economy and holds
  the balance as a float).
* The final-state hashes of every task are pinned (first 16 hex digits of the canonical sha256) after
  those diffs were checked; they guard against regressions. ``tau3-exact`` gives the same states as
  ``tau3`` on all 30 tasks (none lists a payment method twice or searches an overnight connection).

The db.json in ../shared/data/tau3/airline is a *reconstruction* of τ³'s airline database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.domains.airline import AIRLINE_PROFILES
from casework.domains.airline.data import load_airline
from casework.domains.airline.policy_rules import check_trace

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
V1_DIR = SHARED / "tau-bench-v1" / "airline"
T3_DB = SHARED / "tau3" / "airline" / "db.json"
T3_TASKS = SHARED / "tau3" / "airline" / "tasks_train.json"

V1_HASHES = {
    "7": "991a0110aec76852",
    "11": "d4659bef5e649dd3",
    "12": "e58da5123d359338",
    "14": "62969b474e85f29e",
    "15": "fc136601111a58b3",
    "17": "a44bbc21e8468897",
    "20": "fe029731809f6784",
    "21": "e2d87b5a43f8b589",
    "23": "5d5da7731f2c2c75",
    "33": "c98b09e18dcf2321",
    "39": "f2dc788225fd431d",
    "40": "21cb93dbb6d549ce",
    "42": "57caf928d5d69bc8",
}
T3_HASHES = {
    "7": "43f2c13097a37b76",
    "11": "6e3d871ee30ca936",
    "12": "74ffc93bc280d381",
    "14": "5742d5e3f06a5196",
    "15": "5b517794298a70f4",
    "17": "7965b0626300a8a0",
    "20": "ddf40013632ef2d2",
    "21": "96201b2470a9083d",
    "23": "0e45b53ceef9f92a",
    "33": "53fa7bd1763195af",
    "39": "28c6884c7c0892cb",
    "40": "2f44b66e59f83c55",
    "42": "35f85512d73e3353",
}


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (needs ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    return json.loads(_need(T3_TASKS).read_text())


@pytest.fixture(scope="module")
def v1_db():
    return load_airline(_need(V1_DIR))


@pytest.fixture(scope="module")
def t3_db():
    return load_airline(_need(T3_DB))


def _replay(db, profile: str, task: dict):
    toolbox = AIRLINE_PROFILES[profile]
    state = db.fork()
    observations = [
        toolbox.call(state, a["name"], a["arguments"]) for a in task["evaluation_criteria"]["actions"] or []
    ]
    return state, observations


def _diff(db, state) -> list[str]:
    return [change.describe() for change in db.fork().diff(state)]


def test_all_golden_actions_replay_cleanly_with_pinned_hashes(tasks, v1_db, t3_db):
    assert len(tasks) == 30
    for db, pins, profiles in (
        (v1_db, V1_HASHES, ("tau-bench-v1",)),
        (t3_db, T3_HASHES, ("tau3", "tau3-exact")),
    ):
        for task in tasks:
            for profile in profiles:
                state, observations = _replay(db, profile, task)
                assert not [o for o in observations if o.startswith("Error")], (task["id"], profile)
                expected = pins.get(task["id"], db.canonical_hash()[:16])
                assert state.canonical_hash()[:16] == expected, (task["id"], profile)


def test_tau3_profile_on_v1_data_and_v1_profile_on_db_json_also_replay(tasks, v1_db, t3_db):
    for db, profile in ((v1_db, "tau3"), (t3_db, "tau-bench-v1")):
        for task in tasks:
            _, observations = _replay(db, profile, task)
            assert not [o for o in observations if o.startswith("Error")], (task["id"], profile)


def _task(tasks, task_id):
    return next(t for t in tasks if t["id"] == task_id)


def test_hand_checked_diffs_v1(tasks, v1_db):
    state, _ = _replay(v1_db, "tau-bench-v1", _task(tasks, "12"))
    assert _diff(v1_db, state) == ['~ reservations["YAX4DR"].total_baggages: 0 -> 2']
    state, _ = _replay(v1_db, "tau-bench-v1", _task(tasks, "40"))
    assert _diff(v1_db, state) == ['~ reservations["3RK2T9"].passengers[1].last_name: "Lee" -> "Garcia"']
    state, _ = _replay(v1_db, "tau-bench-v1", _task(tasks, "42"))
    assert _diff(v1_db, state) == [
        '+ reservations["FDZ0T5"].payment_history[1] = {"amount":-3778,"payment_id":"credit_card_1402274"}',
        '+ reservations["FDZ0T5"].status = "cancelled"',
        '+ reservations["HSR97W"].payment_history[1] = {"amount":-1227,"payment_id":"credit_card_1402274"}',
        '+ reservations["HSR97W"].status = "cancelled"',
    ]
    state, _ = _replay(v1_db, "tau-bench-v1", _task(tasks, "21"))
    assert _diff(v1_db, state) == [
        '~ reservations["OBUT9V"].flights[2].date: "2024-05-28" -> "2024-05-27"',
        '~ reservations["OBUT9V"].flights[2].flight_number: "HAT084" -> "HAT290"',
        '~ reservations["OBUT9V"].flights[2].price: 122 -> 142',
        '~ reservations["OBUT9V"].flights[3].date: "2024-05-28" -> "2024-05-27"',
        '~ reservations["OBUT9V"].flights[3].flight_number: "HAT266" -> "HAT175"',
        '~ reservations["OBUT9V"].flights[3].price: 131 -> 170',
        '+ reservations["OBUT9V"].payment_history[1] = {"amount":59,"payment_id":"gift_card_6276644"}',
        '~ reservations["OBUT9V"].total_baggages: 1 -> 2',
        '~ users["sofia_kim_7287"].payment_methods.gift_card_6276644.amount: 113 -> 54',
    ]
    state, _ = _replay(v1_db, "tau-bench-v1", _task(tasks, "11"))
    assert _diff(v1_db, state) == [
        '~ reservations["GV1N64"].flights[0].price: 561 -> 53',
        '~ reservations["GV1N64"].flights[1].price: 1339 -> 99',
        '+ reservations["GV1N64"].payment_history[1] = {"amount":-5244,"payment_id":"gift_card_1642017"}',
        '~ users["james_patel_9828"].payment_methods.gift_card_1642017.amount: 128 -> 5372',
    ]


def test_hand_checked_diffs_tau3(tasks, v1_db):
    state, _ = _replay(v1_db, "tau3", _task(tasks, "11"))
    assert _diff(v1_db, state) == [
        '~ reservations["GV1N64"].cabin: "business" -> "basic_economy"',
        '~ reservations["GV1N64"].flights[0].price: 561 -> 53',
        '~ reservations["GV1N64"].flights[1].price: 1339 -> 99',
        '+ reservations["GV1N64"].payment_history[1] = {"amount":-5244,"payment_id":"gift_card_1642017"}',
        '~ users["james_patel_9828"].payment_methods.gift_card_1642017.amount: 128 -> 5372.0',
    ]
    # task 20: economy HAT136 (152) + HAT039 (103) for 1 passenger = 255 = certificate 250 + card 5;
    # τ³ takes one economy seat on each flight, v1 takes none; the certificate is used up.
    v1_state, _ = _replay(v1_db, "tau-bench-v1", _task(tasks, "20"))
    t3_state, _ = _replay(v1_db, "tau3", _task(tasks, "20"))
    t3_only = sorted(set(_diff(v1_db, t3_state)) - set(_diff(v1_db, v1_state)))
    assert t3_only == [
        '~ flights["HAT039"].dates["2024-05-20"].available_seats.economy: 10 -> 9',
        '~ flights["HAT136"].dates["2024-05-20"].available_seats.economy: 14 -> 13',
    ]
    booked = t3_state["reservations"]["HATHAT"]
    assert [f["price"] for f in booked["flights"]] == [152, 103]
    assert booked["created_at"] == "2024-05-15T15:00:00"
    assert "certificate_7504069" not in t3_state["users"]["mia_li_3668"]["payment_methods"]


def test_golden_actions_follow_the_policy_rules(tasks, v1_db, t3_db):
    """The rules find nothing to object to in the 30 golden traces (τ³'s tasks follow its policy)."""
    for db in (v1_db, t3_db):
        for task in tasks:
            actions = [(a["name"], a["arguments"]) for a in task["evaluation_criteria"]["actions"] or []]
            assert check_trace(db.fork(), actions) == [], task["id"]
