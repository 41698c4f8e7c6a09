"""The direct and AgentFlow generators: scripted fake endpoints (unit) and the real local model (llm)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from casework.domains import get_domain
from casework.domains.retail.scenarios import SCENARIO_KEYS
from casework.generate.agentflow import AgentFlowGenerator
from casework.generate.direct import DirectGenerator, parse_blueprint
from casework.generate.pipeline import GenerationError, Pipeline, PipelineConfig
from casework.generate.templated import parse_weights
from casework.llm.types import CallRecord, Completion, ToolCall


@dataclass
class Scripted:
    """A deterministic fake endpoint: one scripted reply per call (the last one repeats).

    A reply is a string (content), a ``(name, arguments)`` pair (a native tool call), a callable
    of the messages, or an exception to raise. Every call's messages and params are kept."""

    replies: list[Any]
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def chat(self, messages, tools=None, tool_choice=None, **params):
        self.calls.append({"messages": messages, "tools": tools, "tool_choice": tool_choice, **params})
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        if callable(reply):
            reply = reply(messages)
        if isinstance(reply, Exception):
            raise reply
        usage = CallRecord(model="scripted", prompt_tokens=100, completion_tokens=20)
        if isinstance(reply, tuple):
            name, arguments = reply
            return Completion(tool_calls=[ToolCall(name=name, arguments=json.dumps(arguments))], usage=usage)
        return Completion(content=reply, usage=usage)

    def prompt(self, call: int) -> str:
        return "\n".join(m["content"] or "" for m in self.calls[call]["messages"])


@pytest.fixture(scope="module")
def retail():
    domain = get_domain("retail")
    return domain, domain.database()


CANCEL = parse_weights("order_cancellation=1", SCENARIO_KEYS)


def _cancel_facts(generator) -> tuple[str, str, str]:
    target = generator.target(0)
    user = generator.database.fork()["users"][target.user_id]
    return target.user_id, user["email"], target.ids[0]


def _good_blueprint(email: str, order_id: str, reason: str = "no longer needed") -> str:
    return json.dumps(
        {
            "q": f"You are a customer with email {email}. Cancel order {order_id} because you no longer need it.",
            "agt": [
                {"name": "find_user_id_by_email", "arguments": {"email": email}},
                {"name": "get_order_details", "arguments": {"order_id": order_id}},
                {"name": "cancel_pending_order", "arguments": {"order_id": order_id, "reason": reason}},
            ],
            "ogt": [],
        }
    )


def _run(domain, database, generator, n=1, iterations=1):
    pipeline = Pipeline(domain, database, generator, PipelineConfig(num_tasks=n, max_iterations=iterations))
    return asyncio.run(pipeline.run())


# -- direct ------------------------------------------------------------------------------------


def test_direct_good_blueprint_is_accepted_with_raw_response(retail):
    domain, database = retail
    client = Scripted([])
    generator = DirectGenerator(domain, database, client, weights=CANCEL)
    user_id, email, order_id = _cancel_facts(generator)
    raw = _good_blueprint(email, order_id)
    client.replies = [raw]
    result = _run(domain, database, generator)
    assert not result.rejected and len(result.tasks) == 1
    task = result.tasks[0]
    assert task.user_id == user_id and task.scenario == "order_cancellation"
    assert task.action_names == ["find_user_id_by_email", "get_order_details", "cancel_pending_order"]
    assert task.metadata["raw_response"] == raw and task.metadata["repairs"] == []
    assert task.metadata["generation_method"] == "direct" and task.validation_report.valid
    # the prompt is compact and about this user: their email and order are in it, the budget holds
    prompt = client.prompt(0)
    assert email in prompt and order_id in prompt and "Write the task JSON" in prompt
    assert len(prompt) < 1500 * 4
    assert database.fork()["orders"][order_id]["status"] == "pending"  # validation ran on a fork


