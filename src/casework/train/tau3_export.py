"""``casework export --format tau3``: runs as τ³-bench (tau2-bench) results files.

τ³'s ``Results`` file (what ``tau2 run`` saves and ``tau2 view`` / its metrics read) is one JSON
object: ``timestamp``, ``info`` (``git_commit``, ``num_trials``, ``max_steps``, ``max_errors``,
``user_info`` and ``agent_info`` (``implementation``, ``llm``, ``llm_args``), ``environment_info``
(``domain_name``, ``policy``, ``tool_defs``), ``seed``), ``tasks`` (τ³ task records) and
``simulations``: one ``SimulationRun`` per trajectory with ``id``, ``task_id``, ``timestamp``,
``start_time``, ``end_time``, ``duration``, ``termination_reason``, ``agent_cost``, ``user_cost``,
``reward_info`` and ``messages``, ``trial``, ``seed``, ``mode``.

Mapping from casework's records:

- ``messages``: the conversation without the system prompt (τ³ keeps the policy in
  ``environment_info``); assistant tool calls become ``{id, name, arguments (an object), requestor}``;
  tool results ``{id, role: tool, content, requestor, error}``; a user's calls on their own device
  (dual control) become a user message with ``tool_calls`` and their results, placed before the
  user's next text message; every message has its ``turn_idx``.
- ``termination_reason``: casework's ``transfer`` and ``out_of_scope`` end the conversation through
  the user (τ³'s user simulator stops on ``###TRANSFER###`` / ``###OUT-OF-SCOPE###``), so they are
  ``user_stop``; the casework reason is kept in ``info``.
- ``reward_info``: ``reward``, ``reward_basis``, ``db_check`` (``db_match``, ``db_reward``),
  ``action_checks``, ``communicate_checks``, ``nl_assertions``, ``env_assertions`` and
  ``reward_breakdown`` from the record's score components (schema 2); a schema-1 record gives the
  DB and COMMUNICATE parts of tau-bench's reward.
- times: casework records each simulation's duration, not its wall-clock start, so ``start_time``
  is the run's ``created_at`` (from its manifest) and ``end_time`` adds the duration.

Generic: nothing here knows a domain.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from casework.train.records import RunRecords, TrajectoryRecord

TAU3_TERMINATIONS = {
    "user_stop": "user_stop",
    "agent_stop": "agent_stop",
    "max_steps": "max_steps",
    "timeout": "timeout",
    "too_many_errors": "too_many_errors",
    "infrastructure_error": "infrastructure_error",
    "agent_error": "agent_error",
    "user_error": "user_error",
    "transfer": "user_stop",
    "out_of_scope": "user_stop",
}
CHECKED_BASES = ("DB", "ENV_ASSERTION", "COMMUNICATE", "ACTION", "NL_ASSERTION")


class Tau3ExportError(ValueError):
    """The runs cannot be written as one τ³ results file (mixed domains, unreadable task file)."""


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return {"__raw__": raw}
        return value if isinstance(value, dict) else {"__raw__": raw}
    return {}


def _side_calls(record: TrajectoryRecord, in_messages: set[str]) -> dict[int, list[dict[str, Any]]]:
    """The user's own device calls (not in any assistant message), by the agent step they followed."""
    by_step: dict[int, list[dict[str, Any]]] = {}
    for call in record.tool_calls:
        if call.get("requestor") == "user" and call.get("id") not in in_messages:
            by_step.setdefault(int(call.get("step") or 0), []).append(call)
    return by_step


def tau3_messages(record: TrajectoryRecord, times: list[str] | None = None) -> list[dict[str, Any]]:
    """The trajectory as τ³ messages (see the module docstring)."""
    errors = {c.get("id"): bool(c.get("error")) for c in record.tool_calls}
    in_messages = {
        tc.get("id")
        for m in record.messages
        if m.get("role") == "assistant"
        for tc in m.get("tool_calls") or []
    }
    pending = _side_calls(record, in_messages)
    out: list[dict[str, Any]] = []
    steps = 0

    def add(message: dict[str, Any], index: int | None) -> None:
        message["turn_idx"] = len(out)
        if times is not None and index is not None and index < len(times):
            message["timestamp"] = times[index]
        out.append(message)

    for index, m in enumerate(record.messages):
        role = m.get("role")
        if role == "system":
            continue
        if role == "assistant":
            steps += 1
            calls = [
                {
                    "id": tc.get("id", ""),
                    "name": (tc.get("function") or tc).get("name", ""),
                    "arguments": _arguments((tc.get("function") or tc).get("arguments")),
                    "requestor": "assistant",
                }
                for tc in m.get("tool_calls") or []
            ]
            add({"role": "assistant", "content": m.get("content"), "tool_calls": calls or None}, index)
        elif role == "tool":
            call_id = m.get("tool_call_id", "")
            add(
                {
                    "id": call_id,
                    "role": "tool",
                    "content": m.get("content"),
                    "requestor": "assistant",
                    "error": errors.get(call_id, False),
                },
                index,
            )
        elif role == "user":
            for step in sorted(s for s in pending if s <= steps):
                calls = pending.pop(step)
                add(
                    {
                        "role": "user",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": c.get("id", ""),
                                "name": c["name"],
                                "arguments": _arguments(c.get("arguments")),
                                "requestor": "user",
                            }
                            for c in calls
                        ],
                    },
                    None,
                )
                for c in calls:
                    add(
                        {
                            "id": c.get("id", ""),
                            "role": "tool",
                            "content": c.get("observation", ""),
                            "requestor": "user",
                            "error": bool(c.get("error")),
                        },
                        None,
                    )
            add({"role": "user", "content": m.get("content"), "tool_calls": None}, index)
    return out


