"""The telecom domain: a dual-control world (τ³-bench compatible) where the agent works on the
account and the user works on their own phone.

One :class:`~casework.domains.state.Database` holds both sides (agent tables ``plans``,
``devices``, ``lines``, ``customers``, ``bills``; user table ``user`` with the ``device`` and
``surroundings`` records), so a fork, its canonical hash and its diff cover the account and the
phone together.

:data:`TELECOM` fills the domain contract: agent toolbox, policies (``default`` and ``solo``, our
own paraphrases of τ³'s), loaders, the seeded default database, the user model (customers,
identified by phone number, customer id, or full name + date of birth), the user's toolbox and
table, environment assertions by name and ``apply_initial_state``. Module attributes for wiring:

* :data:`USER_TOOLS` - the user's :class:`Toolbox` (acts on the phone); :func:`toolbox_for` a side;
* :data:`ASSERTIONS` - ``name -> (side, function)``, each ``function(state, **arguments)`` returning
  a :class:`Check` ``(passed, reason)``; :func:`evaluate_assertion` evaluates a τ³ ``env_assertions``
  entry (``env_type``, ``assert_value``);
* :func:`apply_initial_state` - applies a τ³ task's ``initial_state`` to a fork;
* :func:`check_task` - a τ³ task's references (functions, tools, arguments, assertions), unrun;
* :func:`run_action` - a golden action on its requestor's side; :func:`replay_task` - a whole task;
* :data:`USER_ENV_FUNCTIONS`, :data:`AGENT_ENV_FUNCTIONS` - the setup functions tasks may name.
"""

from __future__ import annotations

from pathlib import Path

from casework.domains.domain import ArgumentRules, Domain, Identity, UserFacts, UserModel
from casework.domains.state import Database, State
from casework.domains.telecom import safety as _safety
from casework.domains.telecom.data import (
    default_telecom_database,
    generate_telecom,
    load_telecom,
    write_telecom,
)
from casework.domains.telecom.env import (
    AGENT_ASSERTIONS,
    AGENT_ENV_FUNCTIONS,
    AGENT_TOOLS,
    ASSERTIONS,
    USER_ASSERTIONS,
    USER_ENV_FUNCTIONS,
    USER_TOOLS,
    AssertionOutcome,
    Check,
    Replay,
    apply_initial_state,
    check_task,
    evaluate_assertion,
    evaluate_assertions,
    replay_task,
    run_action,
    run_env_function,
    task_state,
    toolbox_for,
)
from casework.domains.telecom.grounding import ground_action
from casework.domains.telecom.models import AGENT_TABLES, TABLES, USER_TABLE
from casework.domains.telecom.scenarios import TelecomScenarios

_HERE = Path(__file__).parent
POLICY = (_HERE / "policy.md").read_text(encoding="utf-8")
POLICY_SOLO = (_HERE / "policy_solo.md").read_text(encoding="utf-8")
TRANSFER_TOOL = "transfer_to_human_agents"

#: identification tool -> the fields the user states for it
IDENTIFICATION = {
    "get_customer_by_phone": ("phone_number",),
    "get_customer_by_id": ("customer_id",),
    "get_customer_by_name": ("full_name", "dob"),
}
_ASKS_PHONE = r"\b(phone|mobile|cell)\b.*\bnumber\b|\bnumber\b.*\b(phone|mobile|line)\b"
_ASKS_NAME_DOB = r"\b(date of birth|birth ?date|dob|born)\b"


def user_facts(state: State, customer_id: str | None) -> UserFacts:
    """What a telecom customer can tell the agent: their phone number, or full name + date of birth."""
    record = state["customers"].get(customer_id) if customer_id is not None else None
    if not record:
        return UserFacts(user_id=customer_id)
    phone, name, dob = record["phone_number"], record["full_name"], record["date_of_birth"]
    identities = [
        Identity(
            tool="get_customer_by_phone",
            values={"phone_number": phone},
            text=f"My phone number is {phone}.",
            asks=_ASKS_PHONE,
        ),
        Identity(
            tool="get_customer_by_name",
            values={"full_name": name, "dob": dob},
            text=f"My name is {name} and my date of birth is {dob}.",
            asks=_ASKS_NAME_DOB,
        ),
    ]
    return UserFacts(user_id=customer_id, identities=identities, details={"name": name, "phone": phone})


def generate_data(seed: int, **sizes: int) -> Database:
    return Database(generate_telecom(seed=seed, **sizes))


TELECOM = Domain(
    name="telecom",
    description=(
        "A mobile carrier with dual control (τ³ telecom): the agent works on customers, lines, plans "
        "and bills; the user works on their own phone."
    ),
    tables=TABLES,
    toolbox=AGENT_TOOLS,
    policy=POLICY,
    policies={"solo": POLICY_SOLO},
    default_data=default_telecom_database,
    load_data=load_telecom,
    grounding=ground_action,
    users=UserModel(
        table="customers",
        identification=IDENTIFICATION,
        profile_tool="get_customer_by_id",
        owned_ids={"bill_id": "bills"},
        owner_field="customer_id",
        facts=user_facts,
        role="a customer of a mobile phone carrier",
    ),
    arguments=ArgumentRules(
        case_insensitive=frozenset({"full_name"}),
        free_text={TRANSFER_TOOL: frozenset({"summary"}), "suspend_line": frozenset({"reason"})},
        transfer_tool=TRANSFER_TOOL,
    ),
    generate_data=generate_data,
    data_sizes={"customers": 40},
    write_data=write_telecom,
    user_toolbox=USER_TOOLS,
    user_tables=(USER_TABLE,),
    env_assertions={name: function for name, (_side, function) in ASSERTIONS.items()},
    apply_initial_state=apply_initial_state,
    sample_tasks=_HERE / "sample_tasks.json",
    scenarios=TelecomScenarios(),
    safety=_safety.SAFETY,
)

__all__ = [
    "AGENT_ASSERTIONS",
    "AGENT_ENV_FUNCTIONS",
    "AGENT_TABLES",
    "AGENT_TOOLS",
    "ASSERTIONS",
    "IDENTIFICATION",
    "POLICY",
    "POLICY_SOLO",
    "TABLES",
    "TELECOM",
    "TRANSFER_TOOL",
    "USER_ASSERTIONS",
    "USER_ENV_FUNCTIONS",
    "USER_TABLE",
    "USER_TOOLS",
    "AssertionOutcome",
    "Check",
    "Replay",
    "apply_initial_state",
    "check_task",
    "evaluate_assertion",
    "evaluate_assertions",
    "generate_telecom",
    "load_telecom",
    "write_telecom",
    "replay_task",
    "run_action",
    "run_env_function",
    "task_state",
    "toolbox_for",
    "user_facts",
]
