"""Every airline tool, in every profile, on a small hand-built database.

Expected observations are written out by hand from the reference semantics: tau-bench v1's
``tau_bench/envs/airline/tools/*.py`` (``json.dumps`` of the stored record, lower-case errors) and
τ³'s ``src/tau2/domains/airline/tools.py`` (``json.dumps(model.model_dump())`` with τ³'s model key
order and null optional fields, capitalised errors). They are literals, not computed by our code.
"""

from __future__ import annotations

import json

import pytest
from airline_tiny import tiny_tables

from casework.domains.airline import AIRLINE_PROFILES, airline_toolbox
from casework.domains.airline.data import check_airline
from casework.domains.state import Database

V1 = AIRLINE_PROFILES["tau-bench-v1"]
T3 = AIRLINE_PROFILES["tau3"]
T3X = AIRLINE_PROFILES["tau3-exact"]


@pytest.fixture
def db() -> Database:
    tables = tiny_tables()
    check_airline(tables)
    return Database(tables)


RES_V1 = (
    '{"reservation_id": "ABC123", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
    '"flight_type": "one_way", "cabin": "economy", "flights": [{"origin": "JFK", "destination": "LAX", '
    '"flight_number": "HAT001", "date": "2024-05-20", "price": 180}], "passengers": [{"first_name": "Ann", '
    '"last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "credit_card_1", "amount": 180}], '
    '"created_at": "2024-05-10T10:00:00", "total_baggages": 1, "nonfree_baggages": 0, "insurance": "no"}'
)
RES_T3 = (
    '{"reservation_id": "ABC123", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
    '"flight_type": "one_way", "cabin": "economy", "flights": [{"flight_number": "HAT001", "origin": "JFK", '
    '"destination": "LAX", "date": "2024-05-20", "price": 180}], "passengers": [{"first_name": "Ann", '
    '"last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "credit_card_1", "amount": 180}], '
    '"created_at": "2024-05-10T10:00:00", "total_baggages": 1, "nonfree_baggages": 0, "insurance": "no", '
    '"status": null}'
)


def test_profiles_tool_sets():
    assert "think" in V1 and "get_flight_status" not in V1
    assert "think" not in T3 and "get_flight_status" in T3 and "get_flight_status" in T3X
    assert len(V1.names()) == 14 and len(T3.names()) == 14
    assert airline_toolbox("tau3") is T3
    with pytest.raises(
        ValueError, match="unknown airline tool profile 'x'; available: tau-bench-v1, tau3, tau3-exact"
    ):
        airline_toolbox("x")


def test_schemas_match_v1_shapes():
    book = V1["book_reservation"].parameters
    assert book["required"] == [
        "user_id", "origin", "destination", "flight_type", "cabin", "flights", "passengers",
        "payment_methods", "total_baggages", "nonfree_baggages", "insurance",
    ]  # fmt: skip
    assert book["properties"]["cabin"]["enum"] == ["basic_economy", "economy", "business"]
    assert book["properties"]["flights"]["items"]["required"] == ["flight_number", "date"]
    assert book["properties"]["payment_methods"]["items"]["properties"]["amount"]["type"] == "number"
    assert V1["send_certificate"].parameters["properties"]["amount"]["type"] == "number"
    assert V1["list_all_airports"].parameters["properties"] == {}


# -- reads ---------------------------------------------------------------------------------------


def test_get_reservation_details(db):
    assert V1.call(db.fork(), "get_reservation_details", {"reservation_id": "ABC123"}) == RES_V1
    assert T3.call(db.fork(), "get_reservation_details", {"reservation_id": "ABC123"}) == RES_T3
    # v1's own message for a missing reservation says "user" (sic); τ³ names the reservation
    assert (
        V1.call(db.fork(), "get_reservation_details", {"reservation_id": "NOPE00"}) == "Error: user not found"
    )
    assert (
        T3.call(db.fork(), "get_reservation_details", {"reservation_id": "NOPE00"})
        == "Error: Reservation NOPE00 not found"
    )
    # τ³ resolves ids ignoring case and surrounding spaces; v1 does not
    assert T3.call(db.fork(), "get_reservation_details", {"reservation_id": " abc123"}) == RES_T3
    assert (
        V1.call(db.fork(), "get_reservation_details", {"reservation_id": "abc123"}) == "Error: user not found"
    )


