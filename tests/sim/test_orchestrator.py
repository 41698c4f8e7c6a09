"""The turn loop with in-process scripted agents: termination reasons, recording, robustness."""

from __future__ import annotations

import asyncio
import json

import pytest

from casework.domains import get_domain
from casework.sim.agents import Agent, AgentSetup, OracleAgent, TextActionAgent, agent_class
from casework.sim.orchestrator import Simulation, SimulationConfig
from casework.sim.types import AgentReply, Termination, ToolCall
from casework.sim.users import ScriptedUser, first_person
from casework.tasks.model import Action, Task

RETAIL = get_domain("retail")


@pytest.fixture(scope="module")
def database():
    return RETAIL.database()


@pytest.fixture(scope="module")
def pending_task(database) -> Task:
    orders = database.tables["orders"]
    order = next(o for o in orders.values() if o["status"] == "pending")
    user = database.tables["users"][order["user_id"]]
    return Task(
        id="t-cancel",
        user_id=order["user_id"],
        instruction=f"You are {user['name']['first_name']} and your email is {user['email']}. You want to cancel order {order['order_id']} because you no longer need it.",
        actions=[
            Action(name="find_user_id_by_email", arguments={"email": user["email"]}),
            Action(
                name="cancel_pending_order",
                arguments={"order_id": order["order_id"], "reason": "no longer needed"},
            ),
        ],
    )


class Scripted(Agent):
    """Replies from a fixed list (in-process 'model')."""

    def __init__(self, replies: list[AgentReply]):
        self.replies = list(replies)

    def reset(self, setup: AgentSetup) -> list[dict]:
        return [{"role": "system", "content": "policy"}]

    async def step(self, messages: list[dict]) -> AgentReply:
        return self.replies.pop(0) if self.replies else AgentReply(content="How else can I help?")


def simulate(database, task, agent, user=None, **config) -> object:
    from casework.runs.grading import ExpectedOutcome

    expected = ExpectedOutcome.of(RETAIL, database, task)
    sim = Simulation(
        domain=RETAIL,
        state=database.fork(),
        task=task,
        agent=agent,
        user=user if user is not None or config.get("mode") == "solo" else ScriptedUser(),
        config=SimulationConfig(**config),
        goal_reached=expected.goal_reached,
    )
    return asyncio.run(sim.run())


def call(name: str, **arguments) -> ToolCall:
    return ToolCall(id=f"c_{name}", name=name, arguments=json.dumps(arguments))


def test_oracle_with_scripted_user_reaches_the_goal(database, pending_task):
    outcome = simulate(database, pending_task, OracleAgent())
    assert outcome.termination_reason == Termination.USER_STOP
    assert [c.name for c in outcome.tool_calls] == ["find_user_id_by_email", "cancel_pending_order"]
    assert not any(c.error for c in outcome.tool_calls)
    roles = [m["role"] for m in outcome.messages]
    assert roles[:2] == ["system", "user"] and roles.count("tool") == 2 and roles[-1] == "user"
    assert len(outcome.message_times) == len(outcome.messages)
    assert (
        outcome.final_state["orders"][pending_task.actions[1].arguments["order_id"]]["status"] == "cancelled"
    )
    # The simulation's fork is isolated from the base database.
    assert database.tables["orders"][pending_task.actions[1].arguments["order_id"]]["status"] == "pending"


def test_step_limit_counts_agent_model_calls(database, pending_task):
    agent = Scripted([AgentReply(tool_calls=[call("think", thought="hmm")]) for _ in range(10)])
    outcome = simulate(database, pending_task, agent, max_steps=4)
    assert outcome.termination_reason == Termination.MAX_STEPS
    assert outcome.agent_steps == 4


def test_error_budget_ends_the_run_and_bad_calls_become_observations(database, pending_task):
    replies = [
        AgentReply(tool_calls=[ToolCall(id="a", name="get_order_details", arguments='{"order_id": ')]),
        AgentReply(tool_calls=[call("no_such_tool")]),
        AgentReply(tool_calls=[call("get_order_details", order_id="#nope")]),
    ]
    outcome = simulate(database, pending_task, Scripted(replies), max_errors=2)
    assert outcome.termination_reason == Termination.TOO_MANY_ERRORS
    observations = [c.observation for c in outcome.tool_calls]
    assert "not valid JSON" in observations[0]
    assert observations[1].startswith("Error: unknown tool")
    assert observations[2] == "Error: order not found"
    assert outcome.tool_calls[0].arguments == '{"order_id": '  # raw text kept when it is not JSON


def test_transfer_tool_ends_the_conversation(database, pending_task):
    outcome = simulate(
        database,
        pending_task,
        Scripted([AgentReply(tool_calls=[call("transfer_to_human_agents", summary="x")])]),
    )
    assert outcome.termination_reason == Termination.TRANSFER


