"""Impossible tasks are solved on purpose: a templated request the policy forbids needs a grounded
refusal (or the transfer), the oracle gives it, the noop agent does not, validation and the audit
check it, and ``--refusals state-only`` keeps the τ-bench v1 tasks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.pipeline import merge_tasks
from casework.generate.templated import build_templated_task
from casework.runs.runner import RunConfig, Runner
from casework.tasks import save_tasks
from casework.tasks.refusal import REFUSALS_KEY, Refusal, ground, oracle_statements, refusals
from casework.validation.audit import audit_tasks
from casework.validation.replay import validate_task

#: (domain, scenario that refuses, scenario that hands over)
NO_CHANGE = [("retail", "policy_refusal", "human_transfer"), ("airline", "cancel_refused", "transfer")]


def _task(name: str, key: str, index: int = 0, mode: str = "grounded"):
    domain = get_domain(name)
    return domain, build_templated_task(domain, domain.database(), index, seed=1, scenario=key, refusals=mode)


@pytest.mark.parametrize(("name", "refuse", "transfer"), NO_CHANGE)
def test_refusal_is_grounded_by_default_and_state_only_on_request(name, refuse, transfer):
    domain, task = _task(name, refuse)
    found = refusals(task.metadata)
    assert len(found) == 1 and found[0].entity in task.instruction
    assert [b.value for b in task.reward_basis] == ["DB", "COMMUNICATE", "NL_ASSERTION"]
    assert task.nl_assertions == [found[0].assertion()]
    assert task.nl_assertions[0].startswith("The agent refuses to ") and "says why" in task.nl_assertions[0]
    assert found[0].entity in task.nl_assertions[0] and found[0].rule.rstrip(".") in task.nl_assertions[0]
    _, old = _task(name, refuse, mode="state-only")
    assert old.reward_basis is None and old.nl_assertions is None and old.actions == task.actions
    _, handover = _task(name, transfer)
    assert [b.value for b in handover.reward_basis] == ["DB", "COMMUNICATE", "ACTION"]
    last = handover.actions[-1]
    assert last.name == domain.arguments.transfer_tool and last.compare_args == []
    assert handover.nl_assertions is None
    _, old_handover = _task(name, transfer, mode="state-only")
    assert old_handover.reward_basis is None and old_handover.actions[-1].compare_args is None


def test_the_rule_comes_from_the_domain():
    """Each refusal names the rule it breaks and the fact that breaks it (the record's own status)."""
    phrases = {
        "cancel_not_pending": "only pending orders can be cancelled",
        "return_not_delivered": "only delivered orders can be returned",
        "modify_twice": "can be changed only once",
        "refund_to_other_method": "original payment method",
    }
    domain = get_domain("retail")
    seen = set()
    for i in range(16):
        _, task = _task("retail", "policy_refusal", i)
        (kind,) = task.metadata["variants"]
        refusal = refusals(task.metadata)[0]
        assert phrases[kind] in refusal.rule, (kind, refusal.rule)
        if kind in ("cancel_not_pending", "return_not_delivered"):
            status = domain.database().tables["orders"][refusal.entity]["status"]
            assert refusal.rule.endswith(f"is {status}")
        seen.add(kind)
    assert len(seen) >= 3
    _, airline = _task("airline", "cancel_refused", 3)
    assert "within 24 hours of booking" in refusals(airline.metadata)[0].rule
    with pytest.raises(ValueError, match="--refusals 'loose'"):
        _task("retail", "policy_refusal", mode="loose")


@pytest.mark.parametrize(("name", "refuse", "transfer"), NO_CHANGE)
def test_validation_accepts_grounded_refusals_and_flags_broken_ones(name, refuse, transfer):
    domain, task = _task(name, refuse)
    db = domain.database()
    result = validate_task(domain, db, task)
    assert result.valid, [p.line() for p in result.problems]
    assert result.stage_results()["refusal"] and result.replay.state.same_as(db.fork())
    entity = refusals(task.metadata)[0].entity
    vague = task.model_copy(update={"nl_assertions": ["The agent refuses politely."]})
    problems = [p for p in validate_task(domain, db, vague).problems if p.stage == "refusal"]
    assert [p.message for p in problems] == [f"no NL assertion states the refusal about {entity}"]
    unbased = task.model_copy(update={"reward_basis": task.reward_basis[:2]})
    assert any("no NL_ASSERTION" in p.message for p in validate_task(domain, db, unbased).problems)
    bad = task.model_copy(update={"metadata": {**task.metadata, REFUSALS_KEY: [{"request": "x"}]}})
    assert any(
        p.stage == "refusal" and "metadata.refusals" in p.message
        for p in validate_task(domain, db, bad).problems
    )


def test_a_refusal_task_that_changes_the_database_is_flagged():
    domain, task = _task("retail", "policy_refusal")
    _, change = _task("retail", "order_cancellation")
    wrong = task.model_copy(update={"actions": change.actions, "user_id": change.user_id})
    problems = [
        p.message for p in validate_task(domain, domain.database(), wrong).problems if p.stage == "refusal"
    ]
    assert "the task only refuses, but its golden actions change the database" in problems


@pytest.mark.parametrize(("name", "refuse", "transfer"), NO_CHANGE)
def test_audit_no_longer_flags_grounded_tasks_but_flags_state_only(name, refuse, transfer):
    domain = get_domain(name)
    db = domain.database()
    grounded = [_task(name, k, i)[1] for k in (refuse, transfer) for i in range(2)]
    old = [_task(name, k, i, "state-only")[1] for k in (refuse, transfer) for i in range(2)]
    assert audit_tasks(domain, db, grounded).counts()["do_nothing_passes"] == 0
    report = audit_tasks(domain, db, old)
    assert report.counts()["do_nothing_passes"] == 4
    assert all("asks for no evidence" in t.do_nothing_reason for t in report.tasks)


def test_audit_checks_env_assertions_on_the_untouched_state():
    """A dual-control task whose golden actions are the user's (the agent database unchanged) is not
    passed by doing nothing: its environment assertions fail on the initial state."""
    domain = get_domain("telecom")
    db = domain.database()
    tasks = [build_templated_task(domain, db, i, seed=1) for i in range(4)]
    report = audit_tasks(domain, db, tasks)
    assert report.counts()["do_nothing_passes"] == 0
    assert all(
        "environment assertion" in t.do_nothing_reason
        for t in report.tasks
        if "unchanged" in t.do_nothing_reason
    )


def test_merge_keeps_the_evidence_of_both_requests():
    domain = get_domain("retail")
    db = domain.database()
    refusal = build_templated_task(domain, db, 0, seed=1, scenario="policy_refusal")
    other = next(
        t
        for i in range(40)
        if (t := build_templated_task(domain, db, i, seed=1, scenario="order_inquiry")).user_id
        == refusal.user_id
        or i == 39
    )
    merged = merge_tasks(refusal, other, domain)
    assert merged.metadata[REFUSALS_KEY] == refusal.metadata[REFUSALS_KEY]
    assert merged.nl_assertions == refusal.nl_assertions and "NL_ASSERTION" in merged.reward_basis
    plain = merge_tasks(other, other, domain)
    assert plain.reward_basis is None and plain.nl_assertions is None


def test_oracle_statements_cover_refusals_and_safety_rules():
    _, task = _task("retail", "policy_refusal")
    refusal = refusals(task.metadata)[0]
    assert oracle_statements(task) == [refusal.statement()]
    assert refusal.entity in refusal.statement() and "policy" in refusal.statement()
    state_only = ground(
        task.model_copy(update={"reward_basis": None, "nl_assertions": None}), None, "state-only"
    )
    assert state_only.reward_basis is None
    assert (
        Refusal(request="a", entity="b", rule="c.").assertion() == "The agent refuses to a and says why: c."
    )


@pytest.mark.parametrize(("name", "refuse", "transfer"), NO_CHANGE)
def test_oracle_passes_and_noop_fails_every_no_change_task(
    name, refuse, transfer, tmp_path: Path, conversation_judge
):
    tasks = [_task(name, k, i)[1] for k in (refuse, transfer) for i in range(2)]
    tasks = [t.model_copy(update={"id": f"{t.id}-{j}"}) for j, t in enumerate(tasks)]
    path = tmp_path / "tasks.json"
    save_tasks(tasks, path)
    rewards = {}
    for agent in ("oracle", "noop"):
        out = tmp_path / agent
        config = RunConfig(tasks=path, out=out, agent=agent, domain=name)
        asyncio.run(Runner(config, judge_llm=conversation_judge()).run())
        records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        rewards[agent] = {r["task_id"]: r for r in records}
    for task in tasks:
        oracle, noop = rewards["oracle"][task.id], rewards["noop"][task.id]
        assert oracle["reward"] == 1.0, (task.id, oracle["components"])
        assert noop["reward"] == 0.0 and noop["components"]["DB"]["reward"] == 1.0  # nothing changed...
        failed = "NL_ASSERTION" if task.nl_assertions else "ACTION"
        assert noop["components"][failed]["reward"] == 0.0  # ...but no refusal said, no transfer made


def test_runner_without_judge_names_the_option(tmp_path: Path):
    _, task = _task("retail", "policy_refusal")
    path = tmp_path / "tasks.json"
    save_tasks([task], path)
    with pytest.raises(ValueError, match="no judge is configured: pass --judge-model"):
        Runner(RunConfig(tasks=path, out=tmp_path / "run", agent="oracle"))


def test_cli_generate_refusals_option(tmp_path: Path):
    from typer.testing import CliRunner

    from casework.cli import app
    from casework.tasks import load_tasks

    cli = CliRunner()
    out = tmp_path / "t.json"
    args = ["generate", "-n", "3", "--scenarios", "policy_refusal", "--out"]
    result = cli.invoke(app, [*args, str(out)])
    assert result.exit_code == 0, result.output
    assert all(t.nl_assertions and t.metadata.get(REFUSALS_KEY) for t in load_tasks(out))
    old = tmp_path / "old.json"
    result = cli.invoke(app, [*args, str(old), "--refusals", "state-only"])
    assert result.exit_code == 0, result.output
    assert all(t.reward_basis is None and t.nl_assertions is None for t in load_tasks(old))
    bad = cli.invoke(app, [*args, str(tmp_path / "x.json"), "--refusals", "maybe"])
    assert bad.exit_code == 2 and "--refusals 'maybe': expected one of grounded, state-only" in bad.output