def test_get_user_details(db):
    user = tiny_tables()["users"]["ann_lee_1"]
    assert V1.call(db.fork(), "get_user_details", {"user_id": "ann_lee_1"}) == json.dumps(user)
    assert V1.call(db.fork(), "get_user_details", {"user_id": "bob"}) == "Error: user not found"
    assert T3.call(db.fork(), "get_user_details", {"user_id": "bob"}) == "Error: User bob not found"
    assert T3.call(db.fork(), "get_user_details", {"user_id": "Ann_Lee_1"}) == (
        '{"user_id": "ann_lee_1", "name": {"first_name": "Ann", "last_name": "Lee"}, "address": {"address1": '
        '"1 Main St", "address2": "Suite 2", "city": "Austin", "country": "USA", "state": "TX", "zip": "78701"}, '
        '"email": "ann.lee@example.com", "dob": "1980-01-02", "payment_methods": {"credit_card_1": {"source": '
        '"credit_card", "id": "credit_card_1", "brand": "visa", "last_four": "1234"}, "gift_card_1": {"source": '
        '"gift_card", "id": "gift_card_1", "amount": 300.0}, "certificate_1": {"source": "certificate", "id": '
        '"certificate_1", "amount": 150.0}}, "saved_passengers": [], "membership": "silver", "reservations": '
        '["ABC123"]}'
    )


def test_list_all_airports(db):
    v1 = json.loads(V1.call(db.fork(), "list_all_airports", {}))
    assert list(v1)[:3] == ["SFO", "JFK", "LAX"] and len(v1) == 20 and v1["LGA"] == "LaGuardia"
    t3 = json.loads(T3.call(db.fork(), "list_all_airports", {}))
    assert t3[0] == {"iata": "SFO", "city": "San Francisco"} and len(t3) == 20


def test_search_direct_flight(db):
    assert V1.call(
        db.fork(), "search_direct_flight", {"origin": "JFK", "destination": "LAX", "date": "2024-05-20"}
    ) == (
        '[{"flight_number": "HAT001", "origin": "JFK", "destination": "LAX", "scheduled_departure_time_est": '
        '"08:00:00", "scheduled_arrival_time_est": "11:00:00", "status": "available", "available_seats": '
        '{"basic_economy": 5, "economy": 3, "business": 2}, "prices": {"basic_economy": 100, "economy": 200, '
        '"business": 500}}, {"flight_number": "HAT003", "origin": "JFK", "destination": "LAX", '
        '"scheduled_departure_time_est": "22:00:00", "scheduled_arrival_time_est": "01:00:00+1", "status": '
        '"available", "available_seats": {"basic_economy": 9, "economy": 9, "business": 9}, "prices": '
        '{"basic_economy": 95, "economy": 195, "business": 495}}]'
    )
    t3 = T3.call(
        db.fork(), "search_direct_flight", {"origin": "JFK", "destination": "LAX", "date": "2024-05-20"}
    )
    assert t3.startswith(
        '[{"flight_number": "HAT001", "origin": "JFK", "destination": "LAX", "status": "available", '
        '"scheduled_departure_time_est": "08:00:00", "scheduled_arrival_time_est": "11:00:00", "date": null, '
        '"available_seats": {"basic_economy": 5'
    )
    # a cancelled date is not listed; no match is an empty list
    assert (
        V1.call(
            db.fork(), "search_direct_flight", {"origin": "JFK", "destination": "LAX", "date": "2024-05-21"}
        )
        == "[]"
    )


