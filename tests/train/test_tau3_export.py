"""`casework export --format tau3`: runs as τ³-bench (tau2-bench) results files, checked field by field
against τ³'s data model (``Results``, ``Info``, ``SimulationRun``, ``RewardInfo``, messages): the field
names and types τ³'s pydantic models require, the tool-call / tool-result pairing its replay
(``Environment.set_state``) needs, and values traced back to the run's own records."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.runs.runner import RunConfig, Runner
from casework.tasks import load_tasks
from casework.train.export import ExportError, export_runs
from casework.train.tau3_export import TAU3_TERMINATIONS, Tau3ExportError

from .conftest import lines

# τ³'s TerminationReason values
TAU3_REASONS = {
    "user_stop",
    "agent_stop",
    "max_steps",
    "timeout",
    "too_many_errors",
    "agent_error",
    "user_error",
    "infrastructure_error",
    "context_window_exceeded",
    "unexpected_error",
}
SIMULATION_FIELDS = {
    "id": str,
    "task_id": str,
    "timestamp": str,
    "start_time": str,
    "end_time": str,
    "duration": float,
    "termination_reason": str,
    "reward_info": dict,
    "messages": list,
    "trial": int,
    "mode": str,
}
REWARD_INFO_FIELDS = (
    "reward",
    "db_check",
    "env_assertions",
    "action_checks",
    "nl_assertions",
    "communicate_checks",
    "reward_basis",
    "reward_breakdown",
    "info",
)


def test_every_casework_termination_has_its_tau3_reason():
    from casework.sim.types import Termination

    for reason in Termination:
        mapped = TAU3_TERMINATIONS[reason.value]
        assert mapped in TAU3_REASONS
        # the same reason where τ³ has it; a transfer or out-of-scope ends through the user
        assert mapped == (reason.value if reason.value in TAU3_REASONS else "user_stop")


def _export(run_dirs: list[Path], out: Path, **options) -> dict:
    export_runs(run_dirs, out, fmt="tau3", **options)
    return json.loads((out / "results.json").read_text())


def _check_messages(messages: list[dict]) -> None:
    """What τ³'s message models and its replay require of a conversation."""
    assert [m["turn_idx"] for m in messages] == list(range(len(messages)))
    assert all(m["role"] in ("user", "assistant", "tool") for m in messages)  # no system message
    i = 0
    while i < len(messages):
        m = messages[i]
        if m["role"] == "tool":
            raise AssertionError(f"tool message {i} does not follow a tool call")
        assert set(m) >= {"role", "content", "tool_calls", "turn_idx"}
        calls = m["tool_calls"]
        assert calls is None or (isinstance(calls, list) and calls)  # τ³: None, never an empty list
        for call in calls or []:
            assert set(call) == {"id", "name", "arguments", "requestor"}
            assert isinstance(call["arguments"], dict) and call["requestor"] == m["role"]
            i += 1
            result = messages[i]
            assert result["role"] == "tool" and result["id"] == call["id"]
            assert result["requestor"] == m["role"] and isinstance(result["error"], bool)
            assert isinstance(result["content"], str)
        if calls is None:
            assert isinstance(m["content"], str)
        i += 1


