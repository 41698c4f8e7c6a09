"""Templated airline scenarios (the domain's :class:`~casework.domains.domain.ScenarioLibrary`).

Each scenario picks records that make it possible (a reservation that may be cancelled, one that
may not, a flight with seats, ...), writes the customer's instruction and the ground-truth actions,
and runs those actions on a fork of the database with the domain's toolbox, so every task is
grounded and replays cleanly. The ground truth follows the airline policy
(:mod:`casework.domains.airline.policy_rules`):

==========================  =============================================================================
``book``                    a one-way direct flight for the user (and maybe a saved passenger), bags
                            within the allowance plus maybe one paid bag, insurance yes/no, one card
``cancel_allowed``          cancel a reservation the policy lets go (business, insured, booked within
                            24 h, or a flight cancelled by the airline)
``cancel_refused``          the user asks to cancel a reservation the policy keeps: the agent looks it up
                            and refuses (``metadata.expected_behaviour = "refuse"``)
``change_flights``          move a one-way, non-basic-economy reservation to another direct flight on
                            the same route, same cabin, paying or refunded the difference on a card
``upgrade_cabin``           same flights in business class, the difference paid by card
``add_bags``                add one or two checked bags; non-free bags follow the membership allowance
``update_passengers``       correct a passenger's name and date of birth
``compensation_cancelled``  an eligible user complains about an airline-cancelled flight: $100 x passengers
``compensation_delayed``    an eligible user cancels a reservation with a delayed flight: cancel, then
                            $50 x passengers
``status_lookup``           the status of the user's flight (``get_flight_status`` where the profile has
                            it, else the reservation's flight numbers read from its details)
``transfer``                cancel a reservation that has already started flying: the agent transfers
==========================  =============================================================================

The generic templated loop (:mod:`casework.generate.templated`) owns the randomness: it draws the
keys (several for a multi-intent task; ``transfer`` is solo and goes last) and a user from
:meth:`AirlineScenarios.users_for`; :meth:`AirlineScenarios.draft` builds every scenario for that
user on one fork, each on a reservation of its own.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from casework.domains.airline.generator import FIRST_NAMES, LAST_NAMES, free_bags
from casework.domains.airline.tools import AIRPORTS
from casework.domains.domain import ScenarioDraft, ScenarioSkip
from casework.domains.state import Database, State
from casework.tasks.model import Action
from casework.tasks.refusal import Refusal

NOW = datetime(2024, 5, 15, 15, 0, 0)
TODAY = NOW.date().isoformat()
BOOKABLE_FROM = "2024-05-17"
FLOWN = frozenset({"landed", "flying"})
KEYS = (
    "book",
    "cancel_allowed",
    "cancel_refused",
    "change_flights",
    "upgrade_cabin",
    "add_bags",
    "update_passengers",
    "compensation_cancelled",
    "compensation_delayed",
    "status_lookup",
    "transfer",
)
_CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}


class _Skip(Exception):
    """The scenario cannot be built from this database or this draw."""


# -- what the database offers, computed once per database ---------------------------------------


@dataclass
class _Index:
    users: list[str] = field(default_factory=list)
    bookable: list[tuple[str, str]] = field(default_factory=list)  # (flight number, date)
    by_key: dict[str, list[str]] = field(default_factory=dict)  # scenario -> reservation ids


_INDEXES: weakref.WeakKeyDictionary[Database, _Index] = weakref.WeakKeyDictionary()


def _status(flights: Mapping[str, Any], leg: Mapping[str, Any]) -> str | None:
    flight = flights.get(leg["flight_number"])
    day = flight["dates"].get(leg["date"]) if flight else None
    return day["status"] if day else None


def _flown(flights: Mapping[str, Any], reservation: Mapping[str, Any]) -> bool:
    for leg in reservation["flights"]:
        status = _status(flights, leg)
        if status in FLOWN or (status != "cancelled" and leg["date"] < TODAY):
            return True
    return False


def _compensable(user: Mapping[str, Any], reservation: Mapping[str, Any]) -> bool:
    return (
        user["membership"] in ("silver", "gold")
        or reservation["insurance"] == "yes"
        or reservation["cabin"] == "business"
    )


def _index(database: Database) -> _Index:
    found = _INDEXES.get(database)
    if found is not None:
        return found
    tables = database.tables
    flights, users = tables["flights"], tables["users"]
    index = _Index(
        users=[
            u
            for u, r in users.items()
            if any(m["source"] == "credit_card" for m in r["payment_methods"].values())
        ]
    )
    for number, flight in flights.items():
        for day, record in flight["dates"].items():
            if day >= BOOKABLE_FROM and record["status"] == "available":
                index.bookable.append((number, day))
    by_key: dict[str, list[str]] = {key: [] for key in KEYS}
    for rid, reservation in tables["reservations"].items():
        user = users.get(reservation["user_id"])
        if user is None or reservation.get("status") == "cancelled":
            continue
        has_card = any(m["source"] == "credit_card" for m in user["payment_methods"].values())
        statuses = [_status(flights, leg) for leg in reservation["flights"]]
        flown = _flown(flights, reservation)
        recent = NOW - datetime.fromisoformat(reservation["created_at"]) <= timedelta(hours=24)
        cancellable = (
            recent
            or "cancelled" in statuses
            or reservation["cabin"] == "business"
            or reservation["insurance"] == "yes"
        )
        by_key["status_lookup"].append(rid)
        by_key["update_passengers"].append(rid)
        if flown:
            by_key["transfer"].append(rid)
            continue
        by_key["cancel_allowed" if cancellable else "cancel_refused"].append(rid)
        allowance = free_bags(user["membership"], reservation["cabin"], len(reservation["passengers"]))
        if has_card and reservation["nonfree_baggages"] == max(0, reservation["total_baggages"] - allowance):
            by_key["add_bags"].append(rid)
        if (
            has_card
            and reservation["cabin"] != "basic_economy"
            and reservation["flight_type"] == "one_way"
            and len(reservation["flights"]) == 1
        ):
            by_key["change_flights"].append(rid)
        if (
            has_card
            and reservation["cabin"] != "business"
            and all(
                s == "available"
                and flights[leg["flight_number"]]["dates"][leg["date"]]["available_seats"]["business"]
                >= len(reservation["passengers"])
                for s, leg in zip(statuses, reservation["flights"], strict=True)
            )
        ):
            by_key["upgrade_cabin"].append(rid)
        if "cancelled" in statuses and _compensable(user, reservation):
            by_key["compensation_cancelled"].append(rid)
        if "delayed" in statuses and (
            reservation["cabin"] == "business" or reservation["insurance"] == "yes"
        ):
            by_key["compensation_delayed"].append(rid)
    index.by_key = by_key
    _INDEXES[database] = index
    return index


# -- building ------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    domain: Any
    state: State
    rng: random.Random
    index: _Index
    user_id: str | None = None
    wants: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    identified: bool = False
    refusals: list[Refusal] = field(default_factory=list)

    def identify(self) -> None:
        """Read the user's profile once per task (the agent needs it before anything else)."""
        if not self.identified:
            self.call("get_user_details", user_id=self.user_id)
            self.identified = True

    def call(self, name: str, **arguments: Any) -> str:
        observation = self.domain.toolbox.call(self.state, name, arguments)
        if observation.startswith("Error"):
            raise _Skip(f"{name}: {observation}")
        self.actions.append(Action(name=name, arguments=arguments))
        self.observations.append(observation)
        return observation

    def reservation(self, key: str) -> dict[str, Any]:
        reservations = self.state["reservations"]
        candidates = [
            rid
            for rid in self.index.by_key[key]
            if rid not in self.used and (self.user_id is None or reservations[rid]["user_id"] == self.user_id)
        ]
        if not candidates:
            raise _Skip(f"no reservation suits {key}")
        rid = self.rng.choice(candidates)
        self.used.add(rid)
        reservation = reservations[rid]
        self.user_id = reservation["user_id"]
        self.identify()
        self.call("get_reservation_details", reservation_id=rid)
        return reservation

    def user(self) -> dict[str, Any]:
        assert self.user_id is not None
        return self.state["users"][self.user_id]

    def card(self) -> dict[str, Any]:
        cards = [m for m in self.user()["payment_methods"].values() if m["source"] == "credit_card"]
        if not cards:
            raise _Skip("the user has no credit card")
        return self.rng.choice(cards)


