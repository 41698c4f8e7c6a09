"""The agent's telecom tools (τ³-bench names, arguments, effects and error messages).

Reads return the record as JSON. Writes check everything first, then edit this fork's own copies,
so a failed call changes nothing. Dates are those of the policy (:data:`models.TODAY`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import unicodedata
from typing import Any

from casework.domains.state import Record, State
from casework.domains.telecom import device as phone_model
from casework.domains.telecom.models import TODAY, BillStatus, LineStatus
from casework.domains.tools import ToolError, ToolKind, tool

# -- helpers ------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value)


def customer_record(db: State, customer_id: str) -> Record:
    customers = db["customers"]
    if customer_id not in customers:
        raise ToolError(f"Customer with ID {customer_id} not found")
    return customers[customer_id]


def _record(db: State, table: str, key: str, label: str) -> Record:
    rows = db[table]
    if key not in rows:
        raise ToolError(f"{label} with ID {key} not found")
    return rows[key]


def target_line(db: State, customer_id: str, line_id: str) -> Record:
    """The line, after checking that the customer exists and owns it."""
    customer = customer_record(db, customer_id)
    if line_id not in customer["line_ids"]:
        raise ToolError(f"Line {line_id} not found for customer {customer_id}")
    return _record(db, "lines", line_id, "Line")


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a name."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _last_of_month(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _new_bill_id(db: State, customer_id: str) -> str:
    bills = db["bills"]
    n = len(bills)
    while True:
        candidate = "B" + hashlib.sha256(f"{customer_id}:{n}".encode()).hexdigest()[:8]
        if candidate not in bills:
            return candidate
        n += 1


def apply_one_time_charge(db: State, customer_id: str, amount: float, description: str) -> str:
    """Add a charge (or a credit, when negative) to the customer's draft bill, opening one for next
    month when there is none. Returns the bill id."""
    customer = customer_record(db, customer_id)
    bills = db["bills"]
    draft_id = next(
        (b for b in customer["bill_ids"] if b in bills and bills[b]["status"] == BillStatus.DRAFT), None
    )
    if draft_id is None:
        start = _first_of_next_month(TODAY)
        draft_id = _new_bill_id(db, customer_id)
        bills.put(
            draft_id,
            {
                "bill_id": draft_id,
                "customer_id": customer_id,
                "period_start": start.isoformat(),
                "period_end": _last_of_month(start).isoformat(),
                "issue_date": start.isoformat(),
                "total_due": 0,
                "due_date": (start + dt.timedelta(days=14)).isoformat(),
                "line_items": [],
                "status": BillStatus.DRAFT.value,
            },
        )
        db["customers"].edit(customer_id)["bill_ids"].append(draft_id)
    bill = bills.edit(draft_id)
    bill["line_items"].append(
        {
            "description": description,
            "amount": amount,
            "date": TODAY.isoformat(),
            "item_type": "Credit" if amount < 0 else "Charge",
        }
    )
    bill["total_due"] += amount
    return draft_id


def bills_awaiting_payment(db: State, customer: Record) -> list[str]:
    bills = db["bills"]
    return [
        b for b in customer["bill_ids"] if b in bills and bills[b]["status"] == BillStatus.AWAITING_PAYMENT
    ]


# -- customer lookup ------------------------------------------------------------------------------


@tool(ToolKind.READ)
def get_customer_by_phone(db: State, phone_number: str) -> str:
    """Finds a customer by their primary contact or line phone number.

    Args:
        phone_number: The phone number to search for.
    """
    customer = phone_model.customer_by_phone(db, phone_number)
    if customer is None:
        raise ToolError(f"Customer with phone number {phone_number} not found")
    return _dumps(customer)


@tool(ToolKind.READ)
def get_customer_by_id(db: State, customer_id: str) -> str:
    """Retrieves a customer directly by their unique ID.

    Args:
        customer_id: The unique identifier of the customer.
    """
    return _dumps(customer_record(db, customer_id))


@tool(ToolKind.READ)
def get_customer_by_name(db: State, full_name: str, dob: str) -> str:
    """Searches for customers by name and DOB. May return multiple matches if names are similar, DOB helps disambiguate.

    Args:
        full_name: The full name of the customer.
        dob: Date of birth for verification, in the format YYYY-MM-DD.
    """
    wanted = _fold(full_name)
    return _dumps(
        [c for c in db["customers"].values() if _fold(c["full_name"]) == wanted and c["date_of_birth"] == dob]
    )


@tool(ToolKind.READ)
def get_details_by_id(db: State, id: str) -> str:
    """Retrieves the details for a given ID. The ID must be a valid ID for a Customer, Line, Device, Bill, or Plan.

    Args:
        id: The ID of the object to retrieve.
    """
    kinds = {
        "L": ("lines", "Line"),
        "D": ("devices", "Device"),
        "B": ("bills", "Bill"),
        "P": ("plans", "Plan"),
    }
    if id.startswith("C"):
        return _dumps(customer_record(db, id))
    if id[:1] in kinds:
        table, label = kinds[id[:1]]
        return _dumps(_record(db, table, id, label))
    raise ToolError(f"Unknown ID format or type: {id}")


# -- lines ----------------------------------------------------------------------------------------


@tool(ToolKind.WRITE)
def suspend_line(db: State, customer_id: str, line_id: str, reason: str) -> str:
    """Suspends a specific line (max 6 months). Checks: Line status must be Active. Logic: Sets line status to Suspended, records suspension_start_date.

    Args:
        customer_id: ID of the customer who owns the line.
        line_id: ID of the line to suspend.
        reason: Reason for suspension.
    """
    line = target_line(db, customer_id, line_id)
    if line["status"] != LineStatus.ACTIVE:
        raise ToolError("Line must be active to suspend")
    line = db["lines"].edit(line_id)
    line["status"] = LineStatus.SUSPENDED.value
    line["suspension_start_date"] = TODAY.isoformat()
    return _dumps({"message": "Line suspended successfully. $5/month holding fee will apply.", "line": line})


@tool(ToolKind.WRITE)
def resume_line(db: State, customer_id: str, line_id: str) -> str:
    """Resumes a suspended line. Checks: Line status must be Suspended or Pending Activation. Logic: Sets line status to Active, clears suspension_start_date.

    Args:
        customer_id: ID of the customer who owns the line.
        line_id: ID of the line to resume.
    """
    line = target_line(db, customer_id, line_id)
    if line["status"] not in (LineStatus.SUSPENDED, LineStatus.PENDING_ACTIVATION):
        raise ToolError("Line must be suspended to resume")
    line = db["lines"].edit(line_id)
    line["status"] = LineStatus.ACTIVE.value
    line["suspension_start_date"] = None
    return _dumps({"message": "Line resumed successfully", "line": line})


# -- bills ----------------------------------------------------------------------------------------


@tool(ToolKind.READ)
def get_bills_for_customer(db: State, customer_id: str, limit: int = 12) -> str:
    """Retrieves a list of the customer's bills, most recent first.

    Args:
        customer_id: ID of the customer.
        limit: Maximum number of bills to return.
    """
    customer = customer_record(db, customer_id)
    bills = [_record(db, "bills", b, "Bill") for b in customer["bill_ids"]]
    bills.sort(key=lambda bill: bill["issue_date"], reverse=True)
    return _dumps(bills[: max(limit, 0)])


@tool(ToolKind.WRITE)
def send_payment_request(db: State, customer_id: str, bill_id: str) -> str:
    """Sends a payment request to the customer for a specific bill. Checks: the customer exists, the bill exists and belongs to the customer, no other bill is already awaiting payment for this customer. Logic: sets the bill status to AWAITING_PAYMENT and notifies the customer. Warning: this does not check whether the bill is already PAID; always check the bill status first.

    Args:
        customer_id: ID of the customer who owns the bill.
        bill_id: ID of the bill to send payment request for.
    """
    customer = customer_record(db, customer_id)
    if bills_awaiting_payment(db, customer):
        raise ToolError("A bill is already awaiting payment for this customer")
    if bill_id not in customer["bill_ids"]:
        raise ToolError(f"Bill {bill_id} not found for customer {customer_id}")
    _record(db, "bills", bill_id, "Bill")
    db["bills"].edit(bill_id)["status"] = BillStatus.AWAITING_PAYMENT.value
    return f"Payment request sent to the customer for bill {bill_id}"


# -- data and roaming -----------------------------------------------------------------------------


@tool(ToolKind.READ)
def get_data_usage(db: State, customer_id: str, line_id: str) -> str:
    """Retrieves current billing cycle data usage for a line, including data refueling amount, data limit, and cycle end date.

    Args:
        customer_id: ID of the customer who owns the line.
        line_id: ID of the line to check usage for.
    """
    line = target_line(db, customer_id, line_id)
    plan = _record(db, "plans", line["plan_id"], "Plan")
    return _dumps(
        {
            "line_id": line_id,
            "data_used_gb": line["data_used_gb"],
            "data_limit_gb": plan["data_limit_gb"],
            "data_refueling_gb": line["data_refueling_gb"],
            "cycle_end_date": _last_of_month(TODAY).isoformat(),
        }
    )


@tool(ToolKind.WRITE)
def enable_roaming(db: State, customer_id: str, line_id: str) -> str:
    """Enables international roaming on a line.

    Args:
        customer_id: ID of the customer who owns the line.
        line_id: ID of the line to enable roaming for.
    """
    line = target_line(db, customer_id, line_id)
    if line["roaming_enabled"]:
        return "Roaming was already enabled"
    db["lines"].edit(line_id)["roaming_enabled"] = True
    return "Roaming enabled successfully"


@tool(ToolKind.WRITE)
def disable_roaming(db: State, customer_id: str, line_id: str) -> str:
    """Disables international roaming on a line.

    Args:
        customer_id: ID of the customer who owns the line.
        line_id: ID of the line to disable roaming for.
    """
    line = target_line(db, customer_id, line_id)
    if not line["roaming_enabled"]:
        return "Roaming was already disabled"
    db["lines"].edit(line_id)["roaming_enabled"] = False
    return "Roaming disabled successfully"


@tool(ToolKind.WRITE)
def refuel_data(db: State, customer_id: str, line_id: str, gb_amount: float) -> str:
    """Refuels data for a specific line, adding to the customer's bill. Checks: the customer owns the line. Logic: adds data to the line and charges the customer at the plan's refueling rate.

    Args:
        customer_id: ID of the customer who owns the line.
        line_id: ID of the line to refuel data for.
        gb_amount: Amount of data to add in gigabytes.
    """
    line = target_line(db, customer_id, line_id)
    if gb_amount <= 0:
        raise ToolError("Refuel amount must be positive")
    plan = _record(db, "plans", line["plan_id"], "Plan")
    price = plan["data_refueling_price_per_gb"]
    charge = gb_amount * price
    line = db["lines"].edit(line_id)
    line["data_refueling_gb"] += gb_amount
    apply_one_time_charge(db, customer_id, charge, f"Data refueling: {gb_amount} GB at ${price}/GB")
    return _dumps(
        {
            "message": f"Successfully added {gb_amount} GB of data for line {line_id} for ${charge:.2f}",
            "new_data_refueling_gb": line["data_refueling_gb"],
            "charge": charge,
        }
    )


@tool(ToolKind.GENERIC, ends_conversation=True)
def transfer_to_human_agents(db: State, summary: str) -> str:
    """Transfer the user to a human agent, with a summary of the user's issue. Only transfer if the user explicitly asks for a human agent, or if given the policy and the available tools you cannot solve the user's issue.

    Args:
        summary: A summary of the user's issue.
    """
    return "Transfer successful"


AGENT_TOOL_FUNCTIONS = [
    get_customer_by_phone,
    get_customer_by_id,
    get_customer_by_name,
    get_details_by_id,
    suspend_line,
    resume_line,
    get_bills_for_customer,
    send_payment_request,
    get_data_usage,
    enable_roaming,
    disable_roaming,
    transfer_to_human_agents,
    refuel_data,
]
