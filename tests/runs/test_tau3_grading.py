"""τ³ grading by reward_basis on τ³'s retail train tasks: oracle runs, the judge, and re-grading."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.runs.grading import ExpectedOutcome, GradingInput, grade_input
from casework.runs.records import SCHEMA_VERSION, read_records
from casework.runs.regrade import REGRADED_RESULTS, regrade
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_manifest
from casework.tasks import load_tasks
from casework.tasks.model import Action, EnvAssertion, Task

RETAIL = get_domain("retail")


def oracle_run(tasks: Path, data: Path, out: Path, judge) -> tuple[Runner, dict]:
    runner = Runner(
        RunConfig(tasks=tasks, out=out, data=data, agent="oracle", concurrency=4), judge_llm=judge
    )
    return runner, asyncio.run(runner.run())


@pytest.fixture(scope="module")
def oracle(tau3_retail_dir: Path, tmp_path_factory, scripted_judge):
    judge = scripted_judge()
    out = tmp_path_factory.mktemp("tau3") / "oracle"
    runner, summary = oracle_run(
        tau3_retail_dir / "tasks_train.json", tau3_retail_dir / "db.json", out, judge
    )
    return runner, summary, out, judge


def test_oracle_computes_every_basis_component_and_scores_one(oracle, tau3_retail_dir: Path):
    runner, summary, out, judge = oracle
    tasks = {t.id: t for t in load_tasks(tau3_retail_dir / "tasks_train.json")}
    records = read_records(out)
    assert len(records) == len(tasks) == 74
    assert read_manifest(out)["schema_version"] == SCHEMA_VERSION
    bases = {tuple(r.reward_basis) for r in records}
    assert bases == {("DB", "NL_ASSERTION"), ("DB",)}
    clean = [r for r in records if runner.expected[r.task_id].errors == 0]
    assert len(clean) == 63
    for record in records:
        task = tasks[record.task_id]
        for name in record.reward_basis:  # every reward_basis component is computed and gates
            component = record.components[name]
            assert component.gates
            assert component.status in ("ok", "not_evaluated"), (record.task_id, name, component.note)
        nl = record.components.get("NL_ASSERTION")
        if task.nl_assertions and nl is not None:
            assert [c.subject for c in nl.checks] == task.nl_assertions
            assert all(c.met is True and c.justification == "scripted" for c in nl.checks)
        assert record.components["DB"].details["expected_state_sha256"] == record.expected_state_sha256
    for record in clean:
        assert record.reward == 1.0, (record.task_id, record.termination_reason, record.components)
        assert all(record.components[n].status == "ok" for n in record.reward_basis)
    # one judge call per assertion, recorded like every model call
    assertions = sum(
        len(tasks[r.task_id].nl_assertions or []) for r in records if "NL_ASSERTION" in r.reward_basis
    )
    assert assertions == 46 and len(judge.prompts) == assertions
    judge_calls = [c for r in records for c in r.model_calls if c.role == "judge"]
    assert len(judge_calls) == assertions and all(c.latency_s and c.prompt_tokens for c in judge_calls)
    assert summary["tokens"]["judge_prompt_tokens"] == sum(c.prompt_tokens for c in judge_calls)


def test_db_not_certified_when_a_golden_write_errors(oracle):
    runner, _, out, _ = oracle
    broken = [k for k, e in runner.expected.items() if e.failed_writes]
    assert broken == ["105"]
    (record,) = [r for r in read_records(out) if r.task_id == "105"]
    assert record.components["DB"].status == "not_evaluated" and record.components["DB"].reward is None


def test_regrade_reproduces_rewards_exactly_without_judge_calls(oracle, tmp_path: Path, scripted_judge):
    _, _, out, _ = oracle
    judge = scripted_judge(verdict=lambda a: False)  # would flip every verdict if it were asked
    report = asyncio.run(regrade(out, judge_llm=judge, out=tmp_path / "again"))
    assert judge.prompts == [] and report.judge_calls == 0 and report.judge_cached == 46
    assert report.rewards_changed == 0 and report.verdicts_changed == 0 and report.state_mismatches == []
    before = {(r.task_id, r.trial): r for r in read_records(out)}
    after = read_records(tmp_path / "again")
    assert [r.reward for r in after] == [before[(r.task_id, r.trial)].reward for r in after]
    assert all(r.components == before[(r.task_id, r.trial)].components for r in after)
    assert read_manifest(tmp_path / "again")["regraded_from"] == str(out)


def test_regrade_with_an_edited_task_file_changes_what_the_edit_changes(
    oracle, tau3_retail_dir: Path, tmp_path: Path, scripted_judge
):
    _, _, out, _ = oracle
    records = json.loads((tau3_retail_dir / "tasks_train.json").read_text())
    by_id = {r["id"]: r for r in records}
    by_id["0"]["evaluation_criteria"]["actions"][-1]["arguments"]["payment_method_id"] = "gift_card_0000000"
    by_id["1"]["evaluation_criteria"]["nl_assertions"] = ["The agent refuses to help."]
    by_id["2"]["evaluation_criteria"]["reward_basis"] = ["DB", "COMMUNICATE"]  # the τ-bench rule
    by_id["2"]["evaluation_criteria"]["communicate_info"] = ["a sentence the oracle never says"]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(records))
    judge = scripted_judge(verdict=lambda assertion: "refuses" not in assertion)
    report = asyncio.run(regrade(out, tasks_path=edited, judge_llm=judge))
    assert len(judge.prompts) == 1  # only the new assertion; the rest come from the cache
    changed = {c["task_id"]: c for c in report.changes}
    assert set(changed) == {"0", "1", "2"} and report.rewards_changed == 3
    assert changed["0"]["reward"] == [1.0, 0.0] and changed["0"]["changed"] == ["DB"]
    assert changed["1"]["changed"] == ["NL_ASSERTION", "NL_ASSERTION[0]"]
    lines = (out / REGRADED_RESULTS).read_text().splitlines()
    regraded = {json.loads(line)["task_id"]: json.loads(line) for line in lines}
    assert regraded["2"]["reward_basis"] is None and regraded["2"]["outputs_match"] is False
    assert regraded["1"]["components"]["NL_ASSERTION"]["checks"][0]["met"] is False
    assert (out / "summary.regraded.json").exists()


def test_judge_failure_marks_the_component_and_keeps_the_conversation(
    tau3_retail_dir: Path, tmp_path: Path, scripted_judge
):
    tasks = tau3_retail_dir / "tasks_train.json"
    one = [r for r in json.loads(tasks.read_text()) if r["evaluation_criteria"]["nl_assertions"]][:1]
    small = tmp_path / "one.json"
    small.write_text(json.dumps(one))
    out = tmp_path / "run"
    oracle_run(small, tau3_retail_dir / "db.json", out, scripted_judge(fail=True))
    (record,) = read_records(out)
    nl = record.components["NL_ASSERTION"]
    assert nl.status == "judge_error" and nl.reward is None and "unreachable" in nl.note
    assert record.reward == 0.0 and record.components["DB"].reward == 1.0
    assert record.messages and record.tool_calls  # the conversation is kept
    assert [c.error for c in record.model_calls if c.role == "judge"] == ["refused"]
    assert not (out / "judge_cache.jsonl").exists()  # failures are never cached
    # a later regrade with a working judge repairs it
    report = asyncio.run(regrade(out, judge_llm=scripted_judge()))
    assert report.rewards_changed == 1 and report.judge_calls == len(
        one[0]["evaluation_criteria"]["nl_assertions"]
    )


def test_unparsable_judge_answer_is_a_judge_error(scripted_judge):
    from casework.runs.judge import Judge

    judge = Judge(scripted_judge(answer="I think so."), "scripted")
    verdicts = asyncio.run(judge.judge(["The agent greets."], [{"role": "assistant", "content": "Hi"}]))
    assert verdicts.status == "judge_error" and verdicts.checks[0].met is None
    assert "no JSON" in verdicts.note


# ----------------------------------------------------------------------------- components on small tasks


def _input(task: Task, messages, tool_calls, state=None, termination="user_stop", domain=RETAIL):
    database = domain.database()
    expected = ExpectedOutcome.of(domain, database, task)
    state = state if state is not None else database.fork()
    return GradingInput(
        domain=domain,
        expected=expected,
        termination_reason=termination,
        messages=messages,
        tool_calls=tool_calls,
        final_hash=state.canonical_hash(),
        final_state=state,
    )


def _order_id() -> str:
    return next(iter(RETAIL.database().tables["orders"]))


def test_action_component_uses_compare_args_and_user_requestor():
    order = _order_id()
    task = Task(
        id="a",
        instruction="x",
        actions=[
            Action(name="get_order_details", arguments={"order_id": order}),
            Action(
                name="get_user_details", arguments={"user_id": "u1", "extra": 1}, compare_args=["user_id"]
            ),
        ],
        reward_basis=["ACTION"],
    )
    calls = [
        {"name": "get_order_details", "arguments": {"order_id": order}, "requestor": "assistant"},
        {"name": "get_user_details", "arguments": {"user_id": "u1", "extra": 2}, "requestor": "user"},
    ]
    scores = grade_input(_input(task, [], calls))
    action = scores["components"]["ACTION"]
    assert action["reward"] == 1.0 and action["checks"][1]["justification"] == "tool call 1 (by user)"
    assert scores["reward"] == 1.0
    calls[1]["arguments"]["user_id"] = "u2"
    assert grade_input(_input(task, [], calls))["reward"] == 0.0


def test_communicate_uses_tau3_rule_and_premature_stops_score_zero():
    task = Task(id="c", instruction="x", outputs=["1234.50", "1,234"], reward_basis=["COMMUNICATE"])
    messages = [{"role": "assistant", "content": "The total is 1,234.50 and 1,234."}]
    scores = grade_input(_input(task, messages, []))
    checks = scores["components"]["COMMUNICATE"]["checks"]
    # τ³ removes commas from the message only: "1,234" is never found (tau-bench v1 would find it)
    assert [c["met"] for c in checks] == [True, False] and scores["reward"] == 0.0
    legacy = task.model_copy(update={"reward_basis": None})
    assert grade_input(_input(legacy, messages, []))["reward"] == 1.0
    solved = task.model_copy(update={"outputs": ["1234.50"]})
    assert grade_input(_input(solved, messages, []))["reward"] == 1.0
    assert grade_input(_input(solved, messages, [], termination="max_steps"))["reward"] == 0.0
    assert grade_input(_input(legacy, messages, [], termination="max_steps"))["reward"] == 1.0  # v1 rule


def test_env_assertions_run_the_domains_named_functions():
    order = _order_id()

    def order_status(state, order_id, status):
        actual = state["orders"][order_id]["status"]
        return actual == status, f"order {order_id} is {actual}"

    domain = dataclasses.replace(RETAIL, env_assertions={"order_status": order_status})
    status = domain.database().tables["orders"][order]["status"]
    task = Task(
        id="e",
        instruction="x",
        env_assertions=[
            EnvAssertion(func_name="order_status", arguments={"order_id": order, "status": status}),
            EnvAssertion(
                func_name="order_status", arguments={"order_id": order, "status": "x"}, assert_value=False
            ),
        ],
        reward_basis=["ENV_ASSERTION"],
    )
    scores = grade_input(_input(task, [], [], domain=domain))
    env = scores["components"]["ENV_ASSERTION"]
    assert env["reward"] == 1.0 and [c["met"] for c in env["checks"]] == [True, True]
    wrong = task.model_copy(
        update={
            "env_assertions": [
                EnvAssertion(func_name="order_status", arguments={"order_id": order, "status": "x"})
            ]
        }
    )
    env = grade_input(_input(wrong, [], [], domain=domain))["components"]["ENV_ASSERTION"]
    assert env["reward"] == 0.0 and env["checks"][0]["justification"] == f"order {order} is {status}"
    unknown = task.model_copy(update={"env_assertions": [EnvAssertion(func_name="nope")]})
    env = grade_input(_input(unknown, [], [], domain=domain))["components"]["ENV_ASSERTION"]
    assert (
        env["reward"] == 0.0 and "unknown environment assertion 'nope'" in env["checks"][0]["justification"]
    )


def test_a_run_with_nl_assertions_and_no_judge_is_refused(tau3_retail_dir: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="NL assertions .* no judge"):
        Runner(RunConfig(tasks=tau3_retail_dir / "tasks_train.json", out=tmp_path / "r", agent="oracle"))


def test_telecom_golden_trajectories_pass_env_assertions_and_actions_and_doing_nothing_fails(tau3_dir: Path):
    """τ³ telecom: initial state, user-side golden actions, ENV_ASSERTION (and ACTION) bases."""
    from casework.runs.grading import call_tool, fresh_state

    domain = get_domain("telecom")
    database = domain.database(tau3_dir / "telecom")
    tasks = load_tasks(tau3_dir / "telecom" / "tasks_train.json")
    bases = set()
    for task in tasks:
        expected = ExpectedOutcome.of(domain, database, task)
        state = fresh_state(domain, database, task)
        calls = [
            {
                "name": a.name,
                "arguments": a.arguments,
                "requestor": a.requestor,
                "observation": call_tool(domain, state, a.name, a.arguments, a.requestor),
            }
            for a in task.actions
        ]
        solved = grade_input(_input_on(domain, expected, state, calls))
        assert solved["reward"] == 1.0, (task.id, solved["components"])
        env = solved["components"]["ENV_ASSERTION"]
        assert env["gates"] and len(env["checks"]) == len(task.env_assertions)
        bases.add(tuple(solved["reward_basis"]))
        idle = fresh_state(domain, database, task)
        assert grade_input(_input_on(domain, expected, idle, []))["reward"] == 0.0, task.id
    assert bases == {("ENV_ASSERTION",), ("ENV_ASSERTION", "ACTION")}


def _input_on(domain, expected, state, calls) -> GradingInput:
    return GradingInput(
        domain=domain,
        expected=expected,
        termination_reason="user_stop",
        messages=[],
        tool_calls=calls,
        final_hash=state.canonical_hash(),
        final_state=state,
    )


def test_regrade_of_a_schema_1_run_changes_nothing(tmp_path: Path):
    """A run written before typed records (no schema_version, no components) re-grades to the same verdicts."""
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks

    tasks = tmp_path / "tasks.json"
    save_tasks(generate_templated(RETAIL, RETAIL.database(), 6, seed=4), tasks)
    out = tmp_path / "run"
    asyncio.run(Runner(RunConfig(tasks=tasks, out=out, agent="oracle", trials=2)).run())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    for line in lines:  # as the runner wrote them before schema 2
        del line["components"], line["reward_basis"]
        for call in line["tool_calls"]:
            del call["requestor"]
    (out / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["schema_version"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = asyncio.run(regrade(out, out=tmp_path / "again"))
    assert report.simulations == 12 and report.changes == [] and report.verdicts_changed == 0
    assert report.verdicts_compared >= 12 * 3
    assert [r.reward for r in read_records(tmp_path / "again")] == [line["reward"] for line in lines]
