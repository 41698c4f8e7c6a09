"""The airline tools, in three profiles: ``tau-bench-v1`` (default), ``tau3`` and ``tau3-exact``.

Every tool is declared once, inside :func:`make_tools`, and specialised by a :class:`Profile`:

``tau-bench-v1``
    tau-bench v1's airline tools (``tau_bench/envs/airline/tools``): byte-identical observations
    (``json.dumps`` of the stored record, default separators, the record's own key order), v1's
    lower-case error strings (including ``get_reservation_details``'s ``Error: user not found``),
    and v1's effects on the data: a booking does not take seats from the flights, a flight change
    keeps the reservation's old ``cabin``, new reservations get the ids ``HATHAT``, ``HATHAU``,
    ``HATHAV`` and ``created_at = "2024-05-15T15:00:00"``, certificates get the ids
    ``certificate_3221322`` .. ``certificate_3221324``. Arguments are stored exactly as given (a
    passenger's extra keys, an amount written ``100.0``), as v1 stores them.

``tau3``
    τ³-bench's airline toolkit (``src/tau2/domains/airline/tools.py``): capitalised errors that name
    the id (``Error: Reservation ZFA04Y not found``), records shown the way τ³'s pydantic models dump
    them (model key order, ``"status": null`` on a reservation that is not cancelled, gift card and
    certificate amounts as floats, payments as whole dollars, ``date: null`` on a direct-flight search
    result), ``get_flight_status`` added and ``think`` dropped, ``list_all_airports`` as a list of
    ``{"iata", "city"}``, ids matched ignoring case, accents and surrounding spaces, a booking takes
    seats from every booked flight, a flight change sets the reservation's new cabin, and a one-stop
    search shows the second leg's seats and prices on its own date. Two τ³ defects are corrected:
    the second leg of an overnight first leg is searched on the real next day (τ³ builds
    ``2024-05-{day + 1}``, which is not a date for days 1-8 and 31), and a booking checks each gift
    card's or certificate's balance against the *sum* of the amounts charged to it (τ³ checks each
    entry alone, so the same gift card listed twice can go negative).

``tau3-exact``
    ``tau3`` with those two defects reproduced, so that verdicts match τ³'s published behaviour.

Both τ³ profiles keep τ³'s own choices that are not defects: a cancellation does not give seats
back and a flight change does not take seats (τ³ says so in its code), and ``send_certificate`` and
``book_reservation`` give up after three new ids (``Error: Too many certificates`` /
``Error: Too many reservations``). v1 returns nothing when a user already has the three certificate
ids (its env shows ``None``); every profile reports ``too many certificates`` there instead.

A failed call changes nothing: every check runs before the first write, as in both references
(except τ³'s duplicate-certificate crash, which the exact profile does not reproduce either).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema

from casework.domains.retail.tools import calculate as _arithmetic
from casework.domains.state import Record, State, TableView
from casework.domains.tools import ToolError, ToolKind, tool

CABINS = ["basic_economy", "economy", "business"]
FLIGHT_TYPES = ["one_way", "round_trip"]
RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
NOW = "2024-05-15T15:00:00"  # the frozen clock of both references (created_at of new reservations)
INSURANCE_PER_PASSENGER = 30
BAG_FEE = 50

AIRPORTS = {
    "SFO": "San Francisco",
    "JFK": "New York",
    "LAX": "Los Angeles",
    "ORD": "Chicago",
    "DFW": "Dallas",
    "DEN": "Denver",
    "SEA": "Seattle",
    "ATL": "Atlanta",
    "MIA": "Miami",
    "BOS": "Boston",
    "PHX": "Phoenix",
    "IAH": "Houston",
    "LAS": "Las Vegas",
    "MCO": "Orlando",
    "EWR": "Newark",
    "CLT": "Charlotte",
    "MSP": "Minneapolis",
    "DTW": "Detroit",
    "PHL": "Philadelphia",
    "LGA": "LaGuardia",
}


@dataclass(frozen=True)
class Profile:
    """How one tool profile behaves (see the module docstring)."""

    name: str
    tau3: bool  # τ³'s errors, serialisation, effects and tool set
    reproduce_defects: bool  # v1/τ³'s next-day string and per-entry balance checks


V1 = Profile("tau-bench-v1", tau3=False, reproduce_defects=True)
TAU3 = Profile("tau3", tau3=True, reproduce_defects=False)
TAU3_EXACT = Profile("tau3-exact", tau3=True, reproduce_defects=True)


# -- argument types ------------------------------------------------------------------------------
# Lists of objects are validated for their required string/number fields but kept as given (key
# order, extra keys, int versus float), because v1 stores them as given and that shows in its
# observations and hashes.


def _object_list(fields: dict[str, tuple[str, str]], what: str) -> Any:
    def check(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, item in enumerate(items):
            for name, (kind, _) in fields.items():
                if name not in item:
                    raise ValueError(f"{what}[{i}] has no '{name}'")
                value = item[name]
                ok = (
                    isinstance(value, str)
                    if kind == "string"
                    else isinstance(value, int | float) and not isinstance(value, bool)
                )
                if not ok:
                    raise ValueError(f"{what}[{i}].{name} should be a {kind}, got {json.dumps(value)}")
        return items

    schema = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {name: {"type": kind, "description": doc} for name, (kind, doc) in fields.items()},
            "required": list(fields),
        },
    }
    return Annotated[list[dict[str, Any]], AfterValidator(check), WithJsonSchema(schema)]


FlightList = _object_list(
    {
        "flight_number": ("string", "Flight number, such as 'HAT001'."),
        "date": ("string", "The date for the flight in the format 'YYYY-MM-DD', such as '2024-05-01'."),
    },
    "flights",
)
PassengerList = _object_list(
    {
        "first_name": ("string", "The first name of the passenger, such as 'Noah'."),
        "last_name": ("string", "The last name of the passenger, such as 'Brown'."),
        "dob": (
            "string",
            "The date of birth of the passenger in the format 'YYYY-MM-DD', such as '1990-01-01'.",
        ),
    },
    "passengers",
)
PaymentList = _object_list(
    {
        "payment_id": (
            "string",
            "The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', "
            "'certificate_7815826'.",
        ),
        "amount": ("number", "The amount to be paid."),
    },
    "payment_methods",
)
Cabin = Annotated[str, WithJsonSchema({"type": "string", "enum": CABINS})]
FlightType = Annotated[str, WithJsonSchema({"type": "string", "enum": FLIGHT_TYPES})]
YesNo = Annotated[str, WithJsonSchema({"type": "string", "enum": ["yes", "no"]})]
Amount = Annotated[int | float, WithJsonSchema({"type": "number"})]


# -- τ³ views: records as τ³'s pydantic models dump them ----------------------------------------


def _whole_dollars(value: Any) -> int:
    """τ³ stores payment amounts as ``int``: a whole float becomes an int, a fraction is refused."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ToolError(f"Payment amount must be a whole number of dollars, got {value}")
        return int(value)
    return value