def test_direct_near_valid_json_is_repaired(retail):
    domain, database = retail
    client = Scripted([])
    generator = DirectGenerator(domain, database, client, weights=CANCEL)
    _, email, order_id = _cancel_facts(generator)
    bare = order_id.lstrip("#")
    args = json.dumps(json.dumps({"order_id": bare}))
    raw = (
        'Sure! Here is the task:\n```json\n{"instruction": "Cancel my order '
        + order_id
        + ', I do not need it.",\n'
        ' "actions": [{"tool": "find_user_id_by_email", "args": {"email": "' + email + '"}},\n'
        '   {"name": "get_order_detail", "arguments": ' + args + "},\n"
        '   {"name": "cancel_pending_order", "arguments": {"order_id": "'
        + order_id
        + '", "reason": "no longer needed"},},\n'
        ' ],\n "outputs": None,\n}\n```'
    )
    client.replies = [raw]
    result = _run(domain, database, DirectGenerator(domain, database, client, weights=CANCEL))
    assert len(result.tasks) == 1, result.rejected
    task = result.tasks[0]
    repairs = " | ".join(task.metadata["repairs"])
    assert "near-valid JSON repaired" in repairs
    assert "'get_order_detail' -> 'get_order_details'" in repairs and "without '#'" in repairs
    assert "arguments given as a JSON string" in repairs and "email" in repairs  # email added to q
    assert task.actions[1].arguments == {"order_id": order_id} and email in task.instruction
    assert task.metadata["raw_response"] == raw


def test_parse_blueprint_reasons():
    domain = get_domain("retail")
    for text, reason in [
        ("", "empty response"),
        ("I am sorry, I cannot help with that.", "not a JSON blueprint"),
        ('{"q": "", "agt": []}', "no instruction"),
        ('{"q": "Cancel it", "agt": []}', "no ground-truth actions"),
        ('{"q": "Cancel it", "agt": ["cancel"]}', "agt[0] is not an object"),
        ("[1, 2]", "without a blueprint object"),
    ]:
        with pytest.raises(ValueError, match=re.escape(reason)):
            parse_blueprint(text, domain)


def test_direct_garbage_is_rejected_with_reason_and_raw_text(retail):
    domain, database = retail
    garbage = "Task: the user wants to cancel. Actions: cancel it!!! {{{"
    client = Scripted([garbage])
    generator = DirectGenerator(domain, database, client, weights=CANCEL)
    result = _run(domain, database, generator, iterations=2)
    assert not result.tasks and len(result.rejected) == 1
    failures = result.rejected[0].failures
    assert [f["iteration"] for f in failures] == [0, 1]
    assert all(f["stage"] == "generation" and "unusable model output" in f["message"] for f in failures)
    assert failures[0]["raw"] == garbage
    assert any(
        k.startswith("generation: unusable model output") for k in result.stats["pipeline"]["failure_reasons"]
    )


def test_direct_refinement_feedback_reaches_the_next_attempt(retail):
    domain, database = retail
    client = Scripted([])
    generator = DirectGenerator(domain, database, client, weights=CANCEL)
    _, email, order_id = _cancel_facts(generator)
    wrong = _good_blueprint(email, order_id, reason="changed my mind")  # a reason the policy forbids
    client.replies = ["no json here", wrong, _good_blueprint(email, order_id)]
    result = _run(domain, database, generator, iterations=3)
    assert len(result.tasks) == 1 and result.tasks[0].metadata["iterations"] == 3
    assert "The previous attempt failed validation" not in client.prompt(0)
    second, third = client.prompt(1), client.prompt(2)
    assert "[generation] unusable model output" in second and "no json here" in second
    assert "[policy]" in third and "changed my mind" in third  # the failed answer and why
    assert result.tasks[0].metadata["earlier_failures"]
    # the same request is asked for in every attempt of the slot
    assert all(order_id in client.prompt(i) for i in range(3))


def test_direct_trims_context_to_the_budget(retail):
    domain, database = retail
    generator = DirectGenerator(
        domain, database, Scripted(["{}"]), weights=parse_weights("item_exchange=1", SCENARIO_KEYS)
    )
    roomy, trimmed_roomy = generator.messages(0, None)
    generator.budget_tokens = 400
    tight, trimmed = generator.messages(0, None)
    assert "tool schemas -> signatures" in trimmed and "policy -> digest" in trimmed
    assert len(tight[0]["content"]) < len(roomy[0]["content"])
    assert (
        "exchange_delivered_order_items(order_id, item_ids, new_item_ids, payment_method_id)"
        in tight[0]["content"]
    )


