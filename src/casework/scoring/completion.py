"""Partial credit for long-horizon tasks: the completion ratio.

A multi-intent templated task records which golden actions belong to which request
(``metadata["intents"]``: ``{"key", "actions": [start, end), "outputs": [indices]}``, see
:mod:`casework.generate.templated`). Each request (sub-goal) is graded by replaying its golden slice:

- the records the slice changes (replaying the golden actions in order, the difference the slice
  makes) must hold, in the agent's final state, the values they hold in the golden final state;
- the slice's expected outputs must appear in an agent message (the tau-bench output rule);
- a slice that changes nothing and expects no output (a pure lookup) counts as achieved when the
  agent called every tool of the slice.

The completion ratio is the share of achieved sub-goals, reported next to the 0/1 reward (never
folded into it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from casework.domains import State
from casework.scoring.reward import outputs_found
from casework.tasks.model import Action, Task


def intent_slices(task: Task) -> list[dict[str, Any]]:
    """The task's per-intent slices (empty when the task records none)."""
    intents = task.metadata.get("intents")
    return list(intents) if isinstance(intents, list) else []


def completion(
    task: Task,
    golden_start: State,
    run_action: Callable[[State, Action], Any],
    agent_state: State,
    agent_messages: Sequence[str | None],
    agent_tools: Sequence[str],
) -> dict[str, Any] | None:
    """``{"ratio", "achieved", "total", "intents": [{key, achieved, missing}]}`` or None (no slices).

    ``golden_start`` is a fresh state for the golden replay (mutated); ``run_action`` runs one golden
    action on a state; ``agent_state`` is the state the agent left."""
    slices = intent_slices(task)
    if not slices:
        return None
    changed: list[set[tuple[str, str]]] = []
    state = golden_start
    for part in slices:
        start, end = part["actions"]
        before = state.fork()
        for action in task.actions[start:end]:
            run_action(state, action)
        changed.append({(c.table, c.key) for c in before.diff(state)})
    called = set(agent_tools)
    out = []
    for part, keys in zip(slices, changed, strict=True):
        start, end = part["actions"]
        missing: list[str] = []
        for table, key in sorted(keys):
            want = state[table].get(key)
            got = agent_state[table].get(key)
            if want != got:
                missing.append(f"{table}[{key}] differs")
        expected = [task.outputs[i] for i in part.get("outputs", []) if i < len(task.outputs)]
        for output, found in zip(expected, outputs_found(expected, agent_messages), strict=True):
            if not found:
                missing.append(f"output {output!r} not said")
        if not keys and not expected:
            missing.extend(f"{a.name} not called" for a in task.actions[start:end] if a.name not in called)
        out.append({"key": part.get("key"), "achieved": not missing, "missing": missing})
    achieved = sum(o["achieved"] for o in out)
    return {"ratio": achieved / len(out), "achieved": achieved, "total": len(out), "intents": out}


def completion_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Mean completion ratio over simulations of long-horizon tasks, next to their success rate."""
    rows = [r for r in rows if r.get("completion")]
    if not rows:
        return None
    ratios = [float(r["completion"]["ratio"]) for r in rows]
    return {
        "simulations": len(rows),
        "mean_completion_ratio": sum(ratios) / len(ratios),
        "success_rate": sum(bool(r.get("success")) for r in rows) / len(rows),
        "full_completion_rate": sum(x == 1.0 for x in ratios) / len(ratios),
    }