def test_search_onestop_flight_v1(db):
    legs = json.loads(
        V1.call(
            db.fork(), "search_onestop_flight", {"origin": "JFK", "destination": "SFO", "date": "2024-05-20"}
        )
    )
    # HAT001 lands 11:00 -> HAT002 at 12:00 connects, HAT004 at 09:00 does not; HAT003 lands 01:00+1 and
    # connects with both on 2024-05-21 (v1 compares the strings "01:00:00+1" <= "09:00:00").
    assert [(a["flight_number"], a["date"], b["flight_number"], b["date"]) for a, b in legs] == [
        ("HAT001", "2024-05-20", "HAT002", "2024-05-20"),
        ("HAT003", "2024-05-20", "HAT002", "2024-05-21"),
        ("HAT003", "2024-05-20", "HAT004", "2024-05-21"),
    ]
    # v1 shows the second leg's seats and prices of the *first* leg's date (its own defect)
    assert legs[1][1]["prices"]["economy"] == 120 and legs[2][1]["prices"]["economy"] == 85
    assert list(legs[0][0]) == [
        "flight_number", "origin", "destination", "scheduled_departure_time_est",
        "scheduled_arrival_time_est", "status", "available_seats", "prices", "date",
    ]  # fmt: skip


def test_search_onestop_flight_tau3_and_next_day_defect(db):
    legs = json.loads(
        T3.call(
            db.fork(), "search_onestop_flight", {"origin": "JFK", "destination": "SFO", "date": "2024-05-20"}
        )
    )
    assert [(a["flight_number"], b["flight_number"], b["date"]) for a, b in legs] == [
        ("HAT001", "HAT002", "2024-05-20"),
        ("HAT003", "HAT002", "2024-05-21"),
        ("HAT003", "HAT004", "2024-05-21"),
    ]
    assert legs[1][1]["prices"]["economy"] == 130 and legs[2][1]["prices"]["economy"] == 86  # its own date
    assert list(legs[0][0])[6] == "date"
    # 2024-05-05 + overnight: the real next day is 2024-05-06; v1 and τ³ build "2024-05-6" and find nothing
    args = {"origin": "JFK", "destination": "SFO", "date": "2024-05-05"}
    assert [b["date"] for _, b in json.loads(T3.call(db.fork(), "search_onestop_flight", args))] == [
        "2024-05-06"
    ]
    assert T3X.call(db.fork(), "search_onestop_flight", args) == "[]"
    assert V1.call(db.fork(), "search_onestop_flight", args) == "[]"


def test_get_flight_status(db):
    assert (
        T3.call(db.fork(), "get_flight_status", {"flight_number": "HAT001", "date": "2024-05-21"})
        == "cancelled"
    )
    assert (
        T3.call(db.fork(), "get_flight_status", {"flight_number": "hat001", "date": "2024-05-14"}) == "landed"
    )
    assert T3.call(db.fork(), "get_flight_status", {"flight_number": "HAT009", "date": "2024-05-14"}) == (
        "Error: Flight HAT009 not found"
    )
    assert T3.call(db.fork(), "get_flight_status", {"flight_number": "HAT001", "date": "2024-06-01"}) == (
        "Error: Flight HAT001 not found on date 2024-06-01"
    )


def test_generic_tools(db):
    assert V1.call(db.fork(), "calculate", {"expression": "(200 + 30) * 2"}) == "460.0"
    assert (
        V1.call(db.fork(), "calculate", {"expression": "2 ** x"}) == "Error: invalid characters in expression"
    )
    assert (
        T3.call(db.fork(), "calculate", {"expression": "2 ** x"}) == "Error: Invalid characters in expression"
    )
    assert V1.call(db.fork(), "calculate", {"expression": "1 / 0"}) == "Error: division by zero"
    assert V1.call(db.fork(), "think", {"thought": "hmm"}) == ""
    assert V1.call(db.fork(), "transfer_to_human_agents", {"summary": "x"}) == "Transfer successful"
    assert T3.call(db.fork(), "transfer_to_human_agents", {"summary": "x"}) == "Transfer successful"
    assert V1["transfer_to_human_agents"].ends_conversation


# -- writes --------------------------------------------------------------------------------------

BOOK = {
    "user_id": "ann_lee_1",
    "origin": "JFK",
    "destination": "LAX",
    "flight_type": "one_way",
    "cabin": "economy",
    "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}],
    "passengers": [{"first_name": "Ann", "last_name": "Lee", "dob": "1980-01-02"}],
    "payment_methods": [
        {"payment_id": "gift_card_1", "amount": 100},
        {"payment_id": "credit_card_1", "amount": 180},
    ],
    "total_baggages": 2,
    "nonfree_baggages": 1,
    "insurance": "yes",
}  # price: 200 (economy) x 1 + 30 insurance + 50 bag = 280