def _t3_payment(payment: Record) -> dict[str, Any]:
    return {"payment_id": payment["payment_id"], "amount": _whole_dollars(payment["amount"])}


def _t3_passenger(passenger: Record) -> dict[str, Any]:
    return {
        "first_name": passenger["first_name"],
        "last_name": passenger["last_name"],
        "dob": passenger["dob"],
    }


def _t3_reservation(r: Record) -> dict[str, Any]:
    return {
        "reservation_id": r["reservation_id"],
        "user_id": r["user_id"],
        "origin": r["origin"],
        "destination": r["destination"],
        "flight_type": r["flight_type"],
        "cabin": r["cabin"],
        "flights": [
            {
                "flight_number": f["flight_number"],
                "origin": f["origin"],
                "destination": f["destination"],
                "date": f["date"],
                "price": f["price"],
            }
            for f in r["flights"]
        ],
        "passengers": [_t3_passenger(p) for p in r["passengers"]],
        "payment_history": [_t3_payment(p) for p in r["payment_history"]],
        "created_at": r["created_at"],
        "total_baggages": r["total_baggages"],
        "nonfree_baggages": r["nonfree_baggages"],
        "insurance": r["insurance"],
        "status": r.get("status"),
    }


def _t3_method(method: Record) -> dict[str, Any]:
    if method["source"] == "credit_card":
        return {
            "source": "credit_card",
            "id": method["id"],
            "brand": method["brand"],
            "last_four": method["last_four"],
        }
    return {"source": method["source"], "id": method["id"], "amount": float(method["amount"])}


