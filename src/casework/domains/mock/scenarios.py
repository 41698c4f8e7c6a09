"""The help desk's templated scenarios (a :class:`~casework.domains.ScenarioLibrary`).

Scenario keys: ``ticket_status`` (the customer asks how a ticket stands; the status is an expected
output), ``close_ticket`` (an open ticket is solved), ``open_ticket`` (a new ticket; a basic-plan
customer who wants it urgent accepts normal priority, as the policy says). casework's generic loop
draws the keys and the customer (from :meth:`HelpDeskScenarios.users_for`); :meth:`draft` runs the
ground truth on a fork, so every task replays cleanly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from casework.domains import Database, Domain, ScenarioDraft, ScenarioSkip, State
from casework.tasks import Action

KEYS = ("ticket_status", "close_ticket", "open_ticket")
_SUBJECTS = ("the printer driver will not install", "two-factor codes never arrive", "a report shows no data")


def _run(domain: Domain, state: State, draft: ScenarioDraft, name: str, **arguments: Any) -> str:
    observation = domain.call(state, name, arguments)
    if observation.startswith("Error"):
        raise ScenarioSkip(f"{name}: {observation}")
    draft.actions.append(Action(name=name, arguments=arguments))
    draft.observations.append(observation)
    return observation


def _tickets(state: State, customer: dict, status: str, used: set[str]) -> list[str]:
    return [t for t in customer["tickets"] if state["tickets"][t]["status"] == status and t not in used]


class HelpDeskScenarios:
    keys = KEYS
    solo_keys: frozenset[str] = frozenset()
    merged_metadata: tuple[str, ...] = ()

    def users_for(self, database: Database, key: str) -> list[str]:
        customers, tickets = database.tables["customers"], database.tables["tickets"]
        if key == "open_ticket":
            return sorted(customers)
        wanted = ("open",) if key == "close_ticket" else ("open", "closed")
        return sorted({t["customer_id"] for t in tickets.values() if t["status"] in wanted})

    def draft(
        self, domain: Domain, state: State, rng: random.Random, user_id: str, keys: Sequence[str]
    ) -> ScenarioDraft:
        customer = state["customers"][user_id]
        draft = ScenarioDraft(user_id=user_id)
        _run(domain, state, draft, "find_customer", email=customer["email"])
        used: set[str] = set()
        for key in keys:
            if key == "open_ticket":
                subject = rng.choice(_SUBJECTS)
                wants_urgent = rng.random() < 0.5
                priority = "urgent" if wants_urgent and customer["plan"] == "pro" else "normal"
                _run(domain, state, draft, "get_customer", customer_id=user_id)
                _run(
                    domain,
                    state,
                    draft,
                    "open_ticket",
                    customer_id=user_id,
                    subject=subject,
                    priority=priority,
                )
                fallback = " If urgent is not possible, normal priority is fine." if wants_urgent else ""
                urgency = "urgent" if wants_urgent else "normal"
                draft.wants.append(
                    f"You want a new ticket opened about this: {subject}. You would like {urgency} priority.{fallback}"
                )
                draft.intent_ends.append(len(draft.actions))
                continue
            status = "open" if key == "close_ticket" else rng.choice(["open", "closed"])
            candidates = _tickets(state, customer, status, used)
            if not candidates:
                raise ScenarioSkip(f"no {status} ticket")
            ticket_id = rng.choice(candidates)
            used.add(ticket_id)
            _run(domain, state, draft, "get_ticket", ticket_id=ticket_id)
            if key == "close_ticket":
                _run(domain, state, draft, "close_ticket", ticket_id=ticket_id)
                draft.wants.append(
                    f"Your problem in ticket {ticket_id} is solved and you want the ticket closed."
                )
            else:
                draft.outputs.append(status)
                draft.wants.append(
                    f"You want to know whether ticket {ticket_id} is still open or already closed."
                )
            draft.intent_ends.append(len(draft.actions))
        draft.extra["email"] = customer["email"]
        return draft

    def instruction(self, draft: ScenarioDraft, rng: random.Random) -> tuple[str, str | None]:
        opening = f"You are a customer of the help desk; your email is {draft.extra['email']}."
        return " ".join([opening, *draft.wants, "If the agent asks you to confirm, say yes."]), None