def test_endpoint_rejection_is_a_failed_attempt_not_a_crash(retail):
    from casework.llm import LLMRequestError

    domain, database = retail
    client = Scripted([LLMRequestError("context too long")])
    result = _run(domain, database, DirectGenerator(domain, database, client, weights=CANCEL))
    assert "rejected the request" in result.rejected[0].failures[0]["message"]


# -- AgentFlow ----------------------------------------------------------------------------------


def _agentflow(retail, replies, **kwargs):
    domain, database = retail
    client = Scripted([])
    generator = AgentFlowGenerator(domain, database, client, weights=CANCEL, **kwargs)
    user_id, email, order_id = _cancel_facts(generator)
    client.replies = replies(user_id, email, order_id)
    return generator, client, (user_id, email, order_id)


def test_agentflow_executes_real_tools_on_a_fork_and_stops_by_verifier(retail):
    domain, database = retail
    writer = json.dumps(
        {"q": "You want to cancel your order because you no longer need it.", "ogt": ["cancelled", "999.99"]}
    )
    generator, client, (user_id, email, order_id) = _agentflow(
        retail,
        lambda u, e, o: [
            ("get_order_details", {"order_id": o}),
            # written as text instead of a native call: recovered by the text parser
            '```json\n{"name": "cancel_pending_order", "arguments": {"order_id": "'
            + o
            + '", "reason": "no longer needed"}}\n```',
            writer,
        ],
    )
    result = _run(domain, database, generator)
    assert len(result.tasks) == 1, result.rejected
    task = result.tasks[0]
    assert task.action_names == ["find_user_id_by_email", "get_order_details", "cancel_pending_order"]
    turns = task.metadata["agentflow_turns"]
    assert [t["source"] for t in turns] == ["rule", "planner", "planner"]
    assert turns[1]["observation"].startswith(f'{{"order_id": "{order_id}"')  # the real observation
    assert '"status": "cancelled"' in turns[2]["observation"] or "cancelled" in turns[2]["observation"]
    assert turns[1]["verdict"] == "ok; continue" and turns[2]["verdict"] == "ok; stop (goal reached)"
    assert task.metadata["stop_reason"] == "goal reached"
    # outputs supported by an observation are kept, invented ones dropped; q completed with id facts
    assert task.outputs == ["cancelled"] and any("999.99" in r for r in task.metadata["repairs"])
    assert email in task.instruction and order_id in task.instruction
    assert database.fork()["orders"][order_id]["status"] == "pending"  # the loop ran on a fork
    # native tool calling with the scenario's schemas and tool_choice=required; 2 planner calls + writer
    assert client.calls[0]["tool_choice"] == "required"
    assert {t["function"]["name"] for t in client.calls[0]["tools"]} >= {
        "cancel_pending_order",
        "get_order_details",
    }
    assert len(client.calls) == 3 and task.validation_report.valid


def test_agentflow_verifier_rejects_inconsistent_calls_and_stops_at_turn_limit(retail):
    domain, database = retail
    other_order = next(
        o
        for o, rec in database.tables["orders"].items()
        if rec["status"] == "pending" and rec["user_id"] != "x"
    )
    generator, client, (user_id, _, order_id) = _agentflow(
        retail,
        lambda u, e, o: [
            ("get_user_details", {"user_id": u}),
            ("get_user_details", {"user_id": u}),  # a repeat: not run
            ("cancel_pending_order", {"order_id": o, "reason": "because"}),  # policy: bad reason
            "I think the order should be cancelled.",  # no tool call
        ],
        max_turns=4,
        max_failures=5,
    )
    if database.tables["orders"][other_order]["user_id"] == user_id:
        pytest.skip("sampled the same user")
    memory, state, stop = asyncio.run(generator.run_loop(generator.target(0), None))
    verdicts = [t.verdict for t in memory.turns]
    assert stop == "turn limit" and len(memory.turns) == 5  # the rule turn + 4 planner turns
    assert verdicts[1] == "ok; continue"
    assert verdicts[2].startswith("rejected: repeats an action")
    assert "rejected: inconsistent" in verdicts[3] and "cancel reason" in verdicts[3]
    assert verdicts[4].startswith("continue: no tool call") and verdicts[4].endswith("stop (turn limit)")
    assert [a.name for a in memory.actions] == ["find_user_id_by_email", "get_user_details"]
    assert state["orders"][order_id]["status"] == "pending"
    # through the pipeline the goal was never reached: a rejected attempt with the reason
    client.calls.clear()
    result = _run(domain, database, generator)
    failure = result.rejected[0].failures[0]
    assert failure["stage"] == "generation" and "goal was not reached (turn limit)" in failure["message"]
    assert "raw" in failure


