"""Grounding checks for airline actions: do the ids an action names exist and belong to the task's user?

Checked against the state just before the action runs, so a reservation booked or a certificate
sent by an earlier action is seen. Flight numbers must exist and fly on the given date; payment
ids must be in the paying user's profile; reservations must belong to the task's user.
"""

from __future__ import annotations

from typing import Any

from casework.domains.state import State

_PAYING_TOOLS = ("update_reservation_flights", "update_reservation_baggages")


def ground_action(state: State, user_id: str | None, name: str, arguments: dict[str, Any]) -> list[str]:
    """Problems with the ids in one airline action (empty when everything resolves)."""
    problems: list[str] = []
    users, reservations, flights = state["users"], state["reservations"], state["flights"]
    owner = user_id

    if "user_id" in arguments:
        given = arguments["user_id"]
        if given not in users:
            problems.append(f"user_id {given!r} does not exist")
        elif user_id is not None and given != user_id:
            problems.append(f"user_id {given!r} is not the task's user {user_id!r}")
        else:
            owner = owner or given

    if "reservation_id" in arguments:
        key = arguments["reservation_id"]
        if key not in reservations:
            problems.append(f"reservation_id {key!r} does not exist")
        else:
            holder = reservations[key]["user_id"]
            if user_id is not None and holder != user_id:
                problems.append(f"reservation {key} belongs to {holder!r}, not the task's user {user_id!r}")
            owner = owner or holder

    legs = arguments.get("flights")
    if isinstance(legs, list):
        for i, leg in enumerate(legs):
            if not isinstance(leg, dict):
                continue
            number, day = leg.get("flight_number"), leg.get("date")
            if number not in flights:
                problems.append(f"flights[{i}]: flight {number!r} does not exist")
            elif day not in flights[number]["dates"]:
                problems.append(f"flights[{i}]: flight {number} does not fly on {day!r}")
    if name == "get_flight_status" and "flight_number" in arguments:
        number = arguments["flight_number"]
        if number not in flights:
            problems.append(f"flight {number!r} does not exist")
        elif arguments.get("date") not in flights[number]["dates"]:
            problems.append(f"flight {number} does not fly on {arguments.get('date')!r}")

    payment_ids: list[Any] = []
    if name in _PAYING_TOOLS and "payment_id" in arguments:
        payment_ids.append(arguments["payment_id"])
    if isinstance(arguments.get("payment_methods"), list):
        payment_ids += [p.get("payment_id") for p in arguments["payment_methods"] if isinstance(p, dict)]
    if owner is not None and owner in users:
        methods = users[owner]["payment_methods"]
        for payment_id in payment_ids:
            if payment_id not in methods:
                problems.append(f"payment method {payment_id!r} does not belong to user {owner!r}")
    return problems
