"""The airline domain: flights, users and reservations; tau-bench v1 and τ³ tool profiles; an agent policy.

Tool profiles (see :mod:`casework.domains.airline.tools`): ``tau-bench-v1`` (the default, the
domain's ``toolbox``), ``tau3`` and ``tau3-exact``, in :data:`AIRLINE_PROFILES`.
"""

from __future__ import annotations

from pathlib import Path

from casework.domains.airline.data import default_airline_database, load_airline
from casework.domains.airline.grounding import ground_action
from casework.domains.airline.tools import TAU3, TAU3_EXACT, V1, make_tools
from casework.domains.domain import Domain
from casework.domains.tools import Toolbox

POLICY = (Path(__file__).parent / "policy.md").read_text(encoding="utf-8")
DEFAULT_PROFILE = "tau-bench-v1"
AIRLINE_PROFILES: dict[str, Toolbox] = {p.name: Toolbox(make_tools(p)) for p in (V1, TAU3, TAU3_EXACT)}

AIRLINE = Domain(
    name="airline",
    tables=("flights", "reservations", "users"),
    toolbox=AIRLINE_PROFILES[DEFAULT_PROFILE],
    policy=POLICY,
    default_data=default_airline_database,
    load_data=load_airline,
    grounding=ground_action,
)


def airline_toolbox(profile: str = DEFAULT_PROFILE) -> Toolbox:
    """The toolbox of a profile by name; a clear error names the profiles that exist."""
    try:
        return AIRLINE_PROFILES[profile]
    except KeyError:
        raise ValueError(
            f"unknown airline tool profile {profile!r}; available: {', '.join(AIRLINE_PROFILES)}"
        ) from None


__all__ = ["AIRLINE", "AIRLINE_PROFILES", "DEFAULT_PROFILE", "POLICY", "airline_toolbox"]