def test_only_the_first_of_several_calls_runs_unless_parallel(database, pending_task):
    two = [call("think", thought="a"), call("list_all_product_types")]
    outcome = simulate(database, pending_task, Scripted([AgentReply(tool_calls=two)]), max_steps=1)
    assert [c.name for c in outcome.tool_calls] == ["think"] and outcome.dropped_tool_calls == 1
    outcome = simulate(
        database, pending_task, Scripted([AgentReply(tool_calls=two)]), max_steps=1, parallel_tool_calls=True
    )
    assert [c.name for c in outcome.tool_calls] == ["think", "list_all_product_types"]


def test_solo_mode_runs_without_a_user(database, pending_task):
    outcome = simulate(database, pending_task, OracleAgent(), mode="solo")
    assert outcome.termination_reason == Termination.AGENT_STOP
    assert outcome.messages[1] == {"role": "user", "content": first_person(pending_task.instruction)}
    assert len(outcome.tool_calls) == 2


def test_scripted_user_identifies_confirms_and_stops(pending_task):
    user = ScriptedUser(max_turns=5)
    from casework.domains import Database
    from casework.domains.retail import user_facts

    record = {"email": "a@b.c", "name": {"first_name": "A", "last_name": "B"}, "address": {"zip": "12345"}}
    state = Database({"users": {"a_b_1": record}}).fork()
    user.reset(pending_task, user_facts(state, "a_b_1"), None, lambda: False)
    reply = asyncio.run(user.respond("Could you give me your email address?"))
    assert reply.content == "My email is a@b.c." and reply.stop is None
    assert asyncio.run(user.respond("Shall I proceed with the cancellation?")).content.startswith("Yes")
    reply = asyncio.run(user.respond("Is there anything else?"))
    assert reply.stop == Termination.USER_STOP


def test_text_agent_renders_tool_turns_as_text():
    messages = [
        {"role": "system", "content": "p"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "1", "type": "function", "function": {"name": "think", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "1", "content": ""},
    ]
    rendered = TextActionAgent.to_text_messages(messages)
    assert rendered[1] == {"role": "assistant", "content": 'Action: {"name": "think", "arguments": {}}'}
    assert rendered[2] == {"role": "user", "content": "Observation: "}


def test_plugin_agents_load_by_path_and_bad_specs_explain():
    assert agent_class("casework.sim.agents:OracleAgent") is OracleAgent
    with pytest.raises(ValueError, match="no class"):
        agent_class("casework.sim.agents:Nope")
    with pytest.raises(ValueError, match="tool-calling"):
        agent_class("nonsense")


def test_a_user_that_ends_before_the_agent_spoke_is_an_abnormal_end(database, pending_task):
    from casework.sim.types import UserReply
    from casework.sim.users import UserSimulator

    class Quitter(UserSimulator):
        def reset(self, task, facts, persona, goal_reached) -> None:
            pass

        async def first_message(self) -> UserReply:
            return UserReply(content="###STOP###", stop=Termination.USER_STOP)

        async def respond(self, agent_message: str) -> UserReply:
            raise AssertionError("never reached")

    outcome = simulate(database, pending_task, OracleAgent(), user=Quitter())
    assert outcome.termination_reason == Termination.USER_STOP and outcome.agent_steps == 0
    assert outcome.user_abnormal_end == "the user simulator ended before the agent spoke"


def test_a_scripted_user_that_gives_up_is_recorded_as_an_abnormal_end(database, pending_task):
    outcome = simulate(database, pending_task, Scripted([]), user=ScriptedUser(max_repeats=1))
    assert outcome.termination_reason == Termination.USER_STOP
    assert outcome.user_abnormal_end and "scripted user" in outcome.user_abnormal_end


class Unparsable(Agent):
    """A model whose reply the endpoint could not parse (llama.cpp: a tool call cut off by max_tokens)."""

    def reset(self, setup: AgentSetup) -> list[dict]:
        return [{"role": "system", "content": "policy"}]

    async def step(self, messages: list[dict]) -> AgentReply:
        from casework.llm import CallRecord, LLMOutputError

        record = CallRecord(role="agent", model="m", error="InternalServerError: HTTP 500: Failed to parse")
        raise LLMOutputError("the agent model's reply could not be parsed", record)


def test_an_agent_reply_the_endpoint_cannot_parse_ends_as_the_agents_error(database, pending_task):
    outcome = simulate(database, pending_task, Unparsable())
    assert outcome.termination_reason == Termination.AGENT_ERROR
    assert "could not be parsed" in outcome.error
    assert [c["error"] for c in outcome.model_calls if c.get("error")] == [
        "InternalServerError: HTTP 500: Failed to parse"
    ]
