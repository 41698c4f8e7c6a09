"""Pydantic shapes of the airline tables, used to validate data on load (the tables stay raw dicts).

The shapes follow tau-bench v1's ``users.json``, ``flights.json`` and ``reservations.json`` and
τ³'s ``db.json`` (which adds ``user_id`` to users and may write ``"status": null`` on reservations).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter

Cabin = Literal["basic_economy", "economy", "business"]
Money = Annotated[float, Field(allow_inf_nan=False)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class Name(_Shape):
    first_name: str
    last_name: str


class Address(_Shape):
    address1: str
    address2: str | None = None
    city: str
    country: str
    state: str
    zip: str


class Passenger(_Shape):
    first_name: str
    last_name: str
    dob: str


class CreditCard(_Shape):
    source: Literal["credit_card"]
    id: str
    brand: str
    last_four: str


class GiftCard(_Shape):
    source: Literal["gift_card"]
    id: str
    amount: Money


class Certificate(_Shape):
    source: Literal["certificate"]
    id: str
    amount: Money


PaymentMethod = Annotated[CreditCard | GiftCard | Certificate, Field(discriminator="source")]


class User(_Shape):
    user_id: str | None = None
    name: Name
    address: Address
    email: str
    dob: str
    payment_methods: dict[str, PaymentMethod]
    saved_passengers: list[Passenger]
    membership: Literal["regular", "silver", "gold"]
    reservations: list[str]


class Available(_Shape):
    status: Literal["available"]
    available_seats: dict[Cabin, StrictInt]
    prices: dict[Cabin, StrictInt]


class Landed(_Shape):
    status: Literal["landed"]
    actual_departure_time_est: str
    actual_arrival_time_est: str


class Cancelled(_Shape):
    status: Literal["cancelled"]


class Delayed(_Shape):
    status: Literal["delayed"]
    estimated_departure_time_est: str
    estimated_arrival_time_est: str


class OnTime(_Shape):
    status: Literal["on time"]
    estimated_departure_time_est: str
    estimated_arrival_time_est: str


class Flying(_Shape):
    status: Literal["flying"]
    actual_departure_time_est: str
    estimated_arrival_time_est: str


FlightDay = Annotated[
    Available | Landed | Cancelled | Delayed | OnTime | Flying, Field(discriminator="status")
]


class Flight(_Shape):
    flight_number: str
    origin: str
    destination: str
    scheduled_departure_time_est: str
    scheduled_arrival_time_est: str
    dates: dict[str, FlightDay]


class ReservationFlight(_Shape):
    flight_number: str
    origin: str
    destination: str
    date: str
    price: Money


class Payment(_Shape):
    payment_id: str
    amount: Money


class Reservation(_Shape):
    reservation_id: str
    user_id: str
    origin: str
    destination: str
    flight_type: Literal["one_way", "round_trip"]
    cabin: Cabin
    flights: list[ReservationFlight]
    passengers: list[Passenger]
    payment_history: list[Payment]
    created_at: str
    total_baggages: StrictInt
    nonfree_baggages: StrictInt
    insurance: Literal["yes", "no"]
    status: Literal["cancelled"] | None = None


TABLE_ADAPTERS: dict[str, TypeAdapter] = {
    "flights": TypeAdapter(dict[str, Flight]),
    "users": TypeAdapter(dict[str, User]),
    "reservations": TypeAdapter(dict[str, Reservation]),
}
DISCRIMINATORS = {
    "credit_card",
    "gift_card",
    "certificate",
    "available",
    "landed",
    "cancelled",
    "delayed",
    "on time",
    "flying",
}