def _trip(reservation: Mapping[str, Any]) -> str:
    first = reservation["flights"][0]
    kind = "round trip" if reservation["flight_type"] == "round_trip" else "trip"
    return (
        f"your {kind} from {AIRPORTS.get(reservation['origin'], reservation['origin'])} to "
        f"{AIRPORTS.get(reservation['destination'], reservation['destination'])} on {first['date']} "
        f"(reservation {reservation['reservation_id']})"
    )


def _card_words(card: Mapping[str, Any]) -> str:
    return f"your {card['brand']} credit card ending in {card['last_four']}"


def _book(ctx: _Ctx) -> None:
    if not ctx.index.bookable or not ctx.index.users:
        raise _Skip("nothing to book")
    if ctx.user_id is None:
        ctx.user_id = ctx.rng.choice(ctx.index.users)
    user = ctx.user()
    number, day = ctx.rng.choice(ctx.index.bookable)
    flight = ctx.state["flights"][number]
    cabin = ctx.rng.choice(("basic_economy", "economy", "business"))
    passengers = [
        {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"], "dob": user["dob"]}
    ]
    if user["saved_passengers"] and ctx.rng.random() < 0.4:
        companion = ctx.rng.choice(user["saved_passengers"])
        passengers.append(
            {
                "first_name": companion["first_name"],
                "last_name": companion["last_name"],
                "dob": companion["dob"],
            }
        )
    record = flight["dates"][day]
    if record["available_seats"][cabin] < len(passengers):
        raise _Skip("not enough seats")
    allowance = free_bags(user["membership"], cabin, len(passengers))
    total_bags = ctx.rng.randint(0, allowance + 1)
    nonfree = max(0, total_bags - allowance)
    insurance = ctx.rng.choice(("yes", "no"))
    price = (
        record["prices"][cabin] * len(passengers)
        + (30 * len(passengers) if insurance == "yes" else 0)
        + 50 * nonfree
    )
    card = ctx.card()
    ctx.identify()
    ctx.call("search_direct_flight", origin=flight["origin"], destination=flight["destination"], date=day)
    ctx.call(
        "book_reservation",
        user_id=ctx.user_id,
        origin=flight["origin"],
        destination=flight["destination"],
        flight_type="one_way",
        cabin=cabin,
        flights=[{"flight_number": number, "date": day}],
        passengers=passengers,
        payment_methods=[{"payment_id": card["id"], "amount": price}],
        total_baggages=total_bags,
        nonfree_baggages=nonfree,
        insurance=insurance,
    )
    who = (
        "just yourself"
        if len(passengers) == 1
        else (
            f"yourself and {passengers[1]['first_name']} {passengers[1]['last_name']} (born {passengers[1]['dob']})"
        )
    )
    ctx.wants.append(
        f"You want to book a one-way {_CABIN_WORDS[cabin]} trip from {AIRPORTS[flight['origin']]} "
        f"({flight['origin']}) to {AIRPORTS[flight['destination']]} ({flight['destination']}) on {day}, on the "
        f"direct flight leaving at {flight['scheduled_departure_time_est'][:5]}, for {who}. Your date of birth is "
        f"{user['dob']}. You want {total_bags} checked bag(s) and {'' if insurance == 'yes' else 'no '}travel "
        f"insurance, and you pay everything with {_card_words(card)}."
    )
    ctx.outputs.append(str(price))


def _cancel_allowed(ctx: _Ctx) -> None:
    reservation = ctx.reservation("cancel_allowed")
    ctx.call("cancel_reservation", reservation_id=reservation["reservation_id"])
    recent = NOW - datetime.fromisoformat(reservation["created_at"]) <= timedelta(hours=24)
    if any(_status(ctx.state["flights"], leg) == "cancelled" for leg in reservation["flights"]):
        reason = "the airline cancelled one of the flights"
    elif recent or reservation["cabin"] == "business":
        reason = ctx.rng.choice(
            ("your plans changed", "you are sick and cannot travel", "of bad weather at your destination")
        )
    else:  # allowed by the insurance alone: the reason must be one it covers
        reason = ctx.rng.choice(("you are sick and cannot travel", "of bad weather at your destination"))
    ctx.wants.append(f"You want to cancel {_trip(reservation)} because {reason}, and get your money back.")


def _cancel_refused(ctx: _Ctx) -> None:
    reservation = ctx.reservation("cancel_refused")
    ctx.metadata["expected_behaviour"] = "refuse"
    ctx.metadata["refused_reservations"] = [reservation["reservation_id"]]
    rid = reservation["reservation_id"]
    ctx.refusals.append(
        Refusal(
            request=f"cancel reservation {rid}",
            entity=rid,
            rule=(
                "a reservation can be cancelled only within 24 hours of booking, when the airline "
                "cancelled a flight, in business class, or with travel insurance for a covered reason; "
                f"reservation {rid} was booked more than 24 hours ago in {reservation['cabin'].replace('_', ' ')} "
                "without insurance and none of its flights was cancelled"
            ),
        )
    )
    ctx.wants.append(
        f"You want to cancel {_trip(reservation)} because your plans changed. If the agent says it cannot be "
        "cancelled, accept it and do not insist."
    )


def _change_flights(ctx: _Ctx) -> None:
    reservation = ctx.reservation("change_flights")
    leg = reservation["flights"][0]
    seats = len(reservation["passengers"])
    options = [
        (number, day)
        for number, day in ctx.index.bookable
        if (number, day) != (leg["flight_number"], leg["date"])
        and ctx.state["flights"][number]["origin"] == reservation["origin"]
        and ctx.state["flights"][number]["destination"] == reservation["destination"]
        and ctx.state["flights"][number]["dates"][day]["available_seats"][reservation["cabin"]] >= seats
    ]
    if not options:
        raise _Skip("no other flight on this route")
    number, day = ctx.rng.choice(options)
    flight = ctx.state["flights"][number]
    card = ctx.card()
    ctx.call(
        "search_direct_flight", origin=reservation["origin"], destination=reservation["destination"], date=day
    )
    ctx.call(
        "update_reservation_flights",
        reservation_id=reservation["reservation_id"],
        cabin=reservation["cabin"],
        flights=[{"flight_number": number, "date": day}],
        payment_id=card["id"],
    )
    ctx.wants.append(
        f"You want to move {_trip(reservation)} to the direct flight on {day} leaving at "
        f"{flight['scheduled_departure_time_est'][:5]}, same cabin. Any difference goes on {_card_words(card)}."
    )


def _upgrade(ctx: _Ctx) -> None:
    reservation = ctx.reservation("upgrade_cabin")
    card = ctx.card()
    ctx.call(
        "update_reservation_flights",
        reservation_id=reservation["reservation_id"],
        cabin="business",
        flights=[
            {"flight_number": leg["flight_number"], "date": leg["date"]} for leg in reservation["flights"]
        ],
        payment_id=card["id"],
    )
    ctx.wants.append(
        f"You want to upgrade {_trip(reservation)} to business class on every flight, paying the difference with "
        f"{_card_words(card)}."
    )


def _add_bags(ctx: _Ctx) -> None:
    reservation = ctx.reservation("add_bags")
    user = ctx.user()
    extra = ctx.rng.randint(1, 2)
    total = reservation["total_baggages"] + extra
    allowance = free_bags(user["membership"], reservation["cabin"], len(reservation["passengers"]))
    nonfree = max(0, total - allowance)
    card = ctx.card()
    ctx.call(
        "update_reservation_baggages",
        reservation_id=reservation["reservation_id"],
        total_baggages=total,
        nonfree_baggages=nonfree,
        payment_id=card["id"],
    )
    ctx.wants.append(
        f"You want to add {extra} checked bag(s) to {_trip(reservation)}; any fee goes on {_card_words(card)}."
    )


def _update_passengers(ctx: _Ctx) -> None:
    reservation = ctx.reservation("update_passengers")
    passengers = [dict(p) for p in reservation["passengers"]]
    position = ctx.rng.randrange(len(passengers))
    old = passengers[position]
    new = {
        "first_name": ctx.rng.choice(FIRST_NAMES),
        "last_name": ctx.rng.choice(LAST_NAMES),
        "dob": f"{ctx.rng.randint(1950, 2005)}-{ctx.rng.randint(1, 12):02d}-{ctx.rng.randint(1, 28):02d}",
    }
    if new == old:
        raise _Skip("same passenger drawn")
    passengers[position] = new
    ctx.call(
        "update_reservation_passengers", reservation_id=reservation["reservation_id"], passengers=passengers
    )
    ctx.wants.append(
        f"On {_trip(reservation)}, {old['first_name']} {old['last_name']} cannot travel; you want "
        f"{new['first_name']} {new['last_name']} (born {new['dob']}) to fly instead, everything else unchanged."
    )


def _compensation_cancelled(ctx: _Ctx) -> None:
    reservation = ctx.reservation("compensation_cancelled")
    amount = 100 * len(reservation["passengers"])
    ctx.call("send_certificate", user_id=ctx.user_id, amount=amount)
    ctx.wants.append(
        f"You are upset that the airline cancelled a flight of {_trip(reservation)}, and you ask for compensation."
    )
    ctx.outputs.append(str(amount))


def _compensation_delayed(ctx: _Ctx) -> None:
    reservation = ctx.reservation("compensation_delayed")
    amount = 50 * len(reservation["passengers"])
    ctx.call("cancel_reservation", reservation_id=reservation["reservation_id"])
    ctx.call("send_certificate", user_id=ctx.user_id, amount=amount)
    ctx.wants.append(
        f"A flight of {_trip(reservation)} is delayed, so you want to cancel the reservation, and you ask for "
        "compensation for the delay."
    )
    ctx.outputs.append(str(amount))


def _status_lookup(ctx: _Ctx) -> None:
    reservation = ctx.reservation("status_lookup")
    leg = ctx.rng.choice(reservation["flights"])
    if "get_flight_status" in ctx.domain.toolbox:
        status = ctx.call("get_flight_status", flight_number=leg["flight_number"], date=leg["date"])
        ctx.wants.append(
            f"You want to know the status of flight {leg['flight_number']} on {leg['date']} of {_trip(reservation)}."
        )
        ctx.outputs.append(status)
    else:
        ctx.wants.append(f"You want to know the flight numbers of {_trip(reservation)}.")
        ctx.outputs.extend(dict.fromkeys(leg["flight_number"] for leg in reservation["flights"]))


def _transfer(ctx: _Ctx) -> None:
    reservation = ctx.reservation("transfer")
    ctx.call(
        "transfer_to_human_agents",
        summary=f"The user {ctx.user_id} wants to cancel reservation {reservation['reservation_id']}, which has a flight that has already flown.",
    )
    ctx.wants.append(
        f"You want to cancel {_trip(reservation)} because your plans changed; if the agent cannot do it, you ask "
        "to speak to a human agent."
    )


SCENARIOS: dict[str, Callable[[_Ctx], None]] = {
    "book": _book,
    "cancel_allowed": _cancel_allowed,
    "cancel_refused": _cancel_refused,
    "change_flights": _change_flights,
    "upgrade_cabin": _upgrade,
    "add_bags": _add_bags,
    "update_passengers": _update_passengers,
    "compensation_cancelled": _compensation_cancelled,
    "compensation_delayed": _compensation_delayed,
    "status_lookup": _status_lookup,
    "transfer": _transfer,
}


class AirlineScenarios:
    """The airline scenario library (the contract's :class:`~casework.domains.ScenarioLibrary`)."""

    keys: tuple[str, ...] = KEYS
    #: a transfer ends the conversation: it is never combined and always goes last
    solo_keys: frozenset[str] = frozenset({"transfer"})
    #: reservations the agent must leave alone, concatenated when two tasks are merged
    merged_metadata: tuple[str, ...] = ("refused_reservations",)

    def users_for(self, database: Database, key: str) -> list[str]:
        table = _index(database)
        if key == "book":
            return sorted(table.users) if table.bookable else []
        reservations = database.tables["reservations"]
        return sorted({reservations[rid]["user_id"] for rid in table.by_key.get(key, [])})

    def draft(self, domain: Any, state: State, rng: random.Random, user_id: str, keys: Any) -> ScenarioDraft:
        ctx = _Ctx(domain=domain, state=state, rng=rng, index=_index(state.base), user_id=user_id)
        ends = []
        try:
            for key in keys:
                SCENARIOS[key](ctx)
                ends.append(len(ctx.actions))
        except _Skip as exc:
            raise ScenarioSkip(str(exc)) from None
        if len(keys) > 1:  # "refuse" describes a whole task; here the other requests change things
            ctx.metadata.pop("expected_behaviour", None)
        user = ctx.user()
        opening = f"You are {user['name']['first_name']} {user['name']['last_name']}; your user id is {ctx.user_id}."
        return ScenarioDraft(
            user_id=ctx.user_id,
            actions=ctx.actions,
            observations=ctx.observations,
            outputs=ctx.outputs,
            wants=ctx.wants,
            metadata=ctx.metadata,
            extra={"opening": opening},
            intent_ends=ends,
            refusals=ctx.refusals,
        )

    def instruction(self, draft: ScenarioDraft, rng: random.Random) -> tuple[str, str | None]:
        wants = draft.wants
        if len(wants) > 1:
            links = ["First,", "Then,", "Finally,"] if len(wants) > 2 else ["First,", "After that,"]
            wants = [f"{link} {w[0].lower()}{w[1:]}" for link, w in zip(links, wants, strict=False)]
        return " ".join([draft.extra["opening"], *wants]), None


AIRLINE_SCENARIOS = AirlineScenarios()

__all__ = ["AIRLINE_SCENARIOS", "KEYS", "SCENARIOS", "AirlineScenarios"]