def test_agentflow_errors_stay_out_of_the_ground_truth_and_failures_stop_the_loop(retail):
    generator, _, _ = _agentflow(
        retail,
        lambda u, e, o: [("get_order_details", {"order_id": "#W0000000"})],
        max_turns=6,
        max_failures=2,
    )
    memory, _, stop = asyncio.run(generator.run_loop(generator.target(0), None))
    assert stop == "3 failed turns in a row" and len(memory.turns) == 4
    assert all(t.action["name"] == "get_order_details" for t in memory.turns[1:])
    assert [a.name for a in memory.actions] == ["find_user_id_by_email"]


def test_agentflow_optional_llm_verifier_can_stop(retail):
    domain, database = retail
    generator, client, _ = _agentflow(
        retail,
        lambda u, e, o: [
            ("get_user_details", {"user_id": u}),
            '{"stop": true, "consistent": true, "reason": "the user only wanted their profile"}',
            '{"q": "You want to hear what is on your profile."}',
        ],
        llm_verify=True,
    )
    result = _run(domain, database, generator)
    task = result.tasks[0] if result.tasks else None
    assert task is not None, result.rejected
    assert task.metadata["stop_reason"] == "llm verifier"
    assert "llm verifier: stop=True" in task.metadata["agentflow_turns"][-1]["verdict"]


def test_agentflow_refinement_feedback_reaches_the_next_attempt(retail):
    domain, database = retail

    def replies(u, e, o):
        return [
            ("get_order_details", {"order_id": o}),
            ("cancel_pending_order", {"order_id": o, "reason": "no longer needed"}),
            "garbage {",  # writer fails: attempt 1 rejected
            ("get_order_details", {"order_id": o}),
            ("cancel_pending_order", {"order_id": o, "reason": "no longer needed"}),
            '{"q": "You no longer need your order and want it cancelled.", "ogt": []}',
        ]

    generator, client, (_, _, order_id) = _agentflow(retail, replies)
    result = _run(domain, database, generator, iterations=2)
    assert len(result.tasks) == 1 and result.tasks[0].metadata["iterations"] == 2
    assert "writer's answer has no instruction" in client.prompt(3)
    assert result.tasks[0].metadata["feedback"].startswith("The previous attempt failed validation")


def test_generation_error_carries_raw():
    error = GenerationError("bad", raw="xyz")
    assert error.raw == "xyz" and str(error) == "bad"


# -- the real embedded model (opt-in: -m llm or CASEWORK_LLM_TESTS=1) ----------------------------


def _real_run(url: str, method: str) -> tuple[Any, float, Any]:
    from casework import aio
    from casework.llm import LLMClient
    from casework.runs.endpoints import local_endpoint

    domain = get_domain("retail")
    database = domain.database()
    client = LLMClient(local_endpoint(url).model_copy(update={"max_retries": 1}))
    if method == "direct":
        generator = DirectGenerator(domain, database, client, seed=3, max_tokens=320)
    else:
        generator = AgentFlowGenerator(
            domain, database, client, seed=3, max_turns=3, planner_max_tokens=80, writer_max_tokens=160
        )
    start = time.perf_counter()
    result = aio.run(
        Pipeline(domain, database, generator, PipelineConfig(num_tasks=2, max_iterations=2)).run(),
        closing=[client],
    )
    return result, time.perf_counter() - start, client


def _check_real(result, method: str) -> None:
    assert len(result.tasks) + len(result.rejected) == 2
    for task in result.tasks:
        assert task.metadata["generation_method"] == method and task.validation_report.valid
        assert "raw_response" in task.metadata
        if method == "agentflow":
            assert task.metadata["agentflow_turns"]
    for outcome in result.rejected:
        assert outcome.failures and all(f["stage"] and f["message"] for f in outcome.failures)
    stats = result.stats["pipeline"]
    assert stats["accepted"] + stats["rejected"] == 2


