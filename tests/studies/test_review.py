"""casework review: every failed simulation gets a cause; deterministic checks first, then the judge."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm.types import CallRecord, Completion
from casework.runs.review import revealed_facts, review_run
from casework.runs.runner import RunConfig, Runner
from casework.tasks import load_tasks, save_tasks


class CategoryJudge:
    class config:
        model = "category-judge"

    def __init__(self, answer: str | None = None, fail: bool = False):
        self.answer = answer or json.dumps({"category": "agent", "reasoning": "the agent never acted"})
        self.fail = fail
        self.prompts: list[str] = []

    async def chat(self, messages, role=None, **params):
        self.prompts.append(messages[-1]["content"])
        if self.fail:
            raise RuntimeError("judge down")
        return Completion(content=self.answer, usage=CallRecord(role=role, model="category-judge"))


@pytest.fixture(scope="module")
def noop_run(tmp_path_factory) -> tuple[Path, Path]:
    """A noop run over six templated retail tasks that all need a change (all fail)."""
    root = tmp_path_factory.mktemp("review")
    retail = get_domain("retail")
    tasks = [
        t
        for t in generate_templated(retail, retail.database(), 12, seed=7, multi_intent=0)
        if any(retail.is_write(a.name) for a in t.actions)
    ][:6]
    path = root / "tasks.json"
    save_tasks(tasks, path)
    out = root / "run"
    asyncio.run(Runner(RunConfig(tasks=path, out=out, agent="noop")).run())
    return out, path


def _edit_results(run: Path, target: Path, edits: dict[int, dict]) -> Path:
    target.mkdir()
    for name in ("manifest.json",):
        (target / name).write_text((run / name).read_text())
    lines = (run / "results.jsonl").read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        record.update(edits.get(i, {}))
        out.append(json.dumps(record))
    (target / "results.jsonl").write_text("\n".join(out) + "\n")
    return target


def test_every_failure_is_categorised_by_checks_or_the_judge(noop_run, tmp_path: Path):
    run, tasks_path = noop_run
    lines = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    assert not any(r["success"] for r in lines)
    user_line = lines[2]
    leaked = list(user_line["messages"])
    leaked.insert(2, {"role": "user", "content": "Also my other order is #W0000001."})
    edited = _edit_results(
        run,
        tmp_path / "run",
        {
            0: {"termination_reason": "infrastructure_error", "error": "connection refused"},
            1: {"user_abnormal_end": "empty_reply"},
            2: {"messages": leaked},
        },
    )
    # task 3's ground truth no longer replays: an action on an order that does not exist
    tasks = load_tasks(tasks_path)
    broken = tasks[3]
    write = next(i for i, a in enumerate(broken.actions) if get_domain("retail").is_write(a.name))
    broken.actions[write].arguments["order_id"] = "#W0000000"
    fixed_path = tmp_path / "tasks.json"
    save_tasks(tasks, fixed_path)
    judge = CategoryJudge()
    verdicts, summary = asyncio.run(review_run(edited, judge_llm=judge, tasks_path=fixed_path))
    by_task = {v.task_id: v for v in verdicts}
    ids = [r["task_id"] for r in lines]
    assert by_task[ids[0]].category == "infrastructure" and by_task[ids[0]].source == "deterministic"
    assert by_task[ids[1]].category == "user_simulator" and "empty_reply" in by_task[ids[1]].reasons[0]
    assert by_task[ids[2]].category == "user_simulator" and "#W0000001" in by_task[ids[2]].reasons[0]
    assert by_task[ids[3]].category == "task" and "errors" in by_task[ids[3]].reasons[0]
    assert {by_task[i].source for i in ids[4:]} == {"judge"} and {by_task[i].category for i in ids[4:]} == {
        "agent"
    }
    assert len(judge.prompts) == 2 and lines[4]["messages"][1]["content"] in judge.prompts[0]
    assert summary["by_category"] == {"agent": 2, "user_simulator": 2, "task": 1, "infrastructure": 1}
    assert summary["pass_rate"] == 0.0 and summary["pass_rate_without_user_simulator_errors"] == 0.0
    saved = [json.loads(x) for x in (edited / "review.jsonl").read_text().splitlines()]
    assert len(saved) == 6 and json.loads((edited / "review.json").read_text()) == summary


def test_judge_that_fails_or_answers_nonsense_leaves_the_agent_default(noop_run, tmp_path: Path):
    run, _ = noop_run
    copy = _edit_results(run, tmp_path / "copy", {})
    verdicts, _ = asyncio.run(review_run(copy, judge_llm=CategoryJudge(fail=True)))
    assert {v.category for v in verdicts} == {"agent"} and {v.source for v in verdicts} == {"default"}
    assert "judge failed" in verdicts[0].judge_reasoning
    verdicts, _ = asyncio.run(review_run(copy, judge_llm=CategoryJudge(answer='{"category": "weather"}')))
    assert {v.source for v in verdicts} == {"default"} and "no category" in verdicts[0].judge_reasoning


def test_pass_rate_without_user_simulator_errors(tmp_path: Path, noop_run):
    run, _ = noop_run
    copy = _edit_results(
        run, tmp_path / "copy", {0: {"success": True, "reward": 1.0}, 1: {"user_abnormal_end": "x"}}
    )
    _, summary = asyncio.run(review_run(copy))
    assert summary["pass_rate"] == pytest.approx(1 / 6)
    assert summary["pass_rate_without_user_simulator_errors"] == pytest.approx(1 / 5)


def test_revealed_facts_only_counts_what_nobody_gave_the_user():
    instruction = "Your order #W123456 is late; your email is a@b.co."
    messages = [
        {"role": "user", "content": "Order W123456, email a@b.co"},
        {"role": "assistant", "content": "I see order #W999999 too."},
        {"role": "user", "content": "Yes #W999999, and also #W777777."},
    ]
    assert revealed_facts(instruction, messages) == ["#W777777"]


def test_cli_review_without_judge_and_report_shows_it(noop_run, tmp_path: Path):
    run, _ = noop_run
    copy = _edit_results(run, tmp_path / "copy", {})
    result = CliRunner().invoke(app, ["review", str(copy), "--no-judge"])
    assert result.exit_code == 0, result.output
    assert "reviewed 6 failures of 6 simulations: agent 6" in result.output.replace("\n", " ")
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    text = (copy / "report.md").read_text()
    assert "### Why did it fail? (casework review)" in text and text.count("| agent | default |") == 6
    assert "Why did it fail?" in (copy / "report.html").read_text()
    missing = CliRunner().invoke(app, ["review", str(tmp_path / "nowhere"), "--no-judge"])
    assert missing.exit_code == 2 and "no manifest.json" in missing.output


# -- the user simulator's faults, found without a model ------------------------------------------


@pytest.fixture(scope="module")
def cancellation():
    """A retail cancellation task: name + zip (or email) identify the user; one write."""
    from casework.generate.templated import build_templated_task

    retail = get_domain("retail")
    db = retail.database()
    task = build_templated_task(retail, db, 0, seed=1, scenario="order_cancellation")
    facts = retail.users.facts_for(db.fork(), task.user_id)
    return retail, db, task, facts


def _conversation(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": "system", "content": "policy"}] + [{"role": r, "content": c} for r, c in turns]


def test_contradiction_of_a_known_fact_is_found_and_a_faithful_user_is_not(cancellation):
    from casework.runs.review import contradicted_facts

    retail, db, task, facts = cancellation
    zip_code = facts.identities[0].values["zip"]
    email = facts.identities[1].values["email"]
    order = task.actions[-1].arguments["order_id"]
    wrong_zip = str(int(zip_code) + 1).zfill(5)
    lying = _conversation(
        ("user", f"I want to cancel order {order}."),
        ("assistant", "Please give me your name and zip code."),
        ("user", f"My name is Gabriel Moreau and my zip code is {wrong_zip}."),
        ("assistant", "What is your email?"),
        ("user", "It is someone.else99@example.com."),
    )
    found = contradicted_facts(retail, db.fork(), task, lying)
    assert any(wrong_zip in f and f"is {zip_code}" in f for f in found), found
    assert any("someone.else99@example.com" in f and email in f for f in found), found
    assert any("Gabriel Moreau" in f for f in found), found
    name = facts.details["name"]
    faithful = _conversation(
        ("user", f"I want to cancel order {order}."),
        ("assistant", "Please give me your name and zip code. I also see order #W0000002 on file."),
        ("user", f"My name is {name} and my zip code is {zip_code}. Not #W0000002, the other one."),
        ("assistant", "And your email?"),
        ("user", f"My email is {email}."),
    )
    assert contradicted_facts(retail, db.fork(), task, faithful) == []


def test_ignoring_the_agent_twice_is_found_once_or_i_dont_know_is_not(cancellation):
    from casework.runs.review import ignored_agent

    retail, db, task, facts = cancellation
    zip_code = facts.identities[0].values["zip"]
    ignoring = _conversation(
        ("user", "I want to cancel an order."),
        ("assistant", "Could you tell me your name and zip code?"),
        ("user", "I just want it cancelled quickly."),
        ("assistant", "I need your zip code, please. What is it?"),
        ("user", "Please hurry up."),
    )
    found = ignored_agent(retail, db.fork(), task, ignoring)
    assert len(found) == 2 and "identification" in found[0] and "Please hurry up." in found[1]
    once = _conversation(
        ("user", "I want to cancel an order."),
        ("assistant", "Could you tell me your name and zip code?"),
        ("user", "I just want it cancelled quickly."),
        ("assistant", "I need your zip code, please. What is it?"),
        ("user", f"Fine, it is {zip_code}."),
    )
    assert ignored_agent(retail, db.fork(), task, once) == []
    unknown = _conversation(
        ("user", "I want to cancel an order."),
        ("assistant", "Which order id is it?"),
        ("user", "I don't remember the order id."),
        ("assistant", "Could you find the order number, please?"),
        ("user", "Sorry, I do not know it."),
    )
    assert ignored_agent(retail, db.fork(), task, unknown) == []
    order = task.actions[-1].arguments["order_id"]
    asked_order = _conversation(
        ("user", "I want to cancel an order."),
        ("assistant", "Which order id is it?"),
        ("user", "The one I placed last week."),
        ("assistant", "Please give me the order number."),
        ("user", "Can you just cancel it?"),
    )
    found = ignored_agent(retail, db.fork(), task, asked_order)
    assert len(found) == 2 and "order id" in found[0], found
    answered = [*asked_order[:-1], {"role": "user", "content": f"It is {order}."}]
    assert ignored_agent(retail, db.fork(), task, answered) == []


def test_stopping_while_the_agent_works_is_found_and_a_refusal_or_done_is_not(cancellation):
    from casework.runs.review import stopped_early

    retail, db, task, _ = cancellation
    order = task.actions[-1].arguments["order_id"]
    working = _conversation(
        ("user", f"Cancel order {order}, please."),
        ("assistant", f"Order {order} is pending. Shall I cancel it for the reason 'ordered by mistake'?"),
        ("user", "###STOP###"),
    )
    result = {"termination_reason": "user_stop", "messages": working, "tool_calls": []}
    found = stopped_early(retail, task, result)
    assert len(found) == 1 and "cancel_pending_order" in found[0]
    done_call = {
        "name": "cancel_pending_order",
        "arguments": dict(task.actions[-1].arguments),
        "requestor": "assistant",
    }
    assert stopped_early(retail, task, {**result, "tool_calls": [done_call]}) == []
    for last in (
        "I'm sorry, I cannot cancel this order.",
        "Your order has been cancelled.",
        "Is there anything else I can help with?",
        "Error: order not found",  # measured: the 0.5B agent echoes a tool error and stops
    ):
        ended = [*working[:-2], {"role": "assistant", "content": last}, working[-1]]
        assert stopped_early(retail, task, {**result, "messages": ended}) == [], last
    assert stopped_early(retail, task, {**result, "termination_reason": "max_steps"}) == []


def test_review_names_the_check_and_the_report_shows_it(noop_run, tmp_path: Path):
    from casework.reports import write_report

    run, tasks_path = noop_run
    lines = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    task = {t.id: t for t in load_tasks(tasks_path)}[lines[0]["task_id"]]
    write = next(a for a in task.actions if get_domain("retail").is_write(a.name))
    stopped = [
        *lines[0]["messages"][:2],
        {"role": "assistant", "content": f"Shall I go ahead with {write.name.replace('_', ' ')}?"},
        {"role": "user", "content": "###STOP###"},
    ]
    ignoring = [
        *lines[1]["messages"][:2],
        {"role": "assistant", "content": "Could you give me your email, please?"},
        {"role": "user", "content": "Just do it."},
        {"role": "assistant", "content": "What is your email address?"},
        {"role": "user", "content": "I said just do it."},
    ]
    edited = _edit_results(
        run,
        tmp_path / "run",
        {
            0: {"termination_reason": "user_stop", "messages": stopped, "tool_calls": []},
            1: {"messages": ignoring},
        },
    )
    verdicts, summary = asyncio.run(review_run(edited, tasks_path=tasks_path))
    by_task = {v.task_id: v for v in verdicts}
    assert by_task[lines[0]["task_id"]].check == "stopped_early"
    assert by_task[lines[1]["task_id"]].check == "ignored_agent"
    assert summary["by_check"] == {"stopped_early": 1, "ignored_agent": 1}
    text = write_report(edited, tasks_path=tasks_path).markdown.read_text()
    assert "deterministic checks: stopped_early 1, ignored_agent 1" in text
    assert "| user_simulator | deterministic (stopped_early) |" in text
