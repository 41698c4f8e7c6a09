"""Synthetic airline databases at any scale, seeded and referentially consistent.

:func:`generate_airline` builds the three tables in tau-bench v1's layout (``flights``, ``users``,
``reservations``), with the clock of both references (2024-05-15 15:00 EST):

* **flights** fly routes between the 20 airports of ``list_all_airports``, every route in both
  directions; each flight has scheduled local times (an arrival after midnight is written ``+1``)
  and one record per date of the window: dates before today have landed (with actual times) or were
  cancelled, today's flights are landed, flying, on time, delayed or cancelled by their time of day,
  the next two days' may be delayed, on time or cancelled, and later dates are available with seats and prices per
  cabin (basic economy < economy < business, drawn around the flight's base fare);
* **users** have a name, address, email, date of birth, saved passengers, a membership level and
  payment methods: credit cards, gift cards with a balance, travel certificates with an amount;
* **reservations** belong to a user and list that user's payment ids; their flights exist and fly
  on the reserved dates, connect (a one-stop trip's second leg leaves where the first lands), return
  to the origin for a round trip, and are all in the reservation's cabin; prices are the flight's
  fare on that date (its listed price when still available); the payments add up to the fare times
  the passengers plus $30 per insured passenger plus $50 per non-free bag, where the free bags follow
  the policy's allowance by membership and cabin; ``created_at`` is before the first flight and not
  after now; a few reservations are cancelled, with every payment refunded (they sum to zero).

The same seed and sizes give identical tables (and identical bytes through :func:`write_airline`).
"""

from __future__ import annotations

import random
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from casework.domains.airline.tools import AIRPORTS, CABINS, CERTIFICATE_IDS, RESERVATION_IDS
from casework.domains.synthetic import CITIES, FIRST_NAMES, LAST_NAMES, STREETS, write_json

TABLE_NAMES = ("flights", "reservations", "users")
FIRST_DAY = Date(2024, 5, 1)
DAYS = 30
NOW = datetime(2024, 5, 15, 15, 0, 0)
MEMBERSHIPS = ("regular", "silver", "gold")
FREE_BAGS = {  # per passenger, by membership and cabin (the policy's table)
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}
CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
CERTIFICATE_AMOUNTS = (100, 150, 200, 250, 500)
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_RESERVED = set(RESERVATION_IDS)


def free_bags(membership: str, cabin: str, passengers: int) -> int:
    """Free checked bags of a reservation under the policy."""
    return FREE_BAGS[membership][cabin] * passengers


def generate_airline(
    seed: int, users: int = 300, reservations: int = 1000, flights: int = 200
) -> dict[str, dict[str, Any]]:
    """Tables ``{"flights", "reservations", "users"}`` (v1 layout), reproducible from ``seed``."""
    if users < 1 or flights < 2 or reservations < 0:
        raise ValueError("an airline database needs at least 1 user, 2 flights and 0 reservations")
    rng = random.Random(seed)
    flight_table, fares = _make_flights(rng, flights)
    user_table = _make_users(rng, users)
    reservation_table = _make_reservations(rng, reservations, flight_table, fares, user_table)
    return {"flights": flight_table, "reservations": reservation_table, "users": user_table}


# -- flights -------------------------------------------------------------------------------------


def _clock(minutes: int) -> str:
    day, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return text + ("+1" if day else "")


def _at(day: Date, minutes: int) -> str:
    moment = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    return moment.isoformat()


