"""The airline policy (``policy.md``) as rules checked over an execution trace.

Each rule looks at one action, the state just before it and the actions before it, and returns the
ways the action breaks the policy. :func:`check_trace` replays a list of actions on a fork of a
state and runs every rule on every action; :class:`AirlinePolicy` runs the same rules inside the
validation replay (the :class:`casework.tasks.validate.PolicyCheck` shape).

Rules (names as they appear in :class:`Violation.rule`):

- ``basic-economy-flights``: a basic economy reservation cannot change its flights (a cabin change
  on the same flights is allowed);
- ``change-keeps-trip``: a flight change keeps the origin, the destination and the trip type;
- ``cabin-change-after-flown``: the cabin cannot change once a flight of the reservation has flown;
- ``cancel-not-allowed``: a cancellation needs one of: booked within 24 hours, a flight cancelled by
  the airline, business class, travel insurance; never once a flight has flown, never twice;
- ``bags-only-added``: checked bags can be added, not removed;
- ``bag-allowance``: the non-free bags are the bags above the free allowance (membership x cabin x
  passengers), at booking and when bags are added;
- ``passengers``: at most five passengers; a change keeps their number;
- ``payment-limits``: a booking uses at most one certificate, one credit card and three gift cards,
  all from the booking user's profile; a change is paid with one gift card or credit card;
- ``itinerary``: a booking's flights connect, start at the origin and end at the destination (one
  way) or back at the origin after reaching the destination (round trip), in date order;
- ``compensation``: a certificate only for a silver/gold member, an insured or a business
  reservation, looked at earlier in the trace; $100 x passengers for a cancelled flight, $50 x
  passengers for a delay once the reservation was changed or cancelled; nothing otherwise;
- ``transfer-last``: a transfer to a human agent ends the conversation.

"Now" is the policy's clock, 2024-05-15 15:00:00 EST. Insurance covers health and weather reasons;
the reason is not an argument of ``cancel_reservation``, so an insured reservation passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from casework.domains.airline.generator import free_bags
from casework.domains.state import Record, State
from casework.domains.tools import Toolbox

NOW = datetime(2024, 5, 15, 15, 0, 0)
FLOWN = frozenset({"landed", "flying"})
MAX_PASSENGERS = 5
PAYMENT_LIMITS = {"certificate": 1, "credit_card": 1, "gift_card": 3}
_CHANGE_TOOLS = frozenset({"update_reservation_flights", "update_reservation_baggages", "cancel_reservation"})


@dataclass(frozen=True)
class Violation:
    """One broken rule: which action (index in the trace), which tool, which rule, and why."""

    index: int
    tool: str
    rule: str
    message: str


Action = tuple[str, Mapping[str, Any]]


# -- helpers -------------------------------------------------------------------------------------


def _day_status(state: State, flight_number: str, day: str) -> str | None:
    flight = state["flights"].get(flight_number)
    if flight is None or day not in flight["dates"]:
        return None
    return flight["dates"][day]["status"]


def _flown(state: State, reservation: Record) -> list[str]:
    """The segments of a reservation that have flown (landed or flying, or dated before today)."""
    flown = []
    for leg in reservation["flights"]:
        status = _day_status(state, leg["flight_number"], leg["date"])
        if status in FLOWN or (status != "cancelled" and leg["date"] < NOW.date().isoformat()):
            flown.append(f"{leg['flight_number']} on {leg['date']}")
    return flown


def _reservation(state: State, arguments: Mapping[str, Any]) -> Record | None:
    key = arguments.get("reservation_id")
    return state["reservations"].get(key) if isinstance(key, str) else None


def _cabin(reservation: Record, history: Sequence[Action]) -> str:
    """The reservation's cabin, as last set by a flight change in the trace (v1 does not store it)."""
    cabin = reservation["cabin"]
    for name, arguments in history:
        if (
            name == "update_reservation_flights"
            and arguments.get("reservation_id") == reservation["reservation_id"]
        ):
            cabin = arguments.get("cabin", cabin)
    return cabin