def test_book_reservation_v1(db):
    state = db.fork()
    assert V1.call(state, "book_reservation", BOOK) == (
        '{"reservation_id": "HATHAT", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
        '"flight_type": "one_way", "cabin": "economy", "flights": [{"flight_number": "HAT001", "date": '
        '"2024-05-20", "price": 200, "origin": "JFK", "destination": "LAX"}], "passengers": [{"first_name": '
        '"Ann", "last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "gift_card_1", '
        '"amount": 100}, {"payment_id": "credit_card_1", "amount": 180}], "created_at": "2024-05-15T15:00:00", '
        '"total_baggages": 2, "nonfree_baggages": 1, "insurance": "yes"}'
    )
    user = state["users"]["ann_lee_1"]
    assert user["payment_methods"]["gift_card_1"]["amount"] == 200 and user["reservations"] == [
        "ABC123",
        "HATHAT",
    ]
    assert (
        state["flights"]["HAT001"]["dates"]["2024-05-20"]["available_seats"]["economy"] == 3
    )  # v1 takes no seats
    # the next bookings get HATHAU, then HATHAV
    second = json.loads(
        V1.call(
            state,
            "book_reservation",
            {**BOOK, "payment_methods": [{"payment_id": "credit_card_1", "amount": 280}]},
        )
    )
    assert second["reservation_id"] == "HATHAU"
    # a certificate is used up whole
    third = {
        **BOOK,
        "payment_methods": [
            {"payment_id": "certificate_1", "amount": 150},
            {"payment_id": "credit_card_1", "amount": 130},
        ],
    }
    assert json.loads(V1.call(state, "book_reservation", third))["reservation_id"] == "HATHAV"
    assert "certificate_1" not in state["users"]["ann_lee_1"]["payment_methods"]