def _make_flights(rng: random.Random, n: int) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    airports = list(AIRPORTS)
    routes: list[tuple[str, str]] = []
    while len(routes) < n:
        origin, destination = rng.sample(airports, 2)
        routes.append((origin, destination))
        if len(routes) < n:
            routes.append((destination, origin))
    table: dict[str, Any] = {}
    fares: dict[str, dict[str, int]] = {}
    for i, (origin, destination) in enumerate(routes, start=1):
        number = f"HAT{i:03d}" if i < 1000 else f"HAT{i}"
        departure = rng.randrange(5 * 60, 23 * 60, 30)
        duration = rng.randrange(60, 6 * 60, 30)
        base = rng.randint(50, 200)
        fares[number] = {"basic_economy": base, "economy": base * 2, "business": base * 5}
        dates: dict[str, Any] = {}
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            dates[day.isoformat()] = _flight_day(rng, day, departure, duration, fares[number])
        table[number] = {
            "flight_number": number,
            "origin": origin,
            "destination": destination,
            "scheduled_departure_time_est": _clock(departure),
            "scheduled_arrival_time_est": _clock(departure + duration),
            "dates": dates,
        }
    return table, fares


def _flight_day(rng: random.Random, day: Date, departure: int, duration: int, fare: dict[str, int]) -> dict:
    today = NOW.date()
    now_minutes = NOW.hour * 60 + NOW.minute
    if day < today or (day == today and departure + duration + 60 < now_minutes):
        if rng.random() < 0.05:
            return {"status": "cancelled"}
        left = departure + rng.randint(-15, 45)
        return {
            "status": "landed",
            "actual_departure_time_est": _at(day, left),
            "actual_arrival_time_est": _at(day, left + duration + rng.randint(-20, 30)),
        }
    if day == today and departure <= now_minutes:
        return {
            "status": "flying",
            "actual_departure_time_est": _at(day, departure + rng.randint(0, 30)),
            "estimated_arrival_time_est": _at(day, departure + duration + rng.randint(0, 30)),
        }
    if day == today or (today < day <= today + timedelta(days=2) and rng.random() < 0.4):
        roll = rng.random()
        if roll < 0.1:
            return {"status": "cancelled"}
        late = rng.randint(30, 180) if roll < 0.55 else 0
        return {
            "status": "delayed" if late else "on time",
            "estimated_departure_time_est": _at(day, departure + late),
            "estimated_arrival_time_est": _at(day, departure + duration + late),
        }
    if rng.random() < 0.01:
        return {"status": "cancelled"}
    return {
        "status": "available",
        "available_seats": {
            "basic_economy": rng.randint(0, 20),
            "economy": rng.randint(0, 20),
            "business": rng.randint(0, 20),
        },
        "prices": {cabin: _price(rng, fare[cabin]) for cabin in CABINS},
    }


def _price(rng: random.Random, base: int) -> int:
    return max(10, round(base * rng.uniform(0.8, 1.3)))


# -- users ---------------------------------------------------------------------------------------


def _make_users(rng: random.Random, n: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    used_method_ids: set[str] = set(CERTIFICATE_IDS)
    while len(table) < n:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{first.lower()}_{last.lower()}_{rng.randint(1000, 9999)}"
        if user_id in table:
            continue
        methods: dict[str, Any] = {}
        kinds = ["credit_card"] * rng.randint(1, 2) + ["gift_card"] * rng.randint(0, 2)
        kinds += ["certificate"] * rng.choice((0, 0, 1, 2))
        rng.shuffle(kinds)
        for kind in kinds:
            method_id = f"{kind}_{rng.randint(1000000, 9999999)}"
            while method_id in used_method_ids:
                method_id = f"{kind}_{rng.randint(1000000, 9999999)}"
            used_method_ids.add(method_id)
            if kind == "credit_card":
                methods[method_id] = {
                    "source": "credit_card",
                    "brand": rng.choice(CARD_BRANDS),
                    "last_four": f"{rng.randint(0, 9999):04d}",
                    "id": method_id,
                }
            elif kind == "gift_card":
                methods[method_id] = {"source": "gift_card", "amount": rng.randint(0, 300), "id": method_id}
            else:
                methods[method_id] = {
                    "source": "certificate",
                    "amount": rng.choice(CERTIFICATE_AMOUNTS),
                    "id": method_id,
                }
        city, state, zip_prefix = rng.choice(CITIES)
        table[user_id] = {
            "name": {"first_name": first, "last_name": last},
            "address": {
                "address1": f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
                "address2": f"Suite {rng.randint(100, 999)}",
                "city": city,
                "country": "USA",
                "state": state,
                "zip": f"{zip_prefix}{rng.randint(0, 99):02d}",
            },
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1000, 9999)}@example.com",
            "dob": _dob(rng),
            "payment_methods": methods,
            "saved_passengers": [_person(rng) for _ in range(rng.choice((0, 1, 1, 2)))],
            "membership": rng.choices(MEMBERSHIPS, weights=(30, 35, 35))[0],
            "reservations": [],
        }
    return table


