"""The help desk's tools: find a customer, read a ticket, open, close or escalate one."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field

from casework.domains import State, ToolError, ToolKind, tool

PRIORITIES = ["low", "normal", "urgent"]
Priority = Annotated[str, Field(json_schema_extra={"enum": PRIORITIES})]


def _customer(db: State, customer_id: str) -> dict:
    if customer_id not in db["customers"]:
        raise ToolError("customer not found")
    return db["customers"][customer_id]


def _ticket(db: State, ticket_id: str) -> dict:
    if ticket_id not in db["tickets"]:
        raise ToolError("ticket not found")
    return db["tickets"][ticket_id]


@tool(ToolKind.READ)
def find_customer(db: State, email: str) -> str:
    """Find a customer's id by their email address.

    Args:
        email: The customer's email address, such as 'ada@example.com'.
    """
    key = db["customers"].first_key(lambda c: c["email"].lower(), email.strip().lower())
    if key is None:
        raise ToolError("customer not found")
    return key


@tool(ToolKind.READ)
def get_customer(db: State, customer_id: str) -> str:
    """Get a customer's profile: name, email, plan and the ids of their tickets.

    Args:
        customer_id: The customer's id, such as 'cus_ada_1'.
    """
    return json.dumps(_customer(db, customer_id))


@tool(ToolKind.READ)
def get_ticket(db: State, ticket_id: str) -> str:
    """Get a ticket: its subject, status, priority and owner.

    Args:
        ticket_id: The ticket id, such as 'TK-1001'.
    """
    return json.dumps(_ticket(db, ticket_id))


@tool(ToolKind.WRITE)
def open_ticket(db: State, customer_id: str, subject: str, priority: Priority) -> str:
    """Open a new ticket for a customer. Urgent priority is for customers on the 'pro' plan only.

    Args:
        customer_id: The customer's id.
        subject: What the ticket is about, in a few words.
        priority: One of 'low', 'normal', 'urgent'.
    """
    customer = _customer(db, customer_id)
    if priority == "urgent" and customer["plan"] != "pro":
        raise ToolError("urgent priority needs the pro plan")
    number = 1001 + len(db["tickets"])
    ticket_id = f"TK-{number}"
    while ticket_id in db["tickets"]:
        number += 1
        ticket_id = f"TK-{number}"
    ticket = {
        "ticket_id": ticket_id,
        "customer_id": customer_id,
        "subject": subject,
        "priority": priority,
        "status": "open",
    }
    db["tickets"].put(ticket_id, ticket)
    db["customers"].edit(customer_id)["tickets"].append(ticket_id)
    return json.dumps(ticket)


@tool(ToolKind.WRITE)
def close_ticket(db: State, ticket_id: str) -> str:
    """Close an open ticket once the customer's problem is solved.

    Args:
        ticket_id: The ticket id, such as 'TK-1001'.
    """
    if _ticket(db, ticket_id)["status"] != "open":
        raise ToolError("only an open ticket can be closed")
    ticket = db["tickets"].edit(ticket_id)
    ticket["status"] = "closed"
    return json.dumps(ticket)


@tool(ToolKind.GENERIC, ends_conversation=True)
def escalate_to_human(db: State, summary: str) -> str:
    """Hand the conversation to a human agent, with a short summary of the customer's problem.

    Args:
        summary: What the customer needs and what was tried.
    """
    return "Transfer successful"


TOOLS = [find_customer, get_customer, get_ticket, open_ticket, close_ticket, escalate_to_human]