def _legs(arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    flights = arguments.get("flights")
    if not isinstance(flights, list):
        return []
    return [(f.get("flight_number"), f.get("date")) for f in flights if isinstance(f, dict)]


# -- the rules, one action each ------------------------------------------------------------------


def _itinerary_problems(
    state: State, legs: list[tuple[str, str]], origin: Any, destination: Any, kind: Any
) -> list[str]:
    flights = state["flights"]
    known = [(flights[n], d) for n, d in legs if n in flights]
    if len(known) != len(legs) or not known:
        return []  # grounding reports unknown flights
    problems = []
    for (first, d1), (second, d2) in zip(known, known[1:], strict=False):
        if d2 < d1:
            problems.append(
                f"flight {second['flight_number']} on {d2} comes before {first['flight_number']} on {d1}"
            )
        if first["destination"] != second["origin"]:
            problems.append(
                f"flight {second['flight_number']} leaves {second['origin']}, not {first['destination']} where "
                f"{first['flight_number']} lands"
            )
    stops = [f["destination"] for f, _ in known]
    if known[0][0]["origin"] != origin:
        problems.append(f"the first flight leaves {known[0][0]['origin']}, not the origin {origin}")
    if kind == "one_way" and stops[-1] != destination:
        problems.append(f"a one-way trip must end at {destination}, it ends at {stops[-1]}")
    if kind == "round_trip" and (stops[-1] != origin or destination not in stops[:-1]):
        problems.append(f"a round trip must reach {destination} and come back to {origin}")
    return problems


def rule_flight_change(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``basic-economy-flights``, ``change-keeps-trip`` and ``cabin-change-after-flown``."""
    if name != "update_reservation_flights":
        return []
    reservation = _reservation(state, arguments)
    if reservation is None:
        return []
    out: list[tuple[str, str]] = []
    old = [(f["flight_number"], f["date"]) for f in reservation["flights"]]
    new = _legs(arguments)
    changes_flights = sorted(old) != sorted(new)
    if changes_flights and _cabin(reservation, history) == "basic_economy":
        out.append(
            (
                "basic-economy-flights",
                f"reservation {reservation['reservation_id']} is basic economy: its flights cannot change",
            )
        )
    if changes_flights:
        for problem in _itinerary_problems(
            state, new, reservation["origin"], reservation["destination"], reservation["flight_type"]
        ):
            out.append(("change-keeps-trip", problem))
    if arguments.get("cabin") != _cabin(reservation, history):
        flown = _flown(state, reservation)
        if flown:
            out.append(
                ("cabin-change-after-flown", f"the cabin cannot change: {', '.join(flown)} has already flown")
            )
    return out


def rule_cancel(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``cancel-not-allowed``."""
    if name != "cancel_reservation":
        return []
    reservation = _reservation(state, arguments)
    if reservation is None:
        return []
    rid = reservation["reservation_id"]
    if reservation.get("status") == "cancelled":
        return [("cancel-not-allowed", f"reservation {rid} is already cancelled")]
    flown = _flown(state, reservation)
    if flown:
        return [
            ("cancel-not-allowed", f"{', '.join(flown)} has already flown: transfer to a human agent instead")
        ]
    created = datetime.fromisoformat(reservation["created_at"])
    recent = NOW - created <= timedelta(hours=24)
    airline_cancelled = any(
        _day_status(state, leg["flight_number"], leg["date"]) == "cancelled" for leg in reservation["flights"]
    )
    cabin = _cabin(reservation, history)
    if recent or airline_cancelled or cabin == "business" or reservation["insurance"] == "yes":
        return []
    return [
        (
            "cancel-not-allowed",
            f"reservation {rid} was booked {reservation['created_at']} (more than 24 hours ago), is "
            f"{cabin} without insurance and no flight of it was cancelled by the airline",
        )
    ]


def rule_bags(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``bags-only-added`` and ``bag-allowance``."""
    out: list[tuple[str, str]] = []
    total, nonfree = arguments.get("total_baggages"), arguments.get("nonfree_baggages")
    if not isinstance(total, int) or not isinstance(nonfree, int):
        return out
    if name == "update_reservation_baggages":
        reservation = _reservation(state, arguments)
        if reservation is None:
            return out
        if total < reservation["total_baggages"] or nonfree < reservation["nonfree_baggages"]:
            out.append(
                (
                    "bags-only-added",
                    f"bags can only be added: {reservation['total_baggages']} -> {total} total, "
                    f"{reservation['nonfree_baggages']} -> {nonfree} non-free",
                )
            )
        user = state["users"].get(reservation["user_id"])
        cabin, passengers = _cabin(reservation, history), len(reservation["passengers"])
    elif name == "book_reservation":
        user = state["users"].get(arguments.get("user_id"))
        cabin = arguments.get("cabin")
        passengers = len(arguments.get("passengers") or [])
    else:
        return out
    if user is None or cabin not in ("basic_economy", "economy", "business"):
        return out
    allowance = free_bags(user["membership"], cabin, passengers)
    expected = max(0, total - allowance)
    if nonfree != expected:
        out.append(
            (
                "bag-allowance",
                f"{total} bag(s) with {allowance} free ({user['membership']} member, {cabin}, {passengers} "
                f"passenger(s)) means {expected} non-free, not {nonfree}",
            )
        )
    return out


def rule_passengers(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``passengers``."""
    passengers = arguments.get("passengers")
    if not isinstance(passengers, list):
        return []
    if name == "book_reservation" and len(passengers) > MAX_PASSENGERS:
        return [
            ("passengers", f"a reservation has at most {MAX_PASSENGERS} passengers, not {len(passengers)}")
        ]
    if name == "update_reservation_passengers":
        reservation = _reservation(state, arguments)
        if reservation is not None and len(passengers) != len(reservation["passengers"]):
            return [
                (
                    "passengers",
                    f"the number of passengers cannot change ({len(reservation['passengers'])} -> {len(passengers)})",
                )
            ]
    return []


def rule_payment(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``payment-limits``."""
    if name == "book_reservation":
        user = state["users"].get(arguments.get("user_id"))
        payments = arguments.get("payment_methods")
        if user is None or not isinstance(payments, list):
            return []
        counts: dict[str, int] = {}
        for payment in payments:
            method = (
                user["payment_methods"].get(payment.get("payment_id")) if isinstance(payment, dict) else None
            )
            if method is not None:
                counts[method["source"]] = counts.get(method["source"], 0) + 1
        return [
            (
                "payment-limits",
                f"a booking uses at most {limit} {source.replace('_', ' ')}(s), not {counts[source]}",
            )
            for source, limit in PAYMENT_LIMITS.items()
            if counts.get(source, 0) > limit
        ]
    if name in ("update_reservation_flights", "update_reservation_baggages"):
        reservation = _reservation(state, arguments)
        user = state["users"].get(reservation["user_id"]) if reservation else None
        method = user["payment_methods"].get(arguments.get("payment_id")) if user else None
        if method is not None and method["source"] not in ("gift_card", "credit_card"):
            return [
                (
                    "payment-limits",
                    f"a change is paid with a gift card or a credit card, not a {method['source']}",
                )
            ]
    return []


def rule_itinerary(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``itinerary`` (bookings)."""
    if name != "book_reservation":
        return []
    return [
        ("itinerary", problem)
        for problem in _itinerary_problems(
            state,
            _legs(arguments),
            arguments.get("origin"),
            arguments.get("destination"),
            arguments.get("flight_type"),
        )
    ]


def rule_compensation(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action]
) -> list[tuple[str, str]]:
    """``compensation``: judged against the reservations named earlier in the trace."""
    if name != "send_certificate":
        return []
    user_id, amount = arguments.get("user_id"), arguments.get("amount")
    user = state["users"].get(user_id)
    if user is None:
        return []
    named = [a.get("reservation_id") for _, a in history if isinstance(a.get("reservation_id"), str)]
    changed = {a.get("reservation_id") for n, a in history if n in _CHANGE_TOOLS}
    candidates = [state["reservations"][r] for r in dict.fromkeys(named) if r in state["reservations"]]
    candidates = [r for r in candidates if r["user_id"] == user_id]
    if not candidates:
        return [("compensation", "a certificate is sent without first looking at the user's reservation")]
    reasons: list[str] = []
    for reservation in candidates:
        eligible = (
            user["membership"] in ("silver", "gold")
            or reservation["insurance"] == "yes"
            or _cabin(reservation, history) == "business"
        )
        if not eligible:
            reasons.append(
                f"{reservation['reservation_id']}: regular member, no insurance, {reservation['cabin']}"
            )
            continue
        statuses = [_day_status(state, f["flight_number"], f["date"]) for f in reservation["flights"]]
        count = len(reservation["passengers"])
        if "cancelled" in statuses and amount == 100 * count:
            return []
        if "delayed" in statuses and amount == 50 * count and reservation["reservation_id"] in changed:
            return []
        reasons.append(
            f"{reservation['reservation_id']}: ${amount} is neither $100 x {count} for a cancelled flight nor "
            f"$50 x {count} for a delayed flight after a change or cancellation"
        )
    return [("compensation", "no reservation justifies this certificate (" + "; ".join(reasons) + ")")]


RULES = (
    rule_flight_change,
    rule_cancel,
    rule_bags,
    rule_passengers,
    rule_payment,
    rule_itinerary,
    rule_compensation,
)


def check_action(
    state: State, name: str, arguments: Mapping[str, Any], history: Sequence[Action] = ()
) -> list[tuple[str, str]]:
    """Every ``(rule, message)`` broken by one action, given the state just before it and the actions before it."""
    if not isinstance(arguments, Mapping):
        return []
    out: list[tuple[str, str]] = []
    for rule in RULES:
        out.extend(rule(state, name, arguments, history))
    return out


def check_trace(
    state: State,
    actions: Sequence[Action],
    observations: Sequence[str] | None = None,
    toolbox: Toolbox | None = None,
) -> list[Violation]:
    """Replay ``actions`` on a fork of ``state`` and return every violation, in order.

    ``observations`` (one per action, as the agent saw them) are optional: an action whose observation
    is an error is checked but not counted as having changed or cancelled anything for the
    compensation rule. ``toolbox`` defaults to the ``tau-bench-v1`` profile.
    """
    if toolbox is None:
        from casework.domains.airline import AIRLINE_PROFILES, DEFAULT_PROFILE

        toolbox = AIRLINE_PROFILES[DEFAULT_PROFILE]
    current = state.fork()
    history: list[Action] = []
    found: list[Violation] = []
    for index, (name, arguments) in enumerate(actions):
        for rule, message in check_action(current, name, arguments, history):
            found.append(Violation(index, name, rule, message))
        if name == "transfer_to_human_agents" and index != len(actions) - 1:
            found.append(
                Violation(
                    index,
                    name,
                    "transfer-last",
                    "the transfer to a human agent ends the conversation, but actions follow it",
                )
            )
        observation = (
            toolbox.call(current, name, dict(arguments)) if name in toolbox else "Error: unknown tool"
        )
        if observations is not None and index < len(observations):
            observation = observations[index]
        if not observation.startswith("Error"):
            history.append((name, arguments))
        else:
            history.append(("(failed) " + name, arguments))
    return found


class AirlinePolicy:
    """The airline rules as a :class:`casework.tasks.validate.PolicyCheck` (stage ``policy``)."""

    def __init__(self, domain: Any = None):
        self.domain = domain

    def check_action(
        self, state: State, task: Any, index: int, arguments: dict[str, Any], name: str
    ) -> list[str]:
        history = [(a.name, a.arguments) for a in task.actions[:index]]
        problems = [f"[{rule}] {message}" for rule, message in check_action(state, name, arguments, history)]
        is_write = self.domain is not None and self.domain.is_write(name)
        if is_write and task.metadata.get("expected_behaviour") == "refuse":
            problems.append(
                "[refusal] the request must be refused, but the ground truth changes the database"
            )
        refused = task.metadata.get("refused_reservations", ())
        if is_write and isinstance(arguments, dict) and arguments.get("reservation_id") in refused:
            problems.append(
                f"[refusal] the request about reservation {arguments['reservation_id']} must be refused, "
                "but the ground truth changes it"
            )
        if name == "transfer_to_human_agents" and index != len(task.actions) - 1:
            problems.append(
                "[transfer-last] the transfer to a human agent ends the conversation, but actions follow it"
            )
        return problems

    def check_task(self, task: Any, replay: Any) -> list[str]:
        return []


__all__ = ["RULES", "AirlinePolicy", "Violation", "check_action", "check_trace"]