def _dob(rng: random.Random) -> str:
    return (Date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))).isoformat()


def _person(rng: random.Random) -> dict[str, str]:
    return {"first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES), "dob": _dob(rng)}


# -- reservations --------------------------------------------------------------------------------


def _reservation_id(rng: random.Random, taken: dict[str, Any]) -> str:
    while True:
        key = "".join(rng.choice(_ID_CHARS) for _ in range(6))
        if key not in taken and key not in _RESERVED:
            return key


def _leg(flight: dict[str, Any], day: str, price: int) -> dict[str, Any]:
    return {
        "origin": flight["origin"],
        "destination": flight["destination"],
        "flight_number": flight["flight_number"],
        "date": day,
        "price": price,
    }


def _fare_on(rng: random.Random, flight: dict[str, Any], day: str, cabin: str, fares: dict) -> int:
    record = flight["dates"][day]
    if record["status"] == "available":
        return record["prices"][cabin]
    return _price(rng, fares[flight["flight_number"]][cabin])


def _journey(
    rng: random.Random, origin: str, day: Date, by_origin: dict[str, list[dict]]
) -> tuple[list[tuple[dict, str]], str] | None:
    """One direct or one-stop journey from ``origin`` leaving on ``day``: ``([(flight, date)], destination)``."""
    options = by_origin.get(origin, [])
    if not options:
        return None
    first = rng.choice(options)
    legs = [(first, day.isoformat())]
    if rng.random() < 0.3:
        arrival = first["scheduled_arrival_time_est"]
        next_date = day + timedelta(days=1) if "+1" in arrival else day
        onward = [
            f
            for f in by_origin.get(first["destination"], ())
            if f["destination"] != origin
            and f["scheduled_departure_time_est"] >= arrival.replace("+1", "")
            and next_date.isoformat() in f["dates"]
        ]
        if onward:
            second = rng.choice(onward)
            legs.append((second, next_date.isoformat()))
    return legs, legs[-1][0]["destination"]


def _make_reservations(
    rng: random.Random,
    n: int,
    flights: dict[str, Any],
    fares: dict[str, dict[str, int]],
    users: dict[str, Any],
) -> dict[str, Any]:
    by_origin: dict[str, list[dict]] = {}
    for flight in flights.values():
        by_origin.setdefault(flight["origin"], []).append(flight)
    last_day = FIRST_DAY + timedelta(days=DAYS - 1)
    user_ids = list(users)
    table: dict[str, Any] = {}
    while len(table) < n:
        user_id = rng.choice(user_ids)
        user = users[user_id]
        origin = rng.choice(list(by_origin))
        depart = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 4))
        outbound = _journey(rng, origin, depart, by_origin)
        if outbound is None:
            continue
        legs, destination = outbound
        flight_type = "round_trip" if rng.random() < 0.5 else "one_way"
        if flight_type == "round_trip":
            back_day = Date.fromisoformat(legs[-1][1]) + timedelta(days=rng.randint(1, 3))
            back = _journey(rng, destination, back_day, by_origin) if back_day <= last_day else None
            if back is None or back[1] != origin:
                direct_back = [f for f in by_origin.get(destination, ()) if f["destination"] == origin]
                if not direct_back or back_day > last_day:
                    flight_type = "one_way"
                else:
                    legs = legs + [(rng.choice(direct_back), back_day.isoformat())]
            else:
                legs = legs + back[0]
        cabin = rng.choices(CABINS, weights=(30, 45, 25))[0]
        passengers = [_passenger_of(user)] + [
            rng.choice(user["saved_passengers"])
            if user["saved_passengers"] and rng.random() < 0.5
            else _person(rng)
            for _ in range(rng.choices((0, 1, 2, 3), weights=(55, 25, 12, 8))[0])
        ]
        passengers = [dict(p) for p in passengers]
        count = len(passengers)
        flights_out = [_leg(f, day, _fare_on(rng, f, day, cabin, fares)) for f, day in legs]
        insurance = "yes" if rng.random() < 0.35 else "no"
        allowance = free_bags(user["membership"], cabin, count)
        total_bags = rng.randint(0, allowance + 2)
        nonfree = max(0, total_bags - allowance)
        total = sum(leg["price"] for leg in flights_out) * count
        total += (30 * count if insurance == "yes" else 0) + 50 * nonfree
        first_day = Date.fromisoformat(flights_out[0]["date"])
        latest = min(NOW, datetime(first_day.year, first_day.month, first_day.day))
        created = latest - timedelta(seconds=rng.randrange(1, 14 * 24 * 3600))
        reservation_id = _reservation_id(rng, table)
        reservation = {
            "reservation_id": reservation_id,
            "user_id": user_id,
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": flights_out,
            "passengers": passengers,
            "payment_history": _payments(rng, user, total),
            "created_at": created.replace(microsecond=0).isoformat(),
            "total_baggages": total_bags,
            "nonfree_baggages": nonfree,
            "insurance": insurance,
        }
        if rng.random() < 0.03:
            reservation["payment_history"] += [
                {"payment_id": p["payment_id"], "amount": -p["amount"]}
                for p in reservation["payment_history"]
            ]
            reservation["status"] = "cancelled"
        table[reservation_id] = reservation
        user["reservations"].append(reservation_id)
    return table