def test_an_oracle_run_as_tau3_results_field_by_field(oracle_run: Path, oracle_tasks, tmp_path: Path):
    results = _export([oracle_run], tmp_path / "t3")
    assert set(results) == {"timestamp", "info", "tasks", "simulations"}
    manifest = json.loads((oracle_run / "manifest.json").read_text())
    assert results["timestamp"] == manifest["created_at"]

    info = results["info"]
    assert info["git_commit"] == manifest["git_commit"]
    assert (info["num_trials"], info["max_steps"], info["max_errors"]) == (2, 30, 10)
    assert info["agent_info"] == {"implementation": "casework-oracle", "llm": None, "llm_args": None}
    assert info["user_info"]["implementation"] == "casework-scripted"
    environment = info["environment_info"]
    assert environment["domain_name"] == "retail" and environment["tool_defs"] is None
    assert environment["policy"].startswith("# Retail customer-service policy")
    assert info["seed"] == manifest["seed"]

    # the tasks are τ³ task records of the run's task file
    assert sorted(t["id"] for t in results["tasks"]) == sorted(t.id for t in oracle_tasks)
    by_id = {t.id: t for t in oracle_tasks}
    for record in results["tasks"]:
        assert set(record) >= {"id", "user_scenario", "evaluation_criteria"}
        want = [(a.name, a.arguments) for a in by_id[record["id"]].actions]
        got = [(a["name"], a["arguments"]) for a in record["evaluation_criteria"]["actions"]]
        assert got == want

    source = {(r["task_id"], r["trial"]): r for r in lines(oracle_run)}
    simulations = results["simulations"]
    assert len(simulations) == len(source) == 12
    assert len({s["id"] for s in simulations}) == 12
    for sim in simulations:
        for name, kind in SIMULATION_FIELDS.items():
            assert isinstance(sim[name], kind), name
        uuid.UUID(sim["id"])
        line = source[(sim["task_id"], sim["trial"])]
        assert sim["termination_reason"] in TAU3_REASONS
        assert sim["termination_reason"] == TAU3_TERMINATIONS[line["termination_reason"]]
        assert sim["info"]["casework"]["termination_reason"] == line["termination_reason"]
        assert sim["duration"] == pytest.approx(line["execution_time"])
        assert sim["end_time"] >= sim["start_time"] and sim["mode"] == "half_duplex"
        assert sim["seed"] == manifest["seed"] and sim["agent_cost"] is None and sim["user_cost"] is None

        reward = sim["reward_info"]
        assert set(reward) == set(REWARD_INFO_FIELDS)
        assert reward["reward"] == line["reward"] == 1.0
        # tau-bench's reward when the task names no basis: the database, and the outputs if any
        basis = line.get("reward_basis") or (["DB", "COMMUNICATE"] if line["expected_outputs"] else ["DB"])
        assert reward["reward_basis"] == basis
        assert reward["db_check"] == {"db_match": True, "db_reward": 1.0}
        assert [c["info"] for c in reward["communicate_checks"]] == line["expected_outputs"]
        assert all(
            c["met"] is True and isinstance(c["justification"], str) for c in reward["communicate_checks"]
        )
        assert reward["reward_breakdown"] == {b: 1.0 for b in basis}

        messages = sim["messages"]
        _check_messages(messages)
        conversation = [m for m in line["messages"] if m["role"] != "system"]
        assert [m["role"] for m in messages] == [m["role"] for m in conversation]
        assert [m["content"] for m in messages] == [m.get("content") for m in conversation]
        calls = [c for m in messages if m["role"] == "assistant" for c in m["tool_calls"] or []]
        assert [(c["id"], c["name"], c["arguments"]) for c in calls] == [
            (c["id"], c["name"], c["arguments"]) for c in line["tool_calls"]
        ]
        # message timestamps: the run's start plus each message's recorded time
        assert all(m["timestamp"] >= sim["start_time"] for m in messages)


def test_failed_trajectories_are_kept_and_graded_as_recorded(
    oracle_run: Path, tmp_path: Path, conversation_judge
):
    """A τ³ results file is an evaluation record: failures stay (no reward filter by default)."""
    config = RunConfig(
        tasks=oracle_run.parent / "tasks.json", out=tmp_path / "noop", agent="noop", concurrency=2
    )
    asyncio.run(Runner(config, judge_llm=conversation_judge()).run())  # judges the grounded refusals
    source = {r["task_id"]: r for r in lines(tmp_path / "noop")}
    results = _export([tmp_path / "noop"], tmp_path / "t3")
    assert len(results["simulations"]) == len(source) == 6
    assert any(s["reward_info"]["reward"] == 0.0 for s in results["simulations"])
    for sim in results["simulations"]:
        line = source[sim["task_id"]]
        reward = sim["reward_info"]
        assert reward["reward"] == line["reward"]
        assert reward["db_check"]["db_match"] == (line["components"]["DB"]["reward"] == 1.0)
        found = line["components"]["COMMUNICATE"]["checks"]
        assert [c["met"] for c in reward["communicate_checks"]] == [c["met"] for c in found]
        _check_messages(sim["messages"])
    # --min-reward still filters when asked
    rewarded = [r for r in source.values() if r["reward"] >= 1.0]
    if rewarded:
        kept = _export([tmp_path / "noop"], tmp_path / "t3b", min_reward=1.0)["simulations"]
        assert sorted(s["task_id"] for s in kept) == sorted(r["task_id"] for r in rewarded)
    else:
        with pytest.raises(ExportError, match="nothing to export"):
            export_runs([tmp_path / "noop"], tmp_path / "t3b", fmt="tau3", min_reward=1.0)