def _component(components: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = components.get(name)
    return value if isinstance(value, dict) else None


def tau3_reward_info(line: dict[str, Any]) -> dict[str, Any]:
    """τ³'s ``RewardInfo`` of one result line."""
    components = line.get("components") or {}
    basis = line.get("reward_basis")
    info: dict[str, Any] = {
        "reward": float(line.get("reward") or 0.0),
        "reward_basis": basis,
        "db_check": None,
        "env_assertions": None,
        "action_checks": None,
        "nl_assertions": None,
        "communicate_checks": None,
        "reward_breakdown": None,
        "info": None,
    }
    breakdown: dict[str, float] = {}
    if (db := _component(components, "DB")) is not None and db.get("reward") is not None:
        info["db_check"] = {"db_match": db["reward"] == 1.0, "db_reward": float(db["reward"])}
    elif line.get("db_match") is not None:
        info["db_check"] = {"db_match": bool(line["db_match"]), "db_reward": float(bool(line["db_match"]))}
    if (action := _component(components, "ACTION")) is not None:
        info["action_checks"] = [
            {
                "action": {
                    "action_id": (c.get("subject") or {}).get("action_id") or "",
                    "requestor": (c.get("subject") or {}).get("requestor") or "assistant",
                    "name": (c.get("subject") or {}).get("name", ""),
                    "arguments": (c.get("subject") or {}).get("arguments") or {},
                    "info": (c.get("subject") or {}).get("info"),
                    "compare_args": (c.get("subject") or {}).get("compare_args"),
                },
                "action_match": bool(c.get("met")),
                "action_reward": 1.0 if c.get("met") else 0.0,
            }
            for c in action.get("checks") or []
        ]
    if (communicate := _component(components, "COMMUNICATE")) is not None:
        info["communicate_checks"] = [
            {
                "info": str(c.get("subject")),
                "met": bool(c.get("met")),
                "justification": c.get("justification", ""),
            }
            for c in communicate.get("checks") or []
        ]
    elif line.get("expected_outputs"):
        found = line.get("outputs_found") or []
        info["communicate_checks"] = [
            {"info": text, "met": bool(i < len(found) and found[i]), "justification": ""}
            for i, text in enumerate(line["expected_outputs"])
        ]
    if (nl := _component(components, "NL_ASSERTION")) is not None:
        info["nl_assertions"] = [
            {
                "nl_assertion": str(c.get("subject")),
                "met": bool(c.get("met")),
                "justification": c.get("justification", ""),
            }
            for c in nl.get("checks") or []
        ]
    if (env := _component(components, "ENV_ASSERTION")) is not None:
        info["env_assertions"] = [
            {
                "env_assertion": c.get("subject")
                if isinstance(c.get("subject"), dict)
                else {"message": str(c.get("subject"))},
                "met": bool(c.get("met")),
                "reward": 1.0 if c.get("met") else 0.0,
            }
            for c in env.get("checks") or []
        ]
    if basis is None:  # no basis named: tau-bench's reward (the database, and the outputs if any)
        basis = info["reward_basis"] = ["DB", "COMMUNICATE"] if line.get("expected_outputs") else ["DB"]
    for name in CHECKED_BASES:
        part = _component(components, name)
        if part is not None and part.get("reward") is not None and name in basis:
            breakdown[name] = float(part["reward"])
    if breakdown:
        info["reward_breakdown"] = breakdown
    return info


def _iso(value: str | None) -> datetime:
    try:
        return datetime.fromisoformat(value) if value else datetime.fromtimestamp(0)
    except ValueError:
        return datetime.fromtimestamp(0)


def _cost(line: dict[str, Any], role: str) -> float | None:
    costs = [c.get("cost_usd") for c in line.get("model_calls") or [] if c.get("role") == role]
    known = [c for c in costs if c is not None]
    return round(sum(known), 8) if known else None


def simulation_run(run: RunRecords, line: dict[str, Any], record: TrajectoryRecord) -> dict[str, Any]:
    """τ³'s ``SimulationRun`` of one result line of ``run``."""
    started = _iso(run.manifest.get("created_at"))
    duration = float(line.get("execution_time") or 0.0)
    times = [(started + timedelta(seconds=float(t))).isoformat() for t in line.get("message_times") or []]
    key = f"{run.run_dir.resolve()}|{record.task_id}|{record.trial}"
    reason = record.termination_reason or "agent_stop"
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        "task_id": record.task_id,
        "timestamp": started.isoformat(),
        "start_time": started.isoformat(),
        "end_time": (started + timedelta(seconds=duration)).isoformat(),
        "duration": duration,
        "termination_reason": TAU3_TERMINATIONS.get(reason, "agent_stop"),
        "agent_cost": _cost(line, "agent"),
        "user_cost": _cost(line, "user"),
        "reward_info": tau3_reward_info(line),
        "messages": tau3_messages(record, times if len(times) == len(line.get("messages") or []) else None),
        "trial": record.trial,
        "seed": run.manifest.get("seed"),
        "mode": "half_duplex",
        "info": {
            "casework": {
                "source_run": str(run.run_dir),
                "termination_reason": reason,
                "scenario": record.scenario,
                "shaped_reward": record.shaped_reward,
                "start_time_from": "the run manifest's created_at",
            }
        },
    }