def _passenger_of(user: dict[str, Any]) -> dict[str, str]:
    return {
        "first_name": user["name"]["first_name"],
        "last_name": user["name"]["last_name"],
        "dob": user["dob"],
    }


def _payments(rng: random.Random, user: dict[str, Any], total: int) -> list[dict[str, Any]]:
    """One to three payments from the user's methods that add up to ``total`` (policy limits kept)."""
    methods = list(user["payment_methods"].values())
    cards = [m for m in methods if m["source"] == "credit_card"]
    gift_cards = [m for m in methods if m["source"] == "gift_card" and m["amount"] > 0]
    certificates = [m for m in methods if m["source"] == "certificate"]
    payments: list[dict[str, Any]] = []
    left = total
    if certificates and rng.random() < 0.3:
        certificate = rng.choice(certificates)
        part = min(left, certificate["amount"])
        payments.append({"payment_id": certificate["id"], "amount": part})
        left -= part
    if left > 0 and gift_cards and rng.random() < 0.4:
        card = rng.choice(gift_cards)
        part = min(left, card["amount"])
        if part > 0:
            payments.append({"payment_id": card["id"], "amount": part})
            left -= part
    if left > 0 or not payments:
        payments.append({"payment_id": rng.choice(cards)["id"], "amount": left})
    return payments


def write_airline(tables: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``flights.json``, ``reservations.json`` and ``users.json`` (v1 layout) into ``out_dir``.

    Each file holds ``json.dumps(table, indent=2)`` plus a final newline, so the same tables always give
    the same bytes. Returns the paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_json(out_dir / f"{name}.json", tables[name]) for name in TABLE_NAMES]


__all__ = ["FREE_BAGS", "free_bags", "generate_airline", "write_airline"]
