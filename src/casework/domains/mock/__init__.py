"""A tiny help-desk domain (customers and tickets): the guard that keeps casework's generic layers generic.

It is also the template of ``casework domain new``: every file of this package is written, with
the domain's name substituted, into a new plugin package. So it uses only casework's public API and
relative imports, and stays small. Read it as the worked example of the domain contract
(:mod:`casework.domains.domain`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casework.domains import (
    ArgumentRules,
    Domain,
    Identity,
    State,
    Toolbox,
    ToolKind,
    UserFacts,
    UserModel,
)
from casework.domains.mock import safety as _safety

from .data import TABLES, default_database, generate, load, write
from .scenarios import HelpDeskScenarios
from .tools import TOOLS

NAME = "mock"
HERE = Path(__file__).parent
POLICY = (HERE / "policy.md").read_text(encoding="utf-8")
#: three sample tasks, checked by `casework domain check`
SAMPLE_TASKS = HERE / "tasks.json"


def user_facts(state: State, customer_id: str | None) -> UserFacts:
    """The customer can tell the agent their email address."""
    record = state["customers"].get(customer_id) if customer_id else None
    if not record:
        return UserFacts(user_id=customer_id)
    email = Identity(
        tool="find_customer",
        values={"email": record["email"]},
        text=f"My email is {record['email']}.",
        asks=r"\be-?mail\b",
    )
    return UserFacts(user_id=customer_id, identities=[email], details={"name": record["name"]})


def grounding(state: State, customer_id: str | None, name: str, arguments: dict[str, Any]) -> list[str]:
    """Ids that do not exist, or records that are not the task's customer's."""
    problems = []
    given = arguments.get("customer_id")
    if given is not None and given not in state["customers"]:
        problems.append(f"customer_id {given!r} does not exist")
    elif given is not None and customer_id is not None and given != customer_id:
        problems.append(f"customer_id {given!r} is not the task's customer {customer_id!r}")
    ticket_id = arguments.get("ticket_id")
    if ticket_id is not None:
        ticket = state["tickets"].get(ticket_id)
        if ticket is None:
            problems.append(f"ticket_id {ticket_id!r} does not exist")
        elif customer_id is not None and ticket["customer_id"] != customer_id:
            problems.append(
                f"ticket {ticket_id!r} belongs to {ticket['customer_id']!r}, not the task's customer"
            )
    return problems


class HelpDeskPolicy:
    """The policy as rules over the ground truth's execution trace (validation stage ``policy``)."""

    def __init__(self) -> None:
        self.identified: set[str] = set()

    def check_action(
        self, state: State, task: Any, index: int, arguments: dict[str, Any], name: str
    ) -> list[str]:
        problems = []
        earlier = [a.name for a in task.actions[:index]]
        if (
            name != "find_customer"
            and TOOL_KINDS.get(name) != ToolKind.GENERIC
            and "find_customer" not in earlier
        ):
            problems.append("the customer must be identified (find_customer) before anything else")
        if name == "open_ticket" and arguments.get("priority") == "urgent":
            customer = state["customers"].get(arguments.get("customer_id"))
            if customer is not None and customer["plan"] != "pro":
                problems.append("urgent priority is for pro-plan customers only")
        return problems

    def check_task(self, task: Any, replay: Any) -> list[str]:
        names = [a.name for a in task.actions]
        if "escalate_to_human" in names[:-1]:
            return ["escalate_to_human must be the last action"]
        return []


TOOLBOX = Toolbox(TOOLS)
TOOL_KINDS = {name: t.kind for name, t in TOOLBOX.tools.items()}

DOMAIN = Domain(
    name=NAME,
    description="A tiny help desk: customers and their support tickets.",
    tables=TABLES,
    toolbox=TOOLBOX,
    policy=POLICY,
    default_data=default_database,
    load_data=load,
    grounding=grounding,
    users=UserModel(
        table="customers",
        identification={"find_customer": ("email",)},
        profile_tool="get_customer",
        owned_ids={"ticket_id": "tickets"},
        owner_field="customer_id",
        facts=user_facts,
        role="a customer of a software company's help desk",
    ),
    arguments=ArgumentRules(
        case_insensitive=frozenset({"email"}),
        free_text={"escalate_to_human": frozenset({"summary"})},
        transfer_tool="escalate_to_human",
    ),
    policy_rules=HelpDeskPolicy,
    generate_data=generate,
    data_sizes={"customers": 20, "tickets": 30},
    write_data=write,
    scenarios=HelpDeskScenarios(),
    safety=_safety.SAFETY,
    sample_tasks=SAMPLE_TASKS,
)
