"""Airline loaders (error paths), the seeded generator, grounding and registration."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from airline_tiny import tiny_tables

from casework.domains import DataError, get_domain
from casework.domains.airline.data import check_airline, default_airline_database, load_airline
from casework.domains.airline.generator import free_bags, generate_airline, write_airline
from casework.domains.airline.grounding import ground_action
from casework.domains.state import Database


def _write_dir(tmp_path: Path, tables: dict) -> Path:
    for name, table in tables.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(table))
    return tmp_path


# -- loaders -------------------------------------------------------------------------------------


def test_loads_both_layouts(tmp_path):
    tables = tiny_tables()
    from_dir = load_airline(_write_dir(tmp_path, tables))
    db_json = tmp_path / "db.json"
    db_json.write_text(json.dumps(tables))
    from_file = load_airline(db_json)
    assert from_dir.canonical_hash() == from_file.canonical_hash() == Database(tiny_tables()).canonical_hash()


def test_reference_data_loads():
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not (shared / "tau-bench-v1" / "airline" / "users.json").exists():
        pytest.skip("reference data not found (needs ../shared/data beside the repository)")
    v1 = load_airline(shared / "tau-bench-v1" / "airline")
    assert {k: len(v) for k, v in v1.tables.items()} == {"flights": 300, "reservations": 2000, "users": 500}
    t3 = load_airline(shared / "tau3" / "airline" / "db.json")  # a reconstruction of τ³'s db.json
    assert len(t3.tables["reservations"]) == 2000 and "user_id" in t3.tables["users"]["mia_li_3668"]


def _broken(tmp_path: Path, mutate) -> str:
    tables = tiny_tables()
    mutate(tables)
    with pytest.raises(DataError) as info:
        load_airline(_write_dir(tmp_path, tables))
    return str(info.value)


def test_error_names_file_record_and_field(tmp_path):
    message = _broken(tmp_path, lambda t: t["reservations"]["ABC123"].update(cabin="first"))
    assert message == (
        f"{tmp_path / 'reservations.json'}: reservation 'ABC123' field 'cabin': expected one of "
        "basic_economy, economy, business, got 'first'"
    )
    message = _broken(tmp_path, lambda t: t["users"]["ann_lee_1"].pop("membership"))
    assert message.endswith("users.json: user 'ann_lee_1' field 'membership': required field is missing")
    message = _broken(
        tmp_path, lambda t: t["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"].update(source="paypal")
    )
    assert (
        "user 'ann_lee_1' field 'payment_methods.gift_card_1.source': expected one of credit_card, gift_card, certificate, got 'paypal'"
        in message
    )
    message = _broken(
        tmp_path, lambda t: t["flights"]["HAT001"]["dates"]["2024-05-20"].update(status="boarding")
    )
    assert "flight 'HAT001' field 'dates[\"2024-05-20\"].status': expected one of available" in message
    message = _broken(
        tmp_path,
        lambda t: t["flights"]["HAT001"]["dates"]["2024-05-20"]["available_seats"].update(economy="3"),
    )
    assert (
        "field 'dates[\"2024-05-20\"].available_seats.economy': expected a valid integer, got '3'" in message
    )


def test_error_names_broken_references(tmp_path):
    message = _broken(tmp_path, lambda t: t["reservations"]["ABC123"].update(user_id="ghost"))
    assert message.endswith(
        f"reservation 'ABC123' field 'user_id': no user 'ghost' in {tmp_path / 'users.json'}"
    )
    message = _broken(tmp_path, lambda t: t["reservations"]["ABC123"]["flights"][0].update(date="2024-07-01"))
    assert "field 'flights[0].date': flight 'HAT001' does not fly on '2024-07-01'" in message
    message = _broken(tmp_path, lambda t: t["users"]["ann_lee_1"]["reservations"].append("NOPE99"))
    assert "user 'ann_lee_1' field 'reservations[1]': no reservation 'NOPE99'" in message
    message = _broken(tmp_path, lambda t: t["flights"]["HAT002"].update(flight_number="HAT222"))
    assert (
        "flight 'HAT002' field 'flight_number': expected 'HAT002' (the record's key), got 'HAT222'" in message
    )


def test_layout_errors(tmp_path):
    with pytest.raises(DataError, match="no flights.json in"):
        load_airline(tmp_path)
    with pytest.raises(DataError, match="no such file or directory"):
        load_airline(tmp_path / "missing.json")
    bad = tmp_path / "db.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"db.json: not valid JSON: .* at line 1 column 2"):
        load_airline(bad)
    bad.write_text(json.dumps({"users": {}, "flights": {}}))
    with pytest.raises(DataError, match="no table 'reservations'"):
        load_airline(bad)
    bad.write_text(json.dumps({"users": {}, "flights": {}, "reservations": {}, "orders": {}}))
    with pytest.raises(DataError, match=r"unknown table\(s\) \['orders'\]"):
        load_airline(bad)
    bad.write_text(json.dumps([]))
    with pytest.raises(DataError, match="expected a JSON object"):
        load_airline(bad)


# -- generator -----------------------------------------------------------------------------------


def test_generator_same_seed_same_bytes(tmp_path):
    a, b = write_airline(generate_airline(5, users=40, reservations=120, flights=30), tmp_path / "a"), None
    b = write_airline(generate_airline(5, users=40, reservations=120, flights=30), tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    other = generate_airline(6, users=40, reservations=120, flights=30)
    assert json.dumps(other) != a[0].read_text()
    loaded = load_airline(tmp_path / "a")  # the written layout reads back and validates
    assert len(loaded.tables["reservations"]) == 120


def test_generator_is_referentially_consistent():
    tables = generate_airline(11, users=60, reservations=400, flights=40)
    check_airline(tables)  # shapes, ids, user <-> reservation and flight/date references
    flights, users = tables["flights"], tables["users"]
    assert len(flights) == 40 and len(users) == 60 and len(tables["reservations"]) == 400
    routes = {(f["origin"], f["destination"]) for f in flights.values()}
    assert all((d, o) in routes for o, d in routes)  # every route flies both ways
    for day in (d for f in flights.values() for d in f["dates"].values() if d["status"] == "available"):
        prices = day["prices"]
        assert prices["basic_economy"] < prices["economy"] < prices["business"]
        assert all(seats >= 0 for seats in day["available_seats"].values())
    kinds = {"one_way": 0, "round_trip": 0}
    for reservation in tables["reservations"].values():
        user = users[reservation["user_id"]]
        legs, count = reservation["flights"], len(reservation["passengers"])
        kinds[reservation["flight_type"]] += 1
        assert 1 <= count <= 5 and legs[0]["origin"] == reservation["origin"]
        assert all(a["destination"] == b["origin"] for a, b in zip(legs, legs[1:], strict=False))
        assert [leg["date"] for leg in legs] == sorted(leg["date"] for leg in legs)
        stops = [leg["destination"] for leg in legs]
        if reservation["flight_type"] == "one_way":
            assert stops[-1] == reservation["destination"]
        else:
            assert stops[-1] == reservation["origin"] and reservation["destination"] in stops
        for leg in legs:
            day = flights[leg["flight_number"]]["dates"][leg["date"]]
            if day["status"] == "available":
                assert leg["price"] == day["prices"][reservation["cabin"]]
        expected = sum(leg["price"] for leg in legs) * count
        expected += 30 * count * (reservation["insurance"] == "yes") + 50 * reservation["nonfree_baggages"]
        paid = [p for p in reservation["payment_history"] if p["amount"] > 0]
        assert sum(p["amount"] for p in paid) == expected
        if reservation.get("status") == "cancelled":
            assert sum(p["amount"] for p in reservation["payment_history"]) == 0
        sources = [user["payment_methods"][p["payment_id"]]["source"] for p in paid]
        assert sources.count("certificate") <= 1 and sources.count("credit_card") <= 1
        allowance = free_bags(user["membership"], reservation["cabin"], count)
        assert reservation["nonfree_baggages"] == max(0, reservation["total_baggages"] - allowance)
        assert (
            reservation["created_at"] <= "2024-05-15T15:00:00"
            and reservation["created_at"] < legs[0]["date"] + "T23"
        )
        assert reservation["reservation_id"] not in ("HATHAT", "HATHAU", "HATHAV")
    assert kinds["one_way"] > 50 and kinds["round_trip"] > 50
    memberships = {u["membership"] for u in users.values()}
    sources = {m["source"] for u in users.values() for m in u["payment_methods"].values()}
    assert memberships == {"regular", "silver", "gold"} and sources == {
        "credit_card",
        "gift_card",
        "certificate",
    }
    statuses = {d["status"] for f in flights.values() for d in f["dates"].values()}
    assert {"available", "landed", "cancelled"} <= statuses


def test_default_database_is_the_seed_0_generation():
    db = default_airline_database()
    assert db is default_airline_database()
    expected = hashlib.sha256(
        json.dumps(generate_airline(0), sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert db.canonical_hash() == expected


def test_registered_domain():
    domain = get_domain("airline")
    assert domain.name == "airline" and domain.tables == ("flights", "reservations", "users")
    assert "book_reservation" in domain.toolbox and domain.is_write("cancel_reservation")
    assert not domain.is_write("search_direct_flight")
    assert "basic economy" in domain.policy.lower()
    assert get_domain("retail").name == "retail"


# -- grounding -----------------------------------------------------------------------------------


def test_grounding():
    state = Database(tiny_tables()).fork()
    ok = {"reservation_id": "ABC123", "total_baggages": 2, "nonfree_baggages": 0, "payment_id": "gift_card_1"}
    assert ground_action(state, "ann_lee_1", "update_reservation_baggages", ok) == []
    assert ground_action(
        state, "ann_lee_1", "update_reservation_baggages", {**ok, "payment_id": "gift_card_9"}
    ) == ["payment method 'gift_card_9' does not belong to user 'ann_lee_1'"]
    assert ground_action(state, "bob_1", "cancel_reservation", {"reservation_id": "ABC123"}) == [
        "reservation ABC123 belongs to 'ann_lee_1', not the task's user 'bob_1'"
    ]
    assert ground_action(state, None, "cancel_reservation", {"reservation_id": "ZZZ"}) == [
        "reservation_id 'ZZZ' does not exist"
    ]
    book = {
        "user_id": "ann_lee_1",
        "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}, {"flight_number": "HAT777", "date": "2024-05-20"},
                    {"flight_number": "HAT002", "date": "2024-05-25"}],
        "payment_methods": [{"payment_id": "credit_card_1", "amount": 1}, {"payment_id": "certificate_x", "amount": 1}],
    }  # fmt: skip
    assert ground_action(state, "ann_lee_1", "book_reservation", book) == [
        "flights[1]: flight 'HAT777' does not exist",
        "flights[2]: flight HAT002 does not fly on '2024-05-25'",
        "payment method 'certificate_x' does not belong to user 'ann_lee_1'",
    ]
    assert ground_action(state, "ann_lee_1", "get_user_details", {"user_id": "someone"}) == [
        "user_id 'someone' does not exist"
    ]
    assert (
        ground_action(state, None, "get_flight_status", {"flight_number": "HAT001", "date": "2024-05-20"})
        == []
    )


def test_tau3_nulls_load_and_bad_record_kinds(tmp_path):
    tables = tiny_tables()
    tables["reservations"]["ABC123"]["status"] = None  # τ³ dumps may write null optional fields
    tables["users"]["ann_lee_1"]["address"]["address2"] = None
    db_json = tmp_path / "db.json"
    db_json.write_text(json.dumps(tables))
    assert load_airline(db_json).tables["reservations"]["ABC123"]["status"] is None
    tables["reservations"]["ABC123"] = ["not", "a", "record"]
    db_json.write_text(json.dumps(tables))
    with pytest.raises(
        DataError, match=r"\(table 'reservations'\): reservation 'ABC123': expected an object, got \['not'"
    ):
        load_airline(db_json)
    tables["reservations"] = []
    db_json.write_text(json.dumps(tables))
    with pytest.raises(DataError, match="expected a JSON object of reservations keyed by id, got an array"):
        load_airline(db_json)
