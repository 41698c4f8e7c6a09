"""The airline policy rules: each with a trace that passes and one that breaks it."""

from __future__ import annotations

import copy

from airline_tiny import tiny_tables

from casework.domains.airline.policy_rules import AirlinePolicy, check_trace
from casework.domains.state import Database
from casework.tasks.model import Action, Task

BASE = tiny_tables()


def _state(reservation: dict | None = None, user: dict | None = None, days: dict | None = None):
    tables = copy.deepcopy(BASE)
    tables["reservations"]["ABC123"].update(reservation or {})
    tables["users"]["ann_lee_1"].update(user or {})
    for (number, day), record in (days or {}).items():
        tables["flights"][number]["dates"][day] = record
    return Database(tables).fork()


def _rules(state, *actions) -> list[str]:
    return [v.rule for v in check_trace(state, list(actions))]


LOOK = ("get_reservation_details", {"reservation_id": "ABC123"})
CANCEL = ("cancel_reservation", {"reservation_id": "ABC123"})
FLOWN = [
    {"origin": "JFK", "destination": "LAX", "flight_number": "HAT001", "date": "2024-05-14", "price": 180}
]
AIRLINE_CANCELLED = [
    {"origin": "JFK", "destination": "LAX", "flight_number": "HAT001", "date": "2024-05-21", "price": 180}
]


def _change(cabin: str, *legs: tuple[str, str], payment: str = "credit_card_1"):
    flights = [{"flight_number": n, "date": d} for n, d in legs]
    return (
        "update_reservation_flights",
        {"reservation_id": "ABC123", "cabin": cabin, "flights": flights, "payment_id": payment},
    )


def test_basic_economy_cannot_change_flights():
    new_flight = _change("economy", ("HAT003", "2024-05-20"))
    assert _rules(_state(), LOOK, new_flight) == []
    basic = _state({"cabin": "basic_economy"})
    assert _rules(basic, _change("basic_economy", ("HAT003", "2024-05-20"))) == ["basic-economy-flights"]
    assert _rules(basic, _change("business", ("HAT001", "2024-05-20"))) == []  # a cabin change is allowed


def test_flight_change_keeps_the_trip():
    assert _rules(_state(), _change("economy", ("HAT003", "2024-05-20"))) == []
    assert _rules(_state(), _change("economy", ("HAT002", "2024-05-20"))) == [
        "change-keeps-trip",
        "change-keeps-trip",
    ]


def test_cabin_cannot_change_after_a_flight_has_flown():
    assert _rules(_state(), _change("business", ("HAT001", "2024-05-20"))) == []
    flown = _state({"flights": FLOWN})
    assert _rules(flown, _change("business", ("HAT001", "2024-05-14"))) == ["cabin-change-after-flown"]


def test_cancellation_conditions():
    assert _rules(_state(), LOOK, CANCEL) == ["cancel-not-allowed"]  # economy, 5 days old, no insurance
    assert _rules(_state({"created_at": "2024-05-14T16:00:00"}), CANCEL) == []  # within 24 hours
    assert _rules(_state({"cabin": "business"}), CANCEL) == []
    assert _rules(_state({"insurance": "yes"}), CANCEL) == []
    assert _rules(_state({"flights": AIRLINE_CANCELLED}), CANCEL) == []
    assert _rules(_state({"flights": FLOWN, "cabin": "business"}), CANCEL) == ["cancel-not-allowed"]
    assert _rules(_state(), CANCEL, CANCEL) == ["cancel-not-allowed", "cancel-not-allowed"]
    # upgraded to business earlier in the trace (v1 does not store the new cabin): now allowed
    assert _rules(_state(), _change("business", ("HAT001", "2024-05-20")), CANCEL) == []


def _bags(total: int, nonfree: int, payment: str = "gift_card_1"):
    return (
        "update_reservation_baggages",
        {
            "reservation_id": "ABC123",
            "total_baggages": total,
            "nonfree_baggages": nonfree,
            "payment_id": payment,
        },
    )


def test_bags_only_added_and_allowance():
    # silver member, economy, 1 passenger: 2 free bags
    assert _rules(_state(), _bags(2, 0)) == []
    assert _rules(_state(), _bags(3, 1)) == []
    assert _rules(_state(), _bags(0, 0)) == ["bags-only-added"]
    assert _rules(_state(), _bags(3, 0)) == ["bag-allowance"]
    assert _rules(_state({"cabin": "business"}), _bags(3, 0)) == []  # silver business: 3 free


BOOK = {
    "user_id": "ann_lee_1",
    "origin": "JFK",
    "destination": "SFO",
    "flight_type": "one_way",
    "cabin": "economy",
    "flights": [
        {"flight_number": "HAT001", "date": "2024-05-20"},
        {"flight_number": "HAT002", "date": "2024-05-20"},
    ],
    "passengers": [{"first_name": "Ann", "last_name": "Lee", "dob": "1980-01-02"}],
    "payment_methods": [{"payment_id": "credit_card_1", "amount": 320}],
    "total_baggages": 0,
    "nonfree_baggages": 0,
    "insurance": "no",
}