def _participant(endpoint: dict[str, Any] | None, implementation: str) -> dict[str, Any]:
    endpoint = endpoint or {}
    args = {k: endpoint[k] for k in ("temperature", "max_tokens") if endpoint.get(k) is not None}
    return {"implementation": implementation, "llm": endpoint.get("model"), "llm_args": args or None}


def _raw_lines(run: RunRecords) -> dict[tuple[str, int], dict[str, Any]]:
    """The run's result lines by (task id, trial) (``load_run`` has already checked every one)."""
    lines: dict[tuple[str, int], dict[str, Any]] = {}
    with (run.run_dir / "results.jsonl").open(encoding="utf-8") as handle:
        for raw in handle:
            if raw.strip():
                line = json.loads(raw)
                lines[(str(line["task_id"]), int(line.get("trial") or 0))] = line
    return lines


def write_tau3_results(
    runs: list[RunRecords], selected: list[tuple[RunRecords, TrajectoryRecord]], path: Path
) -> Path:
    """Write the ``selected`` trajectories as one τ³ results file at ``path``."""
    raw = {id(run): _raw_lines(run) for run in runs}
    with_lines = [(run, raw[id(run)][(r.task_id, r.trial)], r) for run, r in selected]
    results = tau3_results(runs, with_lines)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def tau3_results(
    runs: list[RunRecords], selected: list[tuple[RunRecords, dict[str, Any], TrajectoryRecord]]
) -> dict[str, Any]:
    """One τ³ ``Results`` object for the ``selected`` lines (all of one domain)."""
    from casework.domains import get_domain
    from casework.tasks.formats import task_to_tau2
    from casework.tasks.splits import load_split_tasks

    domains = sorted({r.domain.split("@")[0] for r, _, _ in selected})
    if len(domains) != 1:
        raise Tau3ExportError(
            f"--format tau3 writes one domain's results file; these runs hold {', '.join(domains)} "
            "(export each domain's runs on its own)"
        )
    first = selected[0][0]
    domain = get_domain(first.domain)
    tasks: dict[str, Any] = {}
    for run in runs:
        path = run.config.get("tasks")
        if not path:
            continue
        try:
            loaded = load_split_tasks(Path(path), domain=run.domain, split=run.config.get("split"))
        except Exception as exc:  # noqa: BLE001 - any unreadable task file is one clear line
            raise Tau3ExportError(
                f"{run.run_dir}: its task file {path} cannot be read ({exc}); τ³ results embed the tasks"
            ) from None
        wanted = {r.task_id for r2, _, r in selected if r2 is run}
        for task in loaded:
            if task.id in wanted:
                tasks.setdefault(task.id, task_to_tau2(task))
    config = first.config
    policy = first.policy_text() or domain.policy
    return {
        "timestamp": first.manifest.get("created_at"),
        "info": {
            "git_commit": first.manifest.get("git_commit") or "",
            "num_trials": max(int(r.config.get("trials") or 1) for r in runs),
            "max_steps": int(config.get("max_steps") or 0),
            "max_errors": int(config.get("max_errors") or 0),
            "user_info": _participant(
                config.get("user_endpoint"), f"casework-{config.get('user') or 'scripted'}"
            ),
            "agent_info": _participant(
                config.get("agent_endpoint"), f"casework-{config.get('agent') or 'tool-calling'}"
            ),
            "environment_info": {"domain_name": domains[0], "policy": policy, "tool_defs": None},
            "seed": first.manifest.get("seed"),
        },
        "tasks": list(tasks.values()),
        "simulations": [simulation_run(run, line, record) for run, line, record in selected],
    }
