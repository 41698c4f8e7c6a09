"""Grounding checks for telecom actions: do the ids an action names exist and belong to the task's
customer? Checked against the state just before the action runs. User-side actions name no ids."""

from __future__ import annotations

from typing import Any

from casework.domains.state import State
from casework.domains.telecom.device import customer_by_phone


def ground_action(state: State, customer_id: str | None, name: str, arguments: dict[str, Any]) -> list[str]:
    """Problems with the ids in one telecom action (empty when everything resolves)."""
    problems: list[str] = []
    customers, lines, bills = state["customers"], state["lines"], state["bills"]
    owner = customer_id
    given = arguments.get("customer_id")
    if isinstance(given, str):
        if given not in customers:
            problems.append(f"customer_id {given!r} does not exist")
        elif customer_id is not None and given != customer_id:
            problems.append(f"customer_id {given!r} is not the task's customer {customer_id!r}")
        else:
            owner = given
    record = customers.get(owner) if owner is not None else None
    line_id = arguments.get("line_id")
    if isinstance(line_id, str):
        if line_id not in lines:
            problems.append(f"line_id {line_id!r} does not exist")
        elif record is not None and line_id not in record["line_ids"]:
            problems.append(f"line {line_id} does not belong to customer {owner!r}")
    bill_id = arguments.get("bill_id")
    if isinstance(bill_id, str):
        if bill_id not in bills:
            problems.append(f"bill_id {bill_id!r} does not exist")
        elif record is not None and bill_id not in record["bill_ids"]:
            problems.append(f"bill {bill_id} does not belong to customer {owner!r}")
    if (
        name == "get_customer_by_phone"
        and customer_id is not None
        and isinstance(arguments.get("phone_number"), str)
    ):
        found = customer_by_phone(state, arguments["phone_number"])
        if found is None or found["customer_id"] != customer_id:
            problems.append(
                f"phone number {arguments['phone_number']!r} is not the task's customer {customer_id!r}"
            )
    if name == "get_customer_by_name" and record is not None and customer_id is not None:
        same = str(arguments.get("full_name", "")).strip().casefold() == record["full_name"].casefold()
        if not same or arguments.get("dob") != record["date_of_birth"]:
            problems.append(f"name and date of birth do not identify the task's customer {customer_id!r}")
    if name == "get_details_by_id" and isinstance(arguments.get("id"), str):
        some_id = arguments["id"]
        tables = {"C": customers, "L": lines, "B": bills, "D": state["devices"], "P": state["plans"]}
        table = tables.get(some_id[:1])
        if table is None or some_id not in table:
            problems.append(f"id {some_id!r} does not exist")
    return problems