def test_booking_itinerary():
    assert _rules(_state(), ("book_reservation", BOOK)) == []
    assert _rules(_state(), ("book_reservation", {**BOOK, "destination": "LAX"})) == ["itinerary"]
    round_trip = {**BOOK, "flight_type": "round_trip"}
    assert _rules(_state(), ("book_reservation", round_trip)) == ["itinerary"]
    swapped = {**BOOK, "flights": list(reversed(BOOK["flights"]))}
    assert "itinerary" in _rules(_state(), ("book_reservation", swapped))


def test_booking_bags_and_passengers():
    assert _rules(_state(), ("book_reservation", {**BOOK, "total_baggages": 2})) == []
    assert _rules(_state(), ("book_reservation", {**BOOK, "total_baggages": 3})) == ["bag-allowance"]
    six = {**BOOK, "passengers": BOOK["passengers"] * 6, "total_baggages": 0}
    assert _rules(_state(), ("book_reservation", six)) == ["passengers"]
    update = (
        "update_reservation_passengers",
        {"reservation_id": "ABC123", "passengers": BOOK["passengers"] * 2},
    )
    assert _rules(_state(), update) == ["passengers"]
    same = ("update_reservation_passengers", {"reservation_id": "ABC123", "passengers": BOOK["passengers"]})
    assert _rules(_state(), same) == []


def test_payment_limits():
    cards = {
        "credit_card_1": BASE["users"]["ann_lee_1"]["payment_methods"]["credit_card_1"],
        "credit_card_2": {"source": "credit_card", "brand": "visa", "last_four": "9", "id": "credit_card_2"},
    }
    two_cards = _state(user={"payment_methods": cards})
    split = {
        **BOOK,
        "payment_methods": [
            {"payment_id": "credit_card_1", "amount": 300},
            {"payment_id": "credit_card_2", "amount": 20},
        ],
    }
    assert _rules(two_cards, ("book_reservation", split)) == ["payment-limits"]
    mixed = {
        **BOOK,
        "payment_methods": [
            {"payment_id": "certificate_1", "amount": 150},
            {"payment_id": "credit_card_1", "amount": 170},
        ],
    }
    assert _rules(_state(), ("book_reservation", mixed)) == []
    assert _rules(_state(), _bags(3, 1, payment="certificate_1")) == ["payment-limits"]
    assert _rules(_state(), _bags(3, 1, payment="credit_card_1")) == []


def _certificate(amount: int):
    return ("send_certificate", {"user_id": "ann_lee_1", "amount": amount})


def test_compensation():
    cancelled = _state({"flights": AIRLINE_CANCELLED})  # silver member, 1 passenger
    assert _rules(cancelled, LOOK, _certificate(100)) == []
    assert _rules(cancelled, LOOK, _certificate(150)) == ["compensation"]
    assert _rules(cancelled, _certificate(100)) == ["compensation"]  # never looked at the reservation
    regular = _state({"flights": AIRLINE_CANCELLED}, user={"membership": "regular"})
    assert _rules(regular, LOOK, _certificate(100)) == ["compensation"]
    insured = _state({"flights": AIRLINE_CANCELLED, "insurance": "yes"}, user={"membership": "regular"})
    assert _rules(insured, LOOK, _certificate(100)) == []
    delayed_day = {
        "status": "delayed",
        "estimated_departure_time_est": "2024-05-20T10:00:00",
        "estimated_arrival_time_est": "2024-05-20T13:00:00",
    }
    delayed = _state({"cabin": "business"}, days={("HAT001", "2024-05-20"): delayed_day})
    assert _rules(delayed, LOOK, CANCEL, _certificate(50)) == []
    assert _rules(delayed, LOOK, _certificate(50)) == ["compensation"]  # no change or cancellation first
    assert _rules(_state(), LOOK, _certificate(50)) == ["compensation"]  # nothing delayed or cancelled


def test_transfer_ends_the_conversation():
    transfer = ("transfer_to_human_agents", {"summary": "x"})
    assert _rules(_state(), LOOK, transfer) == []
    assert _rules(_state(), transfer, LOOK) == ["transfer-last"]


def test_policy_check_shape_for_validation():
    task = Task(
        id="t",
        domain="airline",
        user_id="ann_lee_1",
        instruction="cancel",
        actions=[Action(name="get_reservation_details", arguments={"reservation_id": "ABC123"}),
                 Action(name="cancel_reservation", arguments={"reservation_id": "ABC123"})],
    )  # fmt: skip
    policy = AirlinePolicy()
    state = _state()
    assert policy.check_action(state, task, 0, task.actions[0].arguments, "get_reservation_details") == []
    problems = policy.check_action(state, task, 1, task.actions[1].arguments, "cancel_reservation")
    assert len(problems) == 1 and problems[0].startswith("[cancel-not-allowed] reservation ABC123 was booked")