def test_user_device_calls_become_user_tool_messages(tau3_dir: Path, tmp_path: Path):
    """Dual control (telecom): the user's own calls are a user message with tool_calls, then their
    results with requestor user, before the user's next text; ENV_ASSERTION checks carry over."""
    tasks = tau3_dir / "telecom" / "tasks_small.json"
    config = RunConfig(
        tasks=tasks,
        out=tmp_path / "run",
        domain="telecom",
        data=tau3_dir / "telecom",
        agent="oracle",
        task_ids=[t.id for t in load_tasks(tasks, domain="telecom")[:6]],
        concurrency=2,
    )
    asyncio.run(Runner(config).run())
    source = {r["task_id"]: r for r in lines(tmp_path / "run")}
    results = _export([tmp_path / "run"], tmp_path / "t3")
    assert results["info"]["environment_info"]["domain_name"] == "telecom"
    seen_user_calls = 0
    for sim in results["simulations"]:
        _check_messages(sim["messages"])
        line = source[sim["task_id"]]
        user_calls = [c for c in line["tool_calls"] if c["requestor"] == "user"]
        exported = [c for m in sim["messages"] if m["role"] == "user" for c in m["tool_calls"] or []]
        assert [(c["id"], c["name"], c["arguments"]) for c in exported] == [
            (c["id"], c["name"], c["arguments"]) for c in user_calls
        ]
        seen_user_calls += len(exported)
        env = line["components"].get("ENV_ASSERTION")
        if env is not None and env["checks"]:
            checks = sim["reward_info"]["env_assertions"]
            assert [c["met"] for c in checks] == [c["met"] for c in env["checks"]]
            assert all({"env_type", "func_name", "arguments"} <= set(c["env_assertion"]) for c in checks)
    assert seen_user_calls > 0


def test_tau3_export_mistakes_are_clear(oracle_run: Path, tmp_path: Path):
    with pytest.raises(ExportError, match="--format tau3 writes one results.json"):
        export_runs([oracle_run], tmp_path / "x", fmt="tau3", test_fraction=0.5)
    moved = tmp_path / "run"
    shutil.copytree(oracle_run, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["config"]["tasks"] = str(tmp_path / "gone.json")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Tau3ExportError, match=r"its task file .*gone\.json cannot be read"):
        export_runs([moved], tmp_path / "y", fmt="tau3")
    result = CliRunner().invoke(app, ["export", str(moved), "--format", "tau3", "--out", str(tmp_path / "z")])
    assert result.exit_code == 2 and "gone.json cannot be read" in result.output
    assert "Traceback" not in result.output


def test_runs_of_two_domains_are_refused(oracle_run: Path, tmp_path: Path):
    other = tmp_path / "other"
    shutil.copytree(oracle_run, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["config"]["domain"] = "airline"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Tau3ExportError, match="one domain's results file; these runs hold airline, retail"):
        export_runs([oracle_run, other], tmp_path / "x", fmt="tau3")


def test_cli_writes_results_json(oracle_run: Path, tmp_path: Path):
    out = tmp_path / "t3"
    result = CliRunner().invoke(app, ["export", str(oracle_run), "--format", "tau3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "tau3: train 12 examples" in result.output
    card = json.loads((out / "dataset_card.json").read_text())
    assert (
        card["format"] == "tau3"
        and card["min_reward"] == 0.0
        and card["files"] == {"results": "results.json"}
    )
    assert len(json.loads((out / "results.json").read_text())["simulations"]) == 12
