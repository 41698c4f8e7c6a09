"""`casework tasks audit` on τ³'s and tau-bench v1's train files: findings, order/profile dependence,
do-nothing passes (cross-checked against a real `--agent noop` run)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.tasks import load_tasks
from casework.validation.audit import audit_tasks, render_markdown


def _audit(tasks: Path, domain: str, data: Path):
    dom = get_domain(domain)
    return audit_tasks(dom, dom.load_data(data), load_tasks(tasks), source=str(tasks), data=str(data))


def _ids(report, flag: str) -> list[str]:
    return [t.task_id for t in report.tasks if getattr(t, flag)]


@pytest.fixture(scope="module")
def retail_tau3(tau3_dir: Path):
    return _audit(tau3_dir / "retail" / "tasks_train.json", "retail@tau3", tau3_dir / "retail" / "db.json")


def test_tau3_retail_audit(retail_tau3):
    counts = retail_tau3.counts()
    assert (counts["tasks"], counts["clean"], counts["with_problems"]) == (74, 55, 19)
    assert _ids(retail_tau3, "profile_dependent") == ["20", "21", "37"]
    assert _ids(retail_tau3, "order_dependent") == []  # tau3 gives each item its own variant
    assert _ids(retail_tau3, "do_nothing_passes") == ["10", "25", "50", "57"]
    by_id = {t.task_id: t for t in retail_tau3.tasks}
    # tasks reported upstream as broken: a wrong order id, a wrong email, an unaffordable exchange
    wrong_order = [f for f in by_id["46"].findings if f.stage == "execution"]
    assert [(f.action_index, f.observation) for f in wrong_order] == [
        (1, "Error: Order not found"),
        (2, "Error: Order not found"),
    ]
    assert by_id["35"].findings[0].action_name == "find_user_id_by_email"
    assert any(f.observation == "Error: User not found" for f in by_id["35"].findings)
    assert {f.stage for f in by_id["105"].findings} == {"policy", "execution"}
    markdown = render_markdown(retail_tau3)
    assert "- tasks: **74**; replay and validate cleanly: **55**; with problems: **19**" in markdown
    assert "### Task 46" in markdown and "observation: `Error: Order not found`" in markdown
    assert "### Task 6\n" not in markdown  # clean tasks get no section


def test_tau3_exact_audit_finds_the_item_order_dependence(tau3_dir: Path):
    report = _audit(
        tau3_dir / "retail" / "tasks_train.json", "retail@tau3-exact", tau3_dir / "retail" / "db.json"
    )
    assert _ids(report, "order_dependent") == ["20", "21", "37"]
    assert _ids(report, "profile_dependent") == ["20", "21", "37"]


def test_tau_bench_v1_retail_train_do_nothing_tasks(tau_retail_dir: Path):
    report = _audit(tau_retail_dir / "tasks_train.json", "retail", tau_retail_dir)
    assert report.counts()["tasks"] == 500
    assert [i.rsplit("/", 1)[1] for i in _ids(report, "do_nothing_passes")] == [
        "161",
        "214",
        "229",
        "288",
        "349",
    ]


def test_do_nothing_agrees_with_a_noop_run(tau3_dir: Path, tmp_path: Path):
    """τ³ airline train (no NL assertion is graded there): the audit's do-nothing tasks are exactly the
    tasks where `casework run --agent noop` gets reward 1."""
    tasks, data = tau3_dir / "airline" / "tasks_train.json", tau3_dir / "airline" / "db.json"
    report = _audit(tasks, "airline@tau3", data)
    out = tmp_path / "noop"
    args = ["run", "--tasks", str(tasks), "--data", str(data), "--agent", "noop", "--out", str(out)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    passed = sorted((r["task_id"] for r in rows if r["reward"] == 1), key=int)
    assert _ids(report, "do_nothing_passes") == passed and len(passed) == 16


def test_audit_cli_writes_the_report(tau3_dir: Path, tmp_path: Path):
    out = tmp_path / "audit.md"
    args = [
        "tasks",
        "audit",
        str(tau3_dir / "retail" / "tasks_train.json"),
        "--data",
        str(tau3_dir / "retail" / "db.json"),
        "--profile",
        "tau3-exact",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "audited 74 tasks (retail@tau3-exact): 55 clean, 19 with problems, 3 order-dependent" in " ".join(
        result.output.split()
    )
    assert out.read_text().startswith("# Task audit: ")


def test_an_assertion_that_cannot_be_checked_is_a_problem_not_a_crash():
    """τ³ telecom tasks audited against the embedded database (no --data): their assertions look up a
    phone number the database lacks. The assertion does not hold, with the domain's error as the
    reason, whatever its assert_value; the audit reports the task instead of raising."""
    from casework.domains.tools import ToolError
    from casework.tasks.model import EnvAssertion, Task

    telecom = get_domain("telecom")
    database = telecom.database()
    name = "assert_mobile_data_status"
    assert name in telecom.env_assertions
    state = database.fork()

    def missing_line(db, **arguments):  # what telecom's checks raise for a number the database lacks
        raise ToolError("line not found for 000-000-0000")

    domain = dataclasses.replace(telecom, env_assertions={**telecom.env_assertions, name: missing_line})
    for expected in (True, False):
        assertion = EnvAssertion(
            env_type="user", func_name=name, arguments={"expected_status": True}, assert_value=expected
        )
        holds, reason = domain.env_assertion_holds(state, assertion)
        assert not holds and reason == "ToolError: line not found for 000-000-0000"
    task = Task(
        id="t-missing-line",
        user_id=None,
        instruction="My phone has no data.",
        actions=[],
        env_assertions=[EnvAssertion(env_type="user", func_name=name, arguments={"expected_status": True})],
        reward_basis=["ENV_ASSERTION"],
    )
    report = audit_tasks(domain, database, [task])
    text = render_markdown(report)
    assert "line not found for 000-000-0000" in text, text