def _t3_user(user_id: str, u: Record) -> dict[str, Any]:
    address = u["address"]
    return {
        "user_id": u.get("user_id", user_id),
        "name": {"first_name": u["name"]["first_name"], "last_name": u["name"]["last_name"]},
        "address": {
            "address1": address["address1"],
            "address2": address.get("address2"),
            "city": address["city"],
            "country": address["country"],
            "state": address["state"],
            "zip": address["zip"],
        },
        "email": u["email"],
        "dob": u["dob"],
        "payment_methods": {k: _t3_method(m) for k, m in u["payment_methods"].items()},
        "saved_passengers": [_t3_passenger(p) for p in u["saved_passengers"]],
        "membership": u["membership"],
        "reservations": list(u["reservations"]),
    }


def _t3_direct(flight: Record, day: Record, on_date: str | None) -> dict[str, Any]:
    return {
        "flight_number": flight["flight_number"],
        "origin": flight["origin"],
        "destination": flight["destination"],
        "status": "available",
        "scheduled_departure_time_est": flight["scheduled_departure_time_est"],
        "scheduled_arrival_time_est": flight["scheduled_arrival_time_est"],
        "date": on_date,
        "available_seats": dict(day["available_seats"]),
        "prices": dict(day["prices"]),
    }


def _v1_direct(flight: Record, day: Record) -> dict[str, Any]:
    result = {k: v for k, v in flight.items() if k != "dates"}
    result.update(day)
    return result


# -- helpers -------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def resolve_key(table: TableView, key: str, folded: bool) -> str | None:
    """The stored key for ``key``: exact, or (τ³) ignoring case, accents and surrounding spaces."""
    if key in table:
        return key
    if not folded:
        return None
    if key.strip() in table:
        return key.strip()
    target = _fold(key)
    return next((candidate for candidate in table if _fold(candidate) == target), None)


def next_day(day: str, reproduce_defect: bool) -> str:
    """The date after ``day``; with ``reproduce_defect``, v1/τ³'s ``2024-05-{day + 1}`` string."""
    if reproduce_defect:
        return f"2024-05-{int(day[-2:]) + 1}"
    return (Date.fromisoformat(day) + timedelta(days=1)).isoformat()


