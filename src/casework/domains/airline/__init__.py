"""The airline domain: flights, users and reservations; tau-bench v1 and τ³ tool profiles; an agent policy.

Everything casework knows about the airline lives in this package and reaches the generic layers
through the :class:`~casework.domains.domain.Domain` contract below. Tool profiles (see
:mod:`casework.domains.airline.tools`): ``tau-bench-v1`` (the default), ``tau3`` and ``tau3-exact``;
select one with ``get_domain("airline", "tau3")`` or ``airline@tau3``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from casework.domains.airline import safety as _safety
from casework.domains.airline.data import default_airline_database, load_airline
from casework.domains.airline.grounding import ground_action
from casework.domains.airline.scenarios import AIRLINE_SCENARIOS
from casework.domains.airline.tools import TAU3, TAU3_EXACT, V1, make_tools
from casework.domains.domain import ArgumentRules, DataError, Domain, Identity, UserFacts, UserModel
from casework.domains.state import Database, State, copy_json
from casework.domains.tools import Toolbox

POLICY = (Path(__file__).parent / "policy.md").read_text(encoding="utf-8")
DEFAULT_PROFILE = "tau-bench-v1"
AIRLINE_PROFILES: dict[str, Toolbox] = {p.name: Toolbox(make_tools(p)) for p in (V1, TAU3, TAU3_EXACT)}
TRANSFER_TOOL = "transfer_to_human_agents"
_ASKS_USER_ID = r"\buser[ _-]?id\b|\buser name\b|\busername\b"


def airline_toolbox(profile: str = DEFAULT_PROFILE) -> Toolbox:
    """The toolbox of a profile by name; a clear error names the profiles that exist."""
    try:
        return AIRLINE_PROFILES[profile]
    except KeyError:
        raise ValueError(
            f"unknown airline tool profile {profile!r}; available: {', '.join(AIRLINE_PROFILES)}"
        ) from None


def user_facts(state: State, user_id: str | None) -> UserFacts:
    """What an airline customer can tell the agent: their user id (the policy asks for it), name, membership."""
    record = state["users"].get(user_id) if user_id is not None and "users" in state.table_names else None
    if not record:
        return UserFacts(user_id=user_id)
    name = record.get("name", {})
    identity = Identity(
        tool="get_user_details",
        values={"user_id": user_id},
        text=f"My user id is {user_id}.",
        asks=_ASKS_USER_ID,
    )
    details = {
        "name": f"{name.get('first_name', '')} {name.get('last_name', '')}".strip(),
        "email": record.get("email", ""),
        "dob": record.get("dob", ""),
        "membership": record.get("membership", ""),
    }
    return UserFacts(user_id=user_id, identities=[identity], details={k: v for k, v in details.items() if v})


def generate_data(seed: int, **sizes: int) -> Database:
    from casework.domains.airline.generator import generate_airline

    return Database(generate_airline(seed=seed, **sizes))


def write_data(database: Database, out_dir: Path) -> list[Path]:
    from casework.domains.airline.generator import write_airline

    return write_airline(database.to_dict(), out_dir)


def _merge(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy_json(value)


def apply_initial_state(state: State, initial_state: Mapping[str, Any]) -> None:
    """Apply a τ³ ``initial_state``: ``initialization_data.agent_data`` is merged into the tables
    (records deep-merged by id, new records added), then ``initialization_actions`` run as tool calls."""
    data = (initial_state.get("initialization_data") or {}).get("agent_data") or {}
    for table, records in data.items():
        if table not in state.table_names or not isinstance(records, Mapping):
            raise DataError(f"initial_state.initialization_data.agent_data: unknown table {table!r}")
        for key, update in records.items():
            if key in state[table] and isinstance(update, Mapping):
                _merge(state[table].edit(key), update)
            else:
                state[table].put(key, copy_json(update))
    toolbox = AIRLINE_PROFILES[DEFAULT_PROFILE]
    for i, action in enumerate(initial_state.get("initialization_actions") or []):
        name = action.get("func_name") or action.get("name")
        observation = toolbox.call(state, name, action.get("arguments") or {})
        if observation.startswith("Error"):
            raise DataError(f"initial_state.initialization_actions[{i}] ({name}): {observation}")


def _policy_rules() -> Any:
    from casework.domains.airline.policy_rules import AirlinePolicy

    return AirlinePolicy(AIRLINE)


AIRLINE = Domain(
    name="airline",
    description="An airline: flights, users and reservations (tau-bench v1 / τ³ airline).",
    tables=("flights", "reservations", "users"),
    toolbox=AIRLINE_PROFILES[DEFAULT_PROFILE],
    policy=POLICY,
    default_data=default_airline_database,
    load_data=load_airline,
    grounding=ground_action,
    policies={"default": POLICY},
    profiles=AIRLINE_PROFILES,
    profile=DEFAULT_PROFILE,
    format_profiles={"tau2": "tau3", "tau-bench-v1": "tau-bench-v1"},
    exact_profiles={"tau3": "tau3-exact"},
    users=UserModel(
        table="users",
        identification={},  # the user states their user id; no lookup tool
        profile_tool="get_user_details",
        owned_ids={"reservation_id": "reservations"},
        owner_field="user_id",
        facts=user_facts,
        role="a customer of an airline",
    ),
    arguments=ArgumentRules(
        case_insensitive=frozenset({"first_name", "last_name"}),
        string_fields=frozenset({"date", "dob", "origin", "destination"}),
        free_text={TRANSFER_TOOL: frozenset({"summary"}), "think": frozenset({"thought"})},
        ignorable_tools=frozenset({"think", "calculate"}),
        transfer_tool=TRANSFER_TOOL,
    ),
    policy_rules=_policy_rules,
    generate_data=generate_data,
    data_sizes={"users": 300, "reservations": 1000, "flights": 200},
    write_data=write_data,
    apply_initial_state=apply_initial_state,
    scenarios=AIRLINE_SCENARIOS,
    safety=_safety.SAFETY,
    sample_tasks=Path(__file__).parent / "sample_tasks.json",
)

__all__ = [
    "AIRLINE",
    "AIRLINE_PROFILES",
    "DEFAULT_PROFILE",
    "POLICY",
    "TRANSFER_TOOL",
    "airline_toolbox",
    "apply_initial_state",
    "profile_divergence",
    "user_facts",
]


def profile_divergence(
    database: Database, actions: list[tuple[str, Mapping[str, Any]]], a: str = "tau3", b: str = "tau3-exact"
) -> list[int]:
    """Indices of the actions whose observation differs between profiles ``a`` and ``b`` when the actions
    are replayed on forks of ``database``, plus ``len(actions)`` when the final states hash differently.

    With the defaults it lists where a task's verdict depends on τ³'s defects (the one-stop next-day
    string, per-entry balance checks), for ``casework tasks validate`` to warn about.
    """
    first, second = database.fork(), database.fork()
    left, right = airline_toolbox(a), airline_toolbox(b)
    differ = [
        i
        for i, (name, arguments) in enumerate(actions)
        if left.call(first, name, dict(arguments)) != right.call(second, name, dict(arguments))
    ]
    if first.canonical_hash() != second.canonical_hash():
        differ.append(len(actions))
    return differ
