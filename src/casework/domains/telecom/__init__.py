"""The telecom domain: a dual-control world (τ³-bench compatible) where the agent works on the
account and the user works on their own phone.

One :class:`~casework.domains.state.Database` holds both sides (agent tables ``plans``,
``devices``, ``lines``, ``customers``, ``bills``; user table ``user`` with the ``device`` and
``surroundings`` records), so a fork, its canonical hash and its diff cover the account and the
phone together.

What the coordinator wires into the domain contract (module attributes):

* :data:`TELECOM` - the :class:`Domain` (agent toolbox, policy, loaders, default database);
* :data:`USER_TOOLS` - the user's :class:`Toolbox` (acts on the phone);
* :data:`POLICY_SOLO` - the policy for solo mode (the agent gets both toolboxes);
* :data:`ASSERTIONS` - ``name -> (side, function)``, each ``function(state, **arguments) -> Check``;
  :func:`evaluate_assertion` evaluates a τ³ ``env_assertions`` entry;
* :func:`apply_initial_state` - applies a τ³ task's ``initial_state`` to a fork;
* :func:`run_action` - a golden action on its requestor's side; :func:`replay_task` - a whole task;
* :data:`USER_ENV_FUNCTIONS`, :data:`AGENT_ENV_FUNCTIONS` - the setup functions tasks may name.
"""

from __future__ import annotations

from pathlib import Path

from casework.domains.domain import Domain
from casework.domains.telecom.data import default_telecom_database, generate_telecom, load_telecom
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
    evaluate_assertion,
    evaluate_assertions,
    replay_task,
    run_action,
    run_env_function,
    task_state,
    toolbox_for,
)
from casework.domains.telecom.models import AGENT_TABLES, TABLES, USER_TABLE

_HERE = Path(__file__).parent
POLICY = (_HERE / "policy.md").read_text(encoding="utf-8")
POLICY_SOLO = (_HERE / "policy_solo.md").read_text(encoding="utf-8")

TELECOM = Domain(
    name="telecom",
    tables=TABLES,
    toolbox=AGENT_TOOLS,
    policy=POLICY,
    default_data=default_telecom_database,
    load_data=load_telecom,
)

__all__ = [
    "AGENT_ASSERTIONS",
    "AGENT_ENV_FUNCTIONS",
    "AGENT_TABLES",
    "AGENT_TOOLS",
    "ASSERTIONS",
    "POLICY",
    "POLICY_SOLO",
    "TABLES",
    "TELECOM",
    "USER_ASSERTIONS",
    "USER_ENV_FUNCTIONS",
    "USER_TABLE",
    "USER_TOOLS",
    "AssertionOutcome",
    "Check",
    "Replay",
    "apply_initial_state",
    "evaluate_assertion",
    "evaluate_assertions",
    "generate_telecom",
    "load_telecom",
    "replay_task",
    "run_action",
    "run_env_function",
    "task_state",
    "toolbox_for",
]