def make_tools(profile: Profile) -> list[Callable[..., Any]]:
    """The airline tools of one profile, in the order tau-bench lists them."""
    t3 = profile.tau3

    def fail(v1_text: str, tau3_text: str) -> ToolError:
        return ToolError(tau3_text if t3 else v1_text)

    def out(value: Any) -> str:
        return json.dumps(value)

    def find_user(db: State, user_id: str) -> str:
        key = resolve_key(db["users"], user_id, t3)
        if key is None:
            raise fail("user not found", f"User {user_id} not found")
        return key

    def find_reservation(db: State, reservation_id: str, v1_text: str = "reservation not found") -> str:
        key = resolve_key(db["reservations"], reservation_id, t3)
        if key is None:
            raise fail(v1_text, f"Reservation {reservation_id} not found")
        return key

    def find_flight(db: State, flight_number: str) -> str:
        key = resolve_key(db["flights"], flight_number, t3)
        if key is None:
            raise fail(f"flight {flight_number} not found", f"Flight {flight_number} not found")
        return key

    def bookable_day(db: State, flight_number: str, day: str, cabin: str, seats_needed: int) -> Record:
        flight = db["flights"][flight_number]
        if day not in flight["dates"]:
            raise fail(
                f"flight {flight_number} not found on date {day}",
                f"Flight {flight_number} not found on date {day}",
            )
        data = flight["dates"][day]
        if data["status"] != "available":
            raise fail(
                f"flight {flight_number} not available on date {day}",
                f"Flight {flight_number} not available on date {day}",
            )
        if data["available_seats"][cabin] < seats_needed:
            raise fail(
                f"not enough seats on flight {flight_number}", f"Not enough seats on flight {flight_number}"
            )
        return data

    def charge_for_update(db: State, user_id: str, payment_id: str, total_price: Any) -> None:
        """Check the single payment method of an update; charge a gift card (a refund credits it)."""
        methods = db["users"][user_id]["payment_methods"]
        if payment_id not in methods:
            raise fail("payment method not found", "Payment method not found")
        method = methods[payment_id]
        if method["source"] == "certificate":
            raise fail(
                "certificate cannot be used to update reservation",
                "Certificate cannot be used to update reservation",
            )
        if method["source"] == "gift_card" and method["amount"] < total_price:
            raise fail("gift card balance is not enough", "Gift card balance is not enough")

    def apply_update_charge(db: State, user_id: str, payment_id: str, total_price: Any) -> None:
        if db["users"][user_id]["payment_methods"][payment_id]["source"] == "gift_card":
            card = db["users"].edit(user_id)["payment_methods"][payment_id]
            card["amount"] = (float(card["amount"]) if t3 else card["amount"]) - total_price

    # -- the tools, in tau-bench's order ------------------------------------------------------

    @tool(ToolKind.WRITE)
    def book_reservation(
        db: State,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: FlightType,
        cabin: Cabin,
        flights: FlightList,
        passengers: PassengerList,
        payment_methods: PaymentList,
        total_baggages: int,
        nonfree_baggages: int,
        insurance: YesNo,
    ) -> str:
        """Book a reservation.

        Args:
            user_id: The ID of the user to book the reservation, such as 'sara_doe_496'.
            origin: The IATA code for the origin city, such as 'SFO'.
            destination: The IATA code for the destination city, such as 'JFK'.
            flight_type: The type of trip: 'one_way' or 'round_trip'.
            cabin: The cabin class for every flight: 'basic_economy', 'economy' or 'business'.
            flights: An array of objects containing details about each piece of flight.
            passengers: An array of objects containing details about each passenger.
            payment_methods: An array of objects containing details about each payment method.
            total_baggages: The total number of baggage items included in the reservation.
            nonfree_baggages: The number of non-free baggage items included in the reservation.
            insurance: Whether the reservation has travel insurance: 'yes' or 'no'.
        """
        user_key = find_user(db, user_id)
        reservations = db["reservations"]
        if t3:
            reservation_id = next((r for r in RESERVATION_IDS if r not in reservations), None)
            if reservation_id is None:
                raise ToolError("Too many reservations")
            passengers = [_t3_passenger(p) for p in passengers]
            payment_methods = [_t3_payment(p) for p in payment_methods]
        else:  # v1 takes the last id even if it exists (it assumes at most three bookings per task)
            reservation_id = next((r for r in RESERVATION_IDS if r not in reservations), RESERVATION_IDS[-1])
        booked: list[dict[str, Any]] = []
        total_price: Any = 0
        for given in flights:
            number = find_flight(db, given["flight_number"])  # v1: the exact key; τ³: the stored spelling
            flight = db["flights"][number]
            data = bookable_day(db, number, given["date"], cabin, len(passengers))
            price = data["prices"][cabin]
            if t3:
                entry = {"origin": flight["origin"], "destination": flight["destination"]}
                entry.update(flight_number=number, date=given["date"], price=price)
            else:
                entry = json.loads(json.dumps(given))  # v1 keeps the caller's keys, then adds these
                entry.update(price=price, origin=flight["origin"], destination=flight["destination"])
            booked.append(entry)
            total_price += price * len(passengers)
        if insurance == "yes":
            total_price += INSURANCE_PER_PASSENGER * len(passengers)
        total_price += BAG_FEE * nonfree_baggages

        methods = db["users"][user_key]["payment_methods"]
        charged: dict[str, Any] = {}
        for payment in payment_methods:
            payment_id, amount = payment["payment_id"], payment["amount"]
            if payment_id not in methods:
                raise fail(f"payment method {payment_id} not found", f"Payment method {payment_id} not found")
            charged[payment_id] = charged.get(payment_id, 0) + amount
            wanted = amount if profile.reproduce_defects else charged[payment_id]
            if (
                methods[payment_id]["source"] in ("gift_card", "certificate")
                and methods[payment_id]["amount"] < wanted
            ):
                raise fail(
                    f"not enough balance in payment method {payment_id}",
                    f"Not enough balance in payment method {payment_id}",
                )
        paid = sum(payment["amount"] for payment in payment_methods)
        if paid != total_price:
            raise fail(
                f"payment amount does not add up, total price is {total_price}, but paid {paid}",
                f"Payment amount does not add up, total price is {total_price}, but paid {paid}",
            )

        user = db["users"].edit(user_key)
        for payment in payment_methods:
            payment_id = payment["payment_id"]
            method = user["payment_methods"].get(payment_id)
            if method is None:  # a certificate listed twice: removed by its first entry
                continue
            if method["source"] == "gift_card":
                method["amount"] = (float(method["amount"]) if t3 else method["amount"]) - payment["amount"]
            elif method["source"] == "certificate":
                del user["payment_methods"][payment_id]
        if t3:
            for entry in booked:
                day = db["flights"].edit(entry["flight_number"])["dates"][entry["date"]]
                day["available_seats"][cabin] -= len(passengers)
        reservation = {
            "reservation_id": reservation_id,
            "user_id": user_key if t3 else user_id,
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": booked,
            "passengers": passengers,
            "payment_history": payment_methods,
            "created_at": NOW,
            "total_baggages": total_baggages,
            "nonfree_baggages": nonfree_baggages,
            "insurance": insurance,
        }
        reservations.put(reservation_id, reservation)
        user["reservations"].append(reservation_id)
        return out(_t3_reservation(reservation) if t3 else reservation)

    @tool(ToolKind.GENERIC)
    def calculate(db: State, expression: str) -> str:
        """Calculate the result of a mathematical expression.

        Args:
            expression: The mathematical expression to calculate, such as '2 + 2'. The expression can
                contain numbers, operators (+, -, *, /), parentheses, and spaces.
        """
        try:
            return _arithmetic(db, expression)
        except ToolError as exc:
            text = str(exc)
            raise ToolError(text[:1].upper() + text[1:] if t3 else text) from None

    @tool(ToolKind.WRITE)
    def cancel_reservation(db: State, reservation_id: str) -> str:
        """Cancel the whole reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
        """
        key = find_reservation(db, reservation_id)
        reservation = db["reservations"].edit(key)
        refunds = [
            {"payment_id": p["payment_id"], "amount": -(_whole_dollars(p["amount"]) if t3 else p["amount"])}
            for p in reservation["payment_history"]
        ]
        reservation["payment_history"].extend(refunds)
        reservation["status"] = "cancelled"
        return out(_t3_reservation(reservation) if t3 else reservation)

    @tool(ToolKind.READ)
    def get_reservation_details(db: State, reservation_id: str) -> str:
        """Get the details of a reservation.

        Args:
            reservation_id: The reservation id, such as '8JX2WO'.
        """
        key = find_reservation(db, reservation_id, v1_text="user not found")  # sic: v1's message
        reservation = db["reservations"][key]
        return out(_t3_reservation(reservation) if t3 else reservation)

    @tool(ToolKind.READ)
    def get_user_details(db: State, user_id: str) -> str:
        """Get the details of a user, including their payment methods, membership and reservation ids.

        Args:
            user_id: The user id, such as 'sara_doe_496'.
        """
        key = find_user(db, user_id)
        user = db["users"][key]
        return out(_t3_user(key, user) if t3 else user)

    @tool(ToolKind.READ)
    def list_all_airports(db: State) -> str:
        """List all airports and their cities."""
        if t3:
            return out([{"iata": code, "city": city} for code, city in AIRPORTS.items()])
        return out(AIRPORTS)

    @tool(ToolKind.READ)
    def search_direct_flight(db: State, origin: str, destination: str, date: str) -> str:
        """Search direct flights between two cities on a specific date.

        Args:
            origin: The origin city airport in three letters, such as 'JFK'.
            destination: The destination city airport in three letters, such as 'LAX'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-01-01'.
        """
        results = []
        for flight in db["flights"].values():
            if flight["origin"] != origin or flight["destination"] != destination:
                continue
            day = flight["dates"].get(date)
            if day is None or day["status"] != "available":
                continue
            results.append(_t3_direct(flight, day, None) if t3 else _v1_direct(flight, day))
        return out(results)

    @tool(ToolKind.READ)
    def search_onestop_flight(db: State, origin: str, destination: str, date: str) -> str:
        """Search one-stop flights (two connecting flights) between two cities on a specific date.

        The second flight leaves the connecting airport no earlier than the first arrives, on the
        next day when the first flight arrives after midnight.

        Args:
            origin: The origin city airport in three letters, such as 'JFK'.
            destination: The destination city airport in three letters, such as 'LAX'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.
        """
        flights = db["flights"]
        results = []
        for first in flights.values():
            if first["origin"] != origin:
                continue
            arrival = first["scheduled_arrival_time_est"]
            if t3:  # τ³ first lists the first legs available on the date, then their connections
                day1 = first["dates"].get(date)
                if day1 is None or day1["status"] != "available":
                    continue
            for second in flights.values():
                if second["destination"] != destination or first["destination"] != second["origin"]:
                    continue
                date2 = next_day(date, profile.reproduce_defects) if "+1" in arrival else date
                if arrival > second["scheduled_departure_time_est"]:
                    continue
                if t3:
                    day2 = second["dates"].get(date2)
                    if day2 is None or day2["status"] != "available":
                        continue
                    results.append([_t3_direct(first, day1, date), _t3_direct(second, day2, date2)])
                    continue
                if date not in first["dates"] or date2 not in second["dates"]:
                    continue
                if (
                    first["dates"][date]["status"] != "available"
                    or second["dates"][date2]["status"] != "available"
                ):
                    continue
                leg1 = _v1_direct(first, first["dates"][date])
                leg1["date"] = date
                leg2 = _v1_direct(second, second["dates"][date])  # sic: v1 shows the first leg's date
                leg2["date"] = date2
                results.append([leg1, leg2])
        return out(results)

    @tool(ToolKind.WRITE)
    def send_certificate(db: State, user_id: str, amount: Amount) -> str:
        """Send a certificate to a user. Be careful!

        Args:
            user_id: The ID of the user to receive the certificate, such as 'sara_doe_496'.
            amount: Certificate amount to send.
        """
        key = find_user(db, user_id)
        methods = db["users"][key]["payment_methods"]
        payment_id = next((c for c in CERTIFICATE_IDS if c not in methods), None)
        if payment_id is None:
            raise fail("too many certificates", "Too many certificates")
        if t3:
            certificate = {"source": "certificate", "id": payment_id, "amount": float(amount)}
        else:
            certificate = {"source": "certificate", "amount": amount, "id": payment_id}
        db["users"].edit(key)["payment_methods"][payment_id] = certificate
        return f"Certificate {payment_id} added to user {user_id} with amount {amount}."

    @tool(ToolKind.GENERIC)
    def think(db: State, thought: str) -> str:
        """Use the tool to think about something. It will not obtain new information or change the database, but just append the thought to the log.

        Use it when complex reasoning is needed.

        Args:
            thought: A thought to think about.
        """
        return ""

    @tool(ToolKind.GENERIC, ends_conversation=True)
    def transfer_to_human_agents(db: State, summary: str) -> str:
        """Transfer the user to a human agent, with a summary of the user's issue.

        Only transfer if the user explicitly asks for a human agent, or if the user's issue cannot be
        resolved by the agent with the available tools and the policy.

        Args:
            summary: A summary of the user's issue.
        """
        return "Transfer successful"

    @tool(ToolKind.WRITE)
    def update_reservation_baggages(
        db: State, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
    ) -> str:
        """Update the baggage information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            total_baggages: The updated total number of baggage items included in the reservation.
            nonfree_baggages: The updated number of non-free baggage items included in the reservation.
            payment_id: The payment id stored in user profile, such as 'credit_card_7815826',
                'gift_card_7815826', 'certificate_7815826'.
        """
        key = find_reservation(db, reservation_id)
        reservation = db["reservations"][key]
        user_key = reservation["user_id"]
        if t3:
            user_key = find_user(db, user_key)
        total_price = BAG_FEE * max(0, nonfree_baggages - reservation["nonfree_baggages"])
        charge_for_update(db, user_key, payment_id, total_price)
        apply_update_charge(db, user_key, payment_id, total_price)
        reservation = db["reservations"].edit(key)
        reservation["total_baggages"] = total_baggages
        reservation["nonfree_baggages"] = nonfree_baggages
        if total_price != 0:
            reservation["payment_history"].append({"payment_id": payment_id, "amount": total_price})
        return out(_t3_reservation(reservation) if t3 else reservation)

    @tool(ToolKind.WRITE)
    def update_reservation_flights(
        db: State, reservation_id: str, cabin: Cabin, flights: FlightList, payment_id: str
    ) -> str:
        """Update the flight information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            cabin: The cabin class of the reservation: 'basic_economy', 'economy' or 'business'.
            flights: An array of objects containing details about each piece of flight in the ENTIRE new
                reservation. Even if the a flight segment is not changed, it should still be included in
                the array.
            payment_id: The payment id stored in user profile, such as 'credit_card_7815826',
                'gift_card_7815826', 'certificate_7815826'.
        """
        key = find_reservation(db, reservation_id)
        reservation = db["reservations"][key]
        user_key = reservation["user_id"]
        if t3:
            user_key = find_user(db, user_key)
        seats = len(reservation["passengers"])
        new_flights: list[dict[str, Any]] = []
        total_price: Any = 0
        for given in flights:
            number = find_flight(db, given["flight_number"]) if t3 else given["flight_number"]
            kept = next(
                (
                    f
                    for f in reservation["flights"]
                    if f["flight_number"] == number
                    and f["date"] == given["date"]
                    and cabin == reservation["cabin"]
                ),
                None,
            )
            if kept is not None:
                if t3:
                    entry = dict(kept)
                else:
                    entry = json.loads(json.dumps(given))
                    entry.update(price=kept["price"], origin=kept["origin"], destination=kept["destination"])
                new_flights.append(entry)
                total_price += kept["price"] * seats
                continue
            if not t3:
                find_flight(db, number)
            flight = db["flights"][number]
            data = bookable_day(db, number, given["date"], cabin, seats)
            price = data["prices"][cabin]
            if t3:
                entry = {"origin": flight["origin"], "destination": flight["destination"]}
                entry.update(flight_number=number, date=given["date"], price=price)
            else:
                entry = json.loads(json.dumps(given))
                entry.update(price=price, origin=flight["origin"], destination=flight["destination"])
            new_flights.append(entry)
            total_price += price * seats
        total_price -= sum(f["price"] for f in reservation["flights"]) * seats

        charge_for_update(db, user_key, payment_id, total_price)
        apply_update_charge(db, user_key, payment_id, total_price)
        reservation = db["reservations"].edit(key)
        if total_price != 0:
            reservation["payment_history"].append({"payment_id": payment_id, "amount": total_price})
        reservation["flights"] = new_flights
        if t3:
            reservation["cabin"] = cabin
        return out(_t3_reservation(reservation) if t3 else reservation)

    @tool(ToolKind.WRITE)
    def update_reservation_passengers(db: State, reservation_id: str, passengers: PassengerList) -> str:
        """Update the passenger information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            passengers: An array of objects containing details about each passenger.
        """
        if t3:
            passengers = [_t3_passenger(p) for p in passengers]
        key = find_reservation(db, reservation_id)
        if len(passengers) != len(db["reservations"][key]["passengers"]):
            raise fail("number of passengers does not match", "Number of passengers does not match")
        reservation = db["reservations"].edit(key)
        reservation["passengers"] = passengers
        return out(_t3_reservation(reservation) if t3 else reservation)

    @tool(ToolKind.READ)
    def get_flight_status(db: State, flight_number: str, date: str) -> str:
        """Get the status of a flight on a date: available, on time, delayed, flying, landed or cancelled.

        Args:
            flight_number: The flight number, such as 'HAT001'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.
        """
        number = find_flight(db, flight_number)
        days = db["flights"][number]["dates"]
        if date not in days:
            raise fail(
                f"flight {flight_number} not found on date {date}",
                f"Flight {flight_number} not found on date {date}",
            )
        return days[date]["status"]

    tools: list[Callable[..., Any]] = [
        book_reservation,
        calculate,
        cancel_reservation,
        get_reservation_details,
        get_user_details,
        list_all_airports,
        search_direct_flight,
        search_onestop_flight,
        send_certificate,
        think,
        transfer_to_human_agents,
        update_reservation_baggages,
        update_reservation_flights,
        update_reservation_passengers,
        get_flight_status,
    ]
    dropped = {"get_flight_status"} if not t3 else {"think"}
    return [f for f in tools if f.__name__ not in dropped]


__all__ = [
    "AIRPORTS",
    "CABINS",
    "CERTIFICATE_IDS",
    "NOW",
    "RESERVATION_IDS",
    "TAU3",
    "TAU3_EXACT",
    "V1",
    "Profile",
    "make_tools",
    "next_day",
    "resolve_key",
]
