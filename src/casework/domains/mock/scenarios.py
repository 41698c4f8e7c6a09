"""The help desk's templated scenarios: each task is built by running its actions on a fork.

Scenario keys: ``ticket_status`` (the customer asks how a ticket stands; the status is an expected
output), ``close_ticket`` (an open ticket is solved), ``open_ticket`` (a new ticket; a basic-plan
customer who wants it urgent accepts normal priority, as the policy says).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from casework.domains import Database, Domain, State
from casework.tasks import Action, Task

KEYS = ("ticket_status", "close_ticket", "open_ticket")
_SUBJECTS = ("the printer driver will not install", "two-factor codes never arrive", "a report shows no data")


class _Draft:
    """One task under construction: actions run on a fork; any error means 'resample'."""

    def __init__(self, domain: Domain, state: State, customer_id: str):
        self.domain, self.state, self.customer_id = domain, state, customer_id
        self.actions: list[Action] = []
        self.outputs: list[str] = []

    def run(self, name: str, **arguments: Any) -> str:
        observation = self.domain.call(self.state, name, arguments)
        if observation.startswith("Error"):
            raise LookupError(f"{name}: {observation}")
        self.actions.append(Action(name=name, arguments=arguments))
        return observation


def _tickets(state: State, customer: dict, status: str) -> list[str]:
    return [t for t in customer["tickets"] if state["tickets"][t]["status"] == status]


def _build(rng: random.Random, draft: _Draft, key: str) -> str:
    customer = draft.state["customers"][draft.customer_id]
    draft.run("find_customer", email=customer["email"])
    if key == "open_ticket":
        subject = rng.choice(_SUBJECTS)
        wants_urgent = rng.random() < 0.5
        priority = "urgent" if wants_urgent and customer["plan"] == "pro" else "normal"
        draft.run("get_customer", customer_id=draft.customer_id)
        draft.run("open_ticket", customer_id=draft.customer_id, subject=subject, priority=priority)
        fallback = " If urgent is not possible, normal priority is fine." if wants_urgent else ""
        urgency = "urgent" if wants_urgent else "normal"
        return f"You want a new ticket opened about this: {subject}. You would like {urgency} priority.{fallback}"
    status = "open" if key == "close_ticket" else rng.choice(["open", "closed"])
    candidates = _tickets(draft.state, customer, status)
    if not candidates:
        raise LookupError(f"no {status} ticket")
    ticket_id = rng.choice(candidates)
    draft.run("get_ticket", ticket_id=ticket_id)
    if key == "close_ticket":
        draft.run("close_ticket", ticket_id=ticket_id)
        return f"Your problem in ticket {ticket_id} is solved and you want the ticket closed."
    draft.outputs.append(status)
    return f"You want to know whether ticket {ticket_id} is still open or already closed."


class HelpDeskScenarios:
    """The :class:`~casework.domains.ScenarioLibrary` of the help desk."""

    keys = KEYS

    def build_task(
        self,
        domain: Domain,
        database: Database,
        *,
        seed: int,
        index: int,
        iteration: int = 0,
        weights: Mapping[str, float] | None = None,
        multi_intent: float | None = None,
        **options: Any,
    ) -> Task:
        rng = random.Random(f"{domain.name}/templated/{seed}/{index}/{iteration}")
        weights = {
            k: float(v) for k, v in (weights or dict.fromkeys(KEYS, 1.0)).items() if k in KEYS and v > 0
        }
        if not weights:
            raise ValueError(f"no known scenario among the weights; known: {', '.join(KEYS)}")
        forced = options.get("scenario")
        customers = list(database.fork()["customers"]) if "customers" in database.table_names else []
        reason = "no customers"
        for _ in range(50):
            key = forced if isinstance(forced, str) else rng.choices(list(weights), list(weights.values()))[0]
            customer_id = rng.choice(customers)
            draft = _Draft(domain, database.fork(), customer_id)
            try:
                want = _build(rng, draft, key)
            except LookupError as exc:
                reason = str(exc)
                continue
            email = draft.state["customers"][customer_id]["email"]
            instruction = (
                f"You are a customer of the help desk; your email is {email}. {want} "
                "If the agent asks you to confirm, say yes."
            )
            return Task(
                id=f"{domain.name}-templated-{seed}-{index}",
                domain=domain.name,
                user_id=customer_id,
                instruction=instruction,
                actions=draft.actions,
                outputs=draft.outputs,
                scenario=key,
                metadata={
                    "generation_method": "templated",
                    "seed": seed,
                    "index": index,
                    "iteration": iteration,
                },
            )
        raise RuntimeError(f"could not sample task {index} (seed {seed}): {reason}")