@pytest.mark.llm
@pytest.mark.parametrize("method", ["direct", "agentflow"])
def test_real_model_generators_end_to_end(local_model_url, method, capsys):
    result, elapsed, client = _real_run(local_model_url, method)
    _check_real(result, method)
    with capsys.disabled():
        tokens = (
            sum((r.prompt_tokens or 0) for r in client.records),
            sum((r.completion_tokens or 0) for r in client.records),
        )
        print(
            f"\n[{method}] {elapsed:.1f} s, {len(client.records)} model calls, prompt/completion tokens "
            f"{tokens}, accepted {len(result.tasks)}, rejected {len(result.rejected)}: "
            f"{result.stats['pipeline']['failure_reasons']}"
        )


def test_direct_repairs_made_up_ids_misused_identification_and_underivable_outputs(retail):
    domain, database = retail
    client = Scripted([])
    generator = DirectGenerator(domain, database, client, weights=CANCEL)
    user_id, _, order_id = _cancel_facts(generator)
    user = database.fork()["users"][user_id]
    name, zip_code = user["name"], user["address"]["zip"]
    identify = {
        "first_name": name["first_name"],
        "last_name": name["last_name"],
        "zip": zip_code,
        "phone": "1",
    }
    client.replies = [
        json.dumps(
            {
                "q": f"Cancel order {order_id}, you ordered it by mistake.",
                "agt": [
                    {"name": "find_user_id_by_email", "arguments": identify},
                    {"name": "get_user_details", "arguments": {"user_id": "someone_made_up_1234"}},
                    {
                        "name": "cancel_pending_order",
                        "arguments": {"order_id": order_id, "reason": "ordered by mistake"},
                    },
                ],
                "ogt": ["order_cancellation", "cancelled", "cancelled"],
            }
        )
    ]
    result = _run(domain, database, generator)
    assert len(result.tasks) == 1, result.rejected
    task = result.tasks[0]
    assert task.action_names == ["find_user_id_by_name_zip", "get_user_details", "cancel_pending_order"]
    assert task.actions[0].arguments == {k: v for k, v in identify.items() if k != "phone"}
    assert task.actions[1].arguments == {"user_id": user_id}
    assert task.outputs == ["cancelled"]
    repairs = " | ".join(task.metadata["repairs"])
    for expected in (
        "-> find_user_id_by_name_zip",
        "dropped unknown arguments phone",
        "unknown user_id",
        "dropped output 'order_cancellation'",
    ):
        assert expected in repairs
    assert zip_code in task.instruction and name["last_name"] in task.instruction


def test_direct_off_target_blueprint_is_rejected_and_foreign_emails_are_replaced(retail):
    domain, database = retail
    client = Scripted([])
    generator = DirectGenerator(domain, database, client, weights=CANCEL)
    _, email, order_id = _cancel_facts(generator)
    only_identify = json.dumps(
        {
            "q": f"Your email is {email}.",
            "agt": [{"name": "find_user_id_by_email", "arguments": {"email": email}}],
        }
    )
    copied = _good_blueprint(email, order_id).replace(
        f"with email {email}", "with email jane.doe1@example.com"
    )
    client.replies = [only_identify, copied]
    result = _run(domain, database, generator, iterations=2)
    assert "off-target blueprint" in result.tasks[0].metadata["earlier_failures"][0]
    task = result.tasks[0]
    assert "jane.doe1@example.com" not in task.instruction and email in task.instruction
    assert any("another user's email" in r for r in task.metadata["repairs"])


def test_an_instruction_that_only_says_who_the_user_is_gets_the_request(retail):
    import random

    from casework.domains.retail.llm_context import ensure_request, sample_target

    _, database = retail
    target = sample_target(random.Random(1), database, "order_cancellation")
    bare = f"You are Mateo Singh and your email is m.s@example.com. The order id is {target.ids[0]}."
    text, repairs = ensure_request(bare, target)
    assert text.startswith(bare) and "You want to cancel pending order" in text and repairs
    full = "You are Mateo and your email is m.s@example.com. You ordered it by mistake and want it cancelled."
    assert ensure_request(full, target) == (full, [])