def test_book_reservation_tau3(db):
    state = db.fork()
    out = T3.call(
        state,
        "book_reservation",
        {**BOOK, "passengers": [{"first_name": "Ann", "last_name": "Lee", "dob": "1980-01-02", "x": 1}]},
    )
    assert out == (
        '{"reservation_id": "HATHAT", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
        '"flight_type": "one_way", "cabin": "economy", "flights": [{"flight_number": "HAT001", "origin": "JFK", '
        '"destination": "LAX", "date": "2024-05-20", "price": 200}], "passengers": [{"first_name": "Ann", '
        '"last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "gift_card_1", "amount": '
        '100}, {"payment_id": "credit_card_1", "amount": 180}], "created_at": "2024-05-15T15:00:00", '
        '"total_baggages": 2, "nonfree_baggages": 1, "insurance": "yes", "status": null}'
    )
    assert (
        state["flights"]["HAT001"]["dates"]["2024-05-20"]["available_seats"]["economy"] == 2
    )  # τ³ takes a seat
    assert state["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["amount"] == 200.0
    assert "status" not in state["reservations"]["HATHAT"]  # null fields are not stored
    for _ in range(2):
        T3.call(
            state,
            "book_reservation",
            {**BOOK, "payment_methods": [{"payment_id": "credit_card_1", "amount": 280}]},
        )
    assert T3.call(state, "book_reservation", BOOK) == "Error: Too many reservations"


@pytest.mark.parametrize(
    ("change", "v1_error", "t3_error"),
    [
        ({"user_id": "bob"}, "user not found", "User bob not found"),
        (
            {"flights": [{"flight_number": "HAT999", "date": "2024-05-20"}]},
            "flight HAT999 not found",
            "Flight HAT999 not found",
        ),
        (
            {"flights": [{"flight_number": "HAT001", "date": "2024-06-20"}]},
            "flight HAT001 not found on date 2024-06-20",
            "Flight HAT001 not found on date 2024-06-20",
        ),
        (
            {"flights": [{"flight_number": "HAT001", "date": "2024-05-21"}]},
            "flight HAT001 not available on date 2024-05-21",
            "Flight HAT001 not available on date 2024-05-21",
        ),
        (
            {"cabin": "business", "passengers": BOOK["passengers"] * 3},
            "not enough seats on flight HAT001",
            "Not enough seats on flight HAT001",
        ),
        (
            {"payment_methods": [{"payment_id": "paypal_9", "amount": 280}]},
            "payment method paypal_9 not found",
            "Payment method paypal_9 not found",
        ),
        (
            {
                "payment_methods": [
                    {"payment_id": "gift_card_1", "amount": 310},
                    {"payment_id": "credit_card_1", "amount": -30},
                ]
            },
            "not enough balance in payment method gift_card_1",
            "Not enough balance in payment method gift_card_1",
        ),
        (
            {"payment_methods": [{"payment_id": "credit_card_1", "amount": 279.5}]},
            "payment amount does not add up, total price is 280, but paid 279.5",
            "Payment amount must be a whole number of dollars, got 279.5",
        ),
        (
            {"payment_methods": [{"payment_id": "credit_card_1", "amount": 100}]},
            "payment amount does not add up, total price is 280, but paid 100",
            "Payment amount does not add up, total price is 280, but paid 100",
        ),
        ({"cabin": "first"}, "'first'", "'first'"),
    ],
)
def test_book_reservation_errors_change_nothing(db, change, v1_error, t3_error):
    for toolbox, error in ((V1, v1_error), (T3, t3_error)):
        state = db.fork()
        assert toolbox.call(state, "book_reservation", {**BOOK, **change}) == f"Error: {error}"
        assert state.canonical_hash() == db.canonical_hash()


def test_book_reservation_duplicate_gift_card_defect(db):
    """τ³ (and v1) check each payment entry alone: the same gift card twice can overdraw it."""
    pay = {
        "payment_methods": [
            {"payment_id": "gift_card_1", "amount": 200},
            {"payment_id": "gift_card_1", "amount": 200},
        ]
    }
    args = {
        **BOOK,
        "insurance": "no",
        "nonfree_baggages": 4,
        "total_baggages": 4,
        **pay,
    }  # 200 + 4 x 50 = 400
    state = db.fork()
    assert (
        T3.call(state, "book_reservation", args) == "Error: Not enough balance in payment method gift_card_1"
    )
    exact = db.fork()
    assert json.loads(T3X.call(exact, "book_reservation", args))["reservation_id"] == "HATHAT"
    assert exact["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["amount"] == -100.0
    assert json.loads(V1.call(db.fork(), "book_reservation", args))["reservation_id"] == "HATHAT"


def test_book_reservation_keeps_arguments_as_given_in_v1(db):
    """v1 stores the caller's objects: key order, extra keys and 280.0 versus 280 show in its output."""
    args = {
        **BOOK,
        "flights": [{"date": "2024-05-20", "flight_number": "HAT001"}],
        "payment_methods": [{"amount": 280.0, "payment_id": "credit_card_1"}],
    }
    out = json.loads(V1.call(db.fork(), "book_reservation", args))
    assert list(out["flights"][0]) == ["date", "flight_number", "price", "origin", "destination"]
    assert json.dumps(out["payment_history"]) == '[{"amount": 280.0, "payment_id": "credit_card_1"}]'


def test_cancel_reservation(db):
    state = db.fork()
    assert V1.call(state, "cancel_reservation", {"reservation_id": "ABC123"}) == RES_V1.replace(
        '"amount": 180}]', '"amount": 180}, {"payment_id": "credit_card_1", "amount": -180}]'
    ).replace('"insurance": "no"}', '"insurance": "no", "status": "cancelled"}')
    assert T3.call(db.fork(), "cancel_reservation", {"reservation_id": "ABC123"}) == RES_T3.replace(
        '"amount": 180}]', '"amount": 180}, {"payment_id": "credit_card_1", "amount": -180}]'
    ).replace('"status": null', '"status": "cancelled"')
    assert V1.call(db.fork(), "cancel_reservation", {"reservation_id": "X"}) == "Error: reservation not found"
    assert (
        T3.call(db.fork(), "cancel_reservation", {"reservation_id": "X"}) == "Error: Reservation X not found"
    )


def test_update_reservation_baggages(db):
    state = db.fork()
    args = {
        "reservation_id": "ABC123",
        "total_baggages": 3,
        "nonfree_baggages": 2,
        "payment_id": "gift_card_1",
    }
    out = json.loads(V1.call(state, "update_reservation_baggages", args))
    assert out["total_baggages"] == 3 and out["nonfree_baggages"] == 2
    assert out["payment_history"][-1] == {"payment_id": "gift_card_1", "amount": 100}
    assert state["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["amount"] == 200
    # removing bags costs nothing and adds no payment
    out = json.loads(
        V1.call(state, "update_reservation_baggages", {**args, "total_baggages": 0, "nonfree_baggages": 0})
    )
    assert len(out["payment_history"]) == 2
    errors = {
        "certificate_1": (
            "certificate cannot be used to update reservation",
            "Certificate cannot be used to update reservation",
        ),
        "paypal_1": ("payment method not found", "Payment method not found"),
    }
    for payment_id, (v1, t3) in errors.items():
        assert (
            V1.call(db.fork(), "update_reservation_baggages", {**args, "payment_id": payment_id})
            == f"Error: {v1}"
        )
        assert (
            T3.call(db.fork(), "update_reservation_baggages", {**args, "payment_id": payment_id})
            == f"Error: {t3}"
        )
    rich = {**args, "nonfree_baggages": 7}  # $350 > $300 on the gift card
    assert V1.call(db.fork(), "update_reservation_baggages", rich) == "Error: gift card balance is not enough"
    assert T3.call(db.fork(), "update_reservation_baggages", rich) == "Error: Gift card balance is not enough"


def test_update_reservation_flights(db):
    args = {
        "reservation_id": "ABC123",
        "cabin": "business",
        "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}],
        "payment_id": "credit_card_1",
    }
    v1 = db.fork()
    out = json.loads(V1.call(v1, "update_reservation_flights", args))
    # a cabin change prices the flight anew (500) and charges 500 - 180; v1 keeps the old cabin
    assert out["cabin"] == "economy" and out["flights"][0]["price"] == 500
    assert out["payment_history"][-1] == {"payment_id": "credit_card_1", "amount": 320}
    t3 = db.fork()
    out = json.loads(T3.call(t3, "update_reservation_flights", args))
    assert out["cabin"] == "business" and out["payment_history"][-1]["amount"] == 320
    # same cabin and same flight: kept at the price paid, nothing charged
    same = {**args, "cabin": "economy"}
    out = json.loads(V1.call(db.fork(), "update_reservation_flights", same))
    assert out["flights"][0]["price"] == 180 and len(out["payment_history"]) == 1
    # a cheaper change refunds onto the gift card
    cheaper = {
        **args,
        "cabin": "economy",
        "flights": [{"flight_number": "HAT003", "date": "2024-05-20"}],
        "payment_id": "gift_card_1",
    }
    state = db.fork()
    out = json.loads(V1.call(state, "update_reservation_flights", cheaper))
    assert out["payment_history"][-1] == {"payment_id": "gift_card_1", "amount": 15}
    assert state["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["amount"] == 285
    assert V1.call(
        db.fork(),
        "update_reservation_flights",
        {**args, "flights": [{"flight_number": "HAT001", "date": "2024-05-21"}]},
    ) == ("Error: flight HAT001 not available on date 2024-05-21")
    assert V1.call(db.fork(), "update_reservation_flights", {**args, "payment_id": "certificate_1"}) == (
        "Error: certificate cannot be used to update reservation"
    )
    assert (
        T3.call(db.fork(), "update_reservation_flights", {**args, "reservation_id": "Q"})
        == "Error: Reservation Q not found"
    )


def test_update_reservation_passengers(db):
    new = [{"first_name": "Bo", "last_name": "Lee", "dob": "1990-01-01"}]
    out = json.loads(
        V1.call(db.fork(), "update_reservation_passengers", {"reservation_id": "ABC123", "passengers": new})
    )
    assert out["passengers"] == new
    two = new * 2
    assert V1.call(
        db.fork(), "update_reservation_passengers", {"reservation_id": "ABC123", "passengers": two}
    ) == ("Error: number of passengers does not match")
    assert T3.call(
        db.fork(), "update_reservation_passengers", {"reservation_id": "ABC123", "passengers": two}
    ) == ("Error: Number of passengers does not match")


def test_send_certificate(db):
    state = db.fork()
    assert V1.call(state, "send_certificate", {"user_id": "ann_lee_1", "amount": 150}) == (
        "Certificate certificate_3221322 added to user ann_lee_1 with amount 150."
    )
    assert state["users"]["ann_lee_1"]["payment_methods"]["certificate_3221322"] == {
        "source": "certificate",
        "amount": 150,
        "id": "certificate_3221322",
    }
    V1.call(state, "send_certificate", {"user_id": "ann_lee_1", "amount": 50.0})
    assert V1.call(state, "send_certificate", {"user_id": "ann_lee_1", "amount": 10}).endswith(
        "certificate_3221324 added to user ann_lee_1 with amount 10."
    )
    assert (
        V1.call(state, "send_certificate", {"user_id": "ann_lee_1", "amount": 10})
        == "Error: too many certificates"
    )
    t3 = db.fork()
    assert T3.call(t3, "send_certificate", {"user_id": "ann_lee_1", "amount": 150}).endswith(
        "with amount 150."
    )
    assert t3["users"]["ann_lee_1"]["payment_methods"]["certificate_3221322"]["amount"] == 150.0
    assert isinstance(t3["users"]["ann_lee_1"]["payment_methods"]["certificate_3221322"]["amount"], float)
    assert T3.call(t3, "send_certificate", {"user_id": "zed", "amount": 1}) == "Error: User zed not found"


def test_bad_arguments_are_reported_not_raised(db):
    out = V1.call(db.fork(), "book_reservation", {**BOOK, "flights": [{"flight_number": "HAT001"}]})
    assert (
        out.startswith("Error: invalid arguments for book_reservation") and "flights[0] has no 'date'" in out
    )


def test_update_observations_byte_for_byte(db):
    """Whole observations of a cabin change and a bag change, written out from the references' semantics."""
    upgrade = {
        "reservation_id": "ABC123",
        "cabin": "business",
        "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}],
        "payment_id": "credit_card_1",
    }
    assert V1.call(db.fork(), "update_reservation_flights", upgrade) == (
        '{"reservation_id": "ABC123", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
        '"flight_type": "one_way", "cabin": "economy", "flights": [{"flight_number": "HAT001", "date": '
        '"2024-05-20", "price": 500, "origin": "JFK", "destination": "LAX"}], "passengers": [{"first_name": '
        '"Ann", "last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "credit_card_1", '
        '"amount": 180}, {"payment_id": "credit_card_1", "amount": 320}], "created_at": "2024-05-10T10:00:00", '
        '"total_baggages": 1, "nonfree_baggages": 0, "insurance": "no"}'
    )
    assert T3.call(db.fork(), "update_reservation_flights", upgrade) == (
        '{"reservation_id": "ABC123", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
        '"flight_type": "one_way", "cabin": "business", "flights": [{"flight_number": "HAT001", "origin": "JFK", '
        '"destination": "LAX", "date": "2024-05-20", "price": 500}], "passengers": [{"first_name": "Ann", '
        '"last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "credit_card_1", '
        '"amount": 180}, {"payment_id": "credit_card_1", "amount": 320}], "created_at": "2024-05-10T10:00:00", '
        '"total_baggages": 1, "nonfree_baggages": 0, "insurance": "no", "status": null}'
    )
    bags = {
        "reservation_id": "ABC123",
        "total_baggages": 3,
        "nonfree_baggages": 2,
        "payment_id": "gift_card_1",
    }
    assert V1.call(db.fork(), "update_reservation_baggages", bags) == (
        '{"reservation_id": "ABC123", "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", '
        '"flight_type": "one_way", "cabin": "economy", "flights": [{"origin": "JFK", "destination": "LAX", '
        '"flight_number": "HAT001", "date": "2024-05-20", "price": 180}], "passengers": [{"first_name": "Ann", '
        '"last_name": "Lee", "dob": "1980-01-02"}], "payment_history": [{"payment_id": "credit_card_1", '
        '"amount": 180}, {"payment_id": "gift_card_1", "amount": 100}], "created_at": "2024-05-10T10:00:00", '
        '"total_baggages": 3, "nonfree_baggages": 2, "insurance": "no"}'
    )
