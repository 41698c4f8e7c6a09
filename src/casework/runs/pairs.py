"""One (task, trial) pair: simulate it and grade it into a result line.

Both backends call this code: the local asyncio :class:`~casework.runs.runner.Runner` (which is a
:class:`PairContext` itself) and the Ray workers of :mod:`casework.runs.ray_backend` (each builds a
:class:`PairContext` of its own with :meth:`PairContext.build`: the domain rebuilt by name, its own
database, fresh states forked per simulation). The same task, trial and seed therefore give the
same result line on either backend for deterministic agents (oracle, scripted user).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from casework.domains import Database, Domain, get_domain
from casework.runs.grading import NL_ASSERTION, ExpectedOutcome, components_for, fresh_state, grade
from casework.runs.judge import Judge
from casework.runs.records import parse_result
from casework.scoring.tau3 import GRADED_TERMINATIONS
from casework.sim.agents import agent_class
from casework.sim.orchestrator import Simulation, SimulationConfig, SimulationOutcome
from casework.sim.personas import PERSONAS, resolve_persona
from casework.sim.progress import ProgressCallback, SimulationProgress
from casework.sim.types import Termination
from casework.sim.users import LLMUser, ScriptedUser, UserSimulator
from casework.tasks.model import Task

if TYPE_CHECKING:
    from casework.runs.runner import RunConfig


def persona_for(config: RunConfig, task_index: int, trial: int) -> tuple[str, str] | None:
    if config.persona == "all":
        names = sorted(PERSONAS)
        rng = random.Random(f"{config.seed}:{task_index}:{trial}")
        name = rng.choice(names)
        return name, PERSONAS[name]
    return resolve_persona(config.persona)


class PairRunner(Protocol):
    """What simulating and grading a pair needs (the Runner and :class:`PairContext` have it)."""

    config: RunConfig
    domain: Domain
    database: Database
    policy: str
    agent_cls: Any
    agent_llm: Any
    user_llm: Any
    judge: Judge | None
    on_progress: ProgressCallback | None
    expected: dict[str, ExpectedOutcome]


@dataclass
class PairContext:
    """A worker's own copy of what a run's pairs need (no run directory, no results file)."""

    config: RunConfig
    domain: Domain
    database: Database
    policy: str
    agent_cls: Any
    agent_llm: Any = None
    user_llm: Any = None
    judge: Judge | None = None
    on_progress: ProgressCallback | None = None
    expected: dict[str, ExpectedOutcome] = field(default_factory=dict)
    agent_options: dict[str, Any] = field(default_factory=dict)  # e.g. experts, tool_choice

    @classmethod
    def build(cls, config: RunConfig, policy: str | None = None, **clients: Any) -> PairContext:
        """Rebuild the domain by name (``get_domain``) and its database, as the driver did."""
        domain = get_domain(config.domain)
        return cls(
            config=config,
            domain=domain,
            database=domain.database(config.data),
            policy=policy if policy is not None else domain.policy,
            agent_cls=agent_class(config.agent),
            **clients,
        )


def expected_for(ctx: PairRunner, task: Task) -> ExpectedOutcome:
    """The task's ground truth replayed once per task (cached in ``ctx.expected``)."""
    if task.id not in ctx.expected:
        ctx.expected[task.id] = ExpectedOutcome.of(ctx.domain, ctx.database, task)
    return ctx.expected[task.id]


def user_for(ctx: PairRunner) -> UserSimulator | None:
    if ctx.config.mode == "solo":
        return None
    if ctx.config.user == "llm":
        n = ctx.config.best_of_n or 1
        if n > 1:  # best-of-N user turns: candidates sampled, the run's judge picks one
            from casework.sim.best_of_n import BestOfNUser, SamplingClient

            llm = SamplingClient(ctx.user_llm) if ctx.user_llm is not None else None
            user = LLMUser(llm, enhance_query=ctx.config.enhance_query, role=ctx.domain.users.role)
            return BestOfNUser(user, getattr(ctx.judge, "llm", None), n)
        return LLMUser(ctx.user_llm, enhance_query=ctx.config.enhance_query, role=ctx.domain.users.role)
    return ScriptedUser()


async def simulate_pair(ctx: PairRunner, index: int, task: Task, trial: int) -> dict[str, Any]:
    """Simulate task ``task`` (``index`` in the task list) once as trial ``trial``; the graded line."""
    config = ctx.config
    expected = expected_for(ctx, task)
    persona = persona_for(config, index, trial)
    forward = ctx.on_progress

    def on_progress(event: SimulationProgress) -> None:
        if forward is not None:
            forward(event.model_copy(update={"trial": trial}))

    simulation = Simulation(
        domain=ctx.domain,
        state=fresh_state(ctx.domain, ctx.database, task),
        task=task,
        agent=ctx.agent_cls(llm=ctx.agent_llm, **getattr(ctx, "agent_options", {})),
        user=user_for(ctx),
        config=SimulationConfig(
            mode=config.mode,
            max_steps=config.max_steps,
            max_errors=config.max_errors,
            parallel_tool_calls=config.parallel_tool_calls,
        ),
        policy=ctx.policy,
        persona=persona,
        goal_reached=expected.goal_reached,
        on_progress=on_progress if forward is not None else None,
    )
    try:
        outcome = await asyncio.wait_for(simulation.run(), timeout=config.simulation_timeout_s)
    except TimeoutError:
        outcome = simulation.outcome(
            Termination.TIMEOUT, error=f"timed out after {config.simulation_timeout_s} s"
        )
    except Exception as exc:  # a bug in a plugin agent must not take the run down
        outcome = simulation.outcome(Termination.INFRASTRUCTURE_ERROR, error=f"{type(exc).__name__}: {exc}")
    verdicts = None
    judged = outcome.termination_reason.value in GRADED_TERMINATIONS  # else it scores 0 anyway
    if ctx.judge is not None and judged and task.nl_assertions and NL_ASSERTION in components_for(task):
        verdicts = await ctx.judge.judge(task.nl_assertions, outcome.messages)
    return result_line(ctx.domain, task, trial, outcome, expected, verdicts)


def result_line(
    domain: Domain,
    task: Task,
    trial: int,
    outcome: SimulationOutcome,
    expected: ExpectedOutcome,
    verdicts: Any = None,
) -> dict[str, Any]:
    """Grade a finished simulation into its ``results.jsonl`` line."""
    scores = grade(domain, expected, outcome, verdicts)
    judge_calls = [{**c, "role": "judge"} for c in verdicts.calls] if verdicts is not None else []
    line = {
        "task_id": task.id,
        "trial": trial,
        **scores,
        "termination_reason": outcome.termination_reason.value,
        "user_abnormal_end": outcome.user_abnormal_end,
        "error": outcome.error,
        "persona": outcome.persona,
        "scenario": task.scenario,
        "agent_steps": outcome.agent_steps,
        "tool_errors": outcome.tool_errors,
        "dropped_tool_calls": outcome.dropped_tool_calls,
        **outcome.timings,
        "expected_actions": [a.model_dump() for a in task.actions],
        "expected_outputs": task.outputs,
        "tool_calls": [c.model_dump(mode="json") for c in outcome.tool_calls],  # each with its requestor
        "messages": outcome.messages,
        "message_times": outcome.message_times,
        "model_calls": outcome.model_calls + judge_calls,
    }
    if outcome.user_turns:  # e.g. best-of-N user turns: every candidate with its score
        line["user_turns"] = outcome.user_turns
    return parse_result(line).to_line()
