"""The runner: test an agent on a task file, concurrently and resumably, into a run directory.

Each (task, trial) pair is one simulation. Workers take pairs from a queue (``concurrency`` at a
time); every finished simulation is graded and appended to ``results.jsonl`` at once. The
``manifest.json`` records the configuration (no secrets), versions, git commit, seed and the task
file's hash; ``--resume`` skips finished pairs and refuses a directory made with another
configuration.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import platform
import random
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework import __version__
from casework.domains import Database, Domain, get_domain
from casework.runs.grading import ExpectedOutcome, grade
from casework.runs.store import (
    ResultsStore,
    RunDirError,
    finished_pairs,
    read_manifest,
    read_results,
    write_manifest,
)
from casework.runs.summary import write_summary
from casework.sim.agents import AgentSetup, agent_class
from casework.sim.orchestrator import Simulation, SimulationConfig, SimulationOutcome
from casework.sim.personas import PERSONAS, resolve_persona
from casework.sim.progress import ProgressCallback, SimulationProgress
from casework.sim.types import Termination
from casework.sim.users import LLMUser, ScriptedUser, UserSimulator
from casework.tasks import load_tasks
from casework.tasks.model import Task

# Settings that may change between a run and its --resume without changing the results' meaning.
RESUME_FREE = {"concurrency", "out", "resume", "dry_run"}
# How often a run asks ``endpoint_failure`` whether its model endpoint is gone (seconds).
ENDPOINT_CHECK_S = 0.5


class RunAborted(RuntimeError):
    """The run stopped because its model endpoint can no longer answer (e.g. the embedded model
    server exited). Finished simulations are on disk; simulations in flight were not recorded."""


class RunConfig(BaseModel):
    """Everything that defines a run. Serialised into the manifest, so it must never hold secrets."""

    model_config = ConfigDict(extra="forbid")

    tasks: Path
    out: Path
    domain: str = "retail"
    data: Path | None = None
    policy: Path | None = None
    agent: str = "tool-calling"
    mode: Literal["interactive", "solo", "oracle-plan"] = "interactive"
    user: Literal["scripted", "llm"] = "scripted"
    enhance_query: bool = False
    persona: str | None = None  # a built-in name, a text file, or "all" to cycle through the built-ins
    trials: int = Field(1, ge=1)
    concurrency: int = Field(8, ge=1)
    task_ids: list[str] | None = None
    seed: int = 0
    max_steps: int = Field(30, ge=1)
    max_errors: int = Field(10, ge=0)
    parallel_tool_calls: bool = False
    simulation_timeout_s: float = Field(900.0, gt=0)
    exclude_infrastructure: bool = False
    agent_endpoint: dict[str, Any] | None = None  # EndpointConfig as data (api_key_env names a variable)
    user_endpoint: dict[str, Any] | None = None
    resume: bool = False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    versions = {"casework": __version__, "python": platform.python_version(), "platform": platform.platform()}
    try:
        import openai

        versions["openai"] = openai.__version__
    except ImportError:  # pragma: no cover
        pass
    return versions


def build_manifest(config: RunConfig) -> dict[str, Any]:
    settings = config.model_dump(mode="json")
    fingerprint_source = {k: v for k, v in settings.items() if k not in RESUME_FREE}
    fingerprint_source["tasks_sha256"] = file_sha256(config.tasks)
    if config.policy is not None:
        fingerprint_source["policy_sha256"] = file_sha256(config.policy)
    return {
        "config": settings,
        "fingerprint": fingerprint_source,
        "tasks_sha256": fingerprint_source["tasks_sha256"],
        "seed": config.seed,
        "versions": _versions(),
        "git_commit": _git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def check_resume(existing: dict[str, Any], new: dict[str, Any]) -> None:
    old_fp, new_fp = existing.get("fingerprint", {}), new["fingerprint"]
    differing = sorted(k for k in set(old_fp) | set(new_fp) if old_fp.get(k) != new_fp.get(k))
    if differing:
        detail = "; ".join(f"{k}: {old_fp.get(k)!r} -> {new_fp.get(k)!r}" for k in differing)
        raise RunDirError(
            f"cannot resume: the run directory was made with a different configuration ({detail})"
        )


def persona_for(config: RunConfig, task_index: int, trial: int) -> tuple[str, str] | None:
    if config.persona == "all":
        names = sorted(PERSONAS)
        rng = random.Random(f"{config.seed}:{task_index}:{trial}")
        name = rng.choice(names)
        return name, PERSONAS[name]
    return resolve_persona(config.persona)


class Runner:
    """Runs a configured evaluation. ``agent_llm`` / ``user_llm`` are clients (or None for no model)."""

    def __init__(
        self,
        config: RunConfig,
        *,
        agent_llm: Any = None,
        user_llm: Any = None,
        on_result: Callable[[dict[str, Any]], None] | None = None,
        on_progress: ProgressCallback | None = None,
        endpoint_failure: Callable[[], str | None] | None = None,
    ):
        """``on_progress`` receives live progress events of every simulation; ``endpoint_failure``
        says why the model endpoint can no longer answer (None while it can): when it says so, the
        run stops with :class:`RunAborted` instead of recording infrastructure errors."""
        self.config = config
        self.agent_llm = agent_llm
        self.user_llm = user_llm
        self.on_result = on_result
        self.on_progress = on_progress
        self.endpoint_failure = endpoint_failure
        self.domain: Domain = get_domain(config.domain)
        self.database: Database = self.domain.database(config.data)
        self.policy = config.policy.read_text(encoding="utf-8") if config.policy else self.domain.policy
        self.tasks = self._select(load_tasks(config.tasks, domain=config.domain))
        self.agent_cls = agent_class(config.agent)
        self.expected: dict[str, ExpectedOutcome] = {}

    def _select(self, tasks: list[Task]) -> list[Task]:
        if not self.config.task_ids:
            return tasks
        wanted = set(self.config.task_ids)
        known = {t.id for t in tasks}
        unknown = sorted(wanted - known)
        if unknown:
            raise ValueError(
                f"--task-ids: no task with id {', '.join(map(repr, unknown))} in {self.config.tasks}"
            )
        return [t for t in tasks if t.id in wanted]

    # -- planning --------------------------------------------------------------------------------
    def pending(self, finished: set[tuple[str, int]]) -> list[tuple[int, Task, int]]:
        return [
            (i, task, trial)
            for trial in range(self.config.trials)
            for i, task in enumerate(self.tasks)
            if (task.id, trial) not in finished
        ]

    def prepare_directory(self) -> ResultsStore:
        out = self.config.out
        manifest = build_manifest(self.config)
        existing = read_manifest(out)
        if existing is not None:
            if not self.config.resume:
                raise RunDirError(
                    f"{out} already holds a run: pass --resume to continue it, or choose another --out"
                )
            check_resume(existing, manifest)
            manifest["created_at"] = existing.get("created_at", manifest["created_at"])
            manifest["resumed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        write_manifest(out, manifest)
        return ResultsStore(out)

    def finished_already(self) -> bool:
        """True when ``--resume`` of this configuration has nothing left to run (no model needed)."""
        existing = read_manifest(self.config.out)
        if not self.config.resume or existing is None:
            return False
        try:
            check_resume(existing, build_manifest(self.config))
        except RunDirError:
            return False
        return not self.pending(finished_pairs(self.config.out))

    def summarize(self) -> dict[str, Any]:
        """(Re)write summary.json/csv from the results on disk; the summary."""
        return write_summary(
            self.config.out,
            read_results(self.config.out),
            exclude_infrastructure=self.config.exclude_infrastructure,
            seed=self.config.seed,
        )

    def prompt_prefix(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None:
        """The agent's fixed prompt prefix (opening messages, tools it sends) for prompt caching, or
        None when the agent has none (see :meth:`casework.sim.agents.Agent.prompt_prefix`)."""
        if not self.tasks:
            return None
        try:
            agent = self.agent_cls(llm=self.agent_llm if self.agent_llm is not None else _NoModel())
        except Exception:  # a plugin agent that cannot be built without its model has no known prefix
            return None
        setup = AgentSetup(
            policy=self.policy,
            tools=self.domain.toolbox.openai_schemas(),
            task=self.tasks[0],
            mode=self.config.mode,
            parallel_tool_calls=self.config.parallel_tool_calls,
        )
        prefix = getattr(agent, "prompt_prefix", None)
        return prefix(setup) if callable(prefix) else None

    # -- one simulation --------------------------------------------------------------------------
    def _user(self) -> UserSimulator | None:
        if self.config.mode == "solo":
            return None
        if self.config.user == "llm":
            return LLMUser(self.user_llm, enhance_query=self.config.enhance_query)
        return ScriptedUser()

    def _expected(self, task: Task) -> ExpectedOutcome:
        if task.id not in self.expected:
            self.expected[task.id] = ExpectedOutcome.of(self.domain, self.database, task)
        return self.expected[task.id]

    async def simulate(self, index: int, task: Task, trial: int) -> dict[str, Any]:
        expected = self._expected(task)
        persona = persona_for(self.config, index, trial)
        forward = self.on_progress

        def on_progress(event: SimulationProgress) -> None:
            if forward is not None:
                forward(event.model_copy(update={"trial": trial}))

        simulation = Simulation(
            domain=self.domain,
            state=self.database.fork(),
            task=task,
            agent=self.agent_cls(llm=self.agent_llm),
            user=self._user(),
            config=SimulationConfig(
                mode=self.config.mode,
                max_steps=self.config.max_steps,
                max_errors=self.config.max_errors,
                parallel_tool_calls=self.config.parallel_tool_calls,
            ),
            policy=self.policy,
            persona=persona,
            goal_reached=expected.goal_reached,
            on_progress=on_progress if forward is not None else None,
        )
        try:
            outcome = await asyncio.wait_for(simulation.run(), timeout=self.config.simulation_timeout_s)
        except TimeoutError:
            outcome = simulation.outcome(
                Termination.TIMEOUT, error=f"timed out after {self.config.simulation_timeout_s} s"
            )
        except Exception as exc:  # a bug in a plugin agent must not take the run down
            outcome = simulation.outcome(
                Termination.INFRASTRUCTURE_ERROR, error=f"{type(exc).__name__}: {exc}"
            )
        return self.result(task, trial, outcome, expected)

    def _report_finished(self, result: dict[str, Any]) -> None:
        """The last progress event of a simulation, once its result is on disk."""
        if self.on_progress is None:
            return
        calls = result.get("tool_calls") or []
        self.on_progress(
            SimulationProgress(
                kind="finish",
                task_id=result["task_id"],
                trial=result["trial"],
                turn=sum(m.get("role") == "user" for m in result.get("messages") or []),
                step=result.get("agent_steps") or 0,
                tool_calls=len(calls),
                last_tool=calls[-1]["name"] if calls else None,
                elapsed_s=result.get("execution_time") or 0.0,
                termination=result["termination_reason"],
                success=bool(result.get("success")),
                reward=result.get("reward"),
            )
        )

    def result(
        self, task: Task, trial: int, outcome: SimulationOutcome, expected: ExpectedOutcome
    ) -> dict[str, Any]:
        scores = grade(self.domain, expected, outcome)
        return {
            "task_id": task.id,
            "trial": trial,
            **scores,
            "termination_reason": outcome.termination_reason.value,
            "error": outcome.error,
            "persona": outcome.persona,
            "scenario": task.scenario,
            "agent_steps": outcome.agent_steps,
            "tool_errors": outcome.tool_errors,
            "dropped_tool_calls": outcome.dropped_tool_calls,
            **outcome.timings,
            "expected_actions": [a.model_dump() for a in task.actions],
            "expected_outputs": task.outputs,
            "tool_calls": [c.model_dump(mode="json") for c in outcome.tool_calls],
            "messages": outcome.messages,
            "message_times": outcome.message_times,
            "model_calls": outcome.model_calls,
        }

    # -- the endpoint going away ------------------------------------------------------------------
    _endpoint_gone: str | None = None

    def _raise_if_endpoint_gone(self) -> None:
        reason = self.endpoint_failure() if self.endpoint_failure is not None else None
        if reason:
            self._endpoint_gone = reason
            raise RunAborted(reason)

    async def _watch_endpoint(self, workers: list[asyncio.Task[None]]) -> None:
        """Stop the simulations in flight as soon as the endpoint is gone (they would only fail)."""
        assert self.endpoint_failure is not None
        while True:
            await asyncio.sleep(ENDPOINT_CHECK_S)
            reason = self.endpoint_failure()
            if reason:
                self._endpoint_gone = reason
                for worker in workers:
                    worker.cancel()
                return

    # -- the whole run ---------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        store = self.prepare_directory()
        jobs = self.pending(store.finished())
        queue: asyncio.Queue[tuple[int, Task, int]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)

        async def worker() -> None:
            while True:
                try:
                    index, task, trial = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await self.simulate(index, task, trial)
                if result["termination_reason"] == Termination.INFRASTRUCTURE_ERROR.value:
                    self._raise_if_endpoint_gone()  # an error caused by the dead endpoint is not a result
                store.append(result)
                self._report_finished(result)
                if self.on_result is not None:
                    self.on_result(result)

        started = time.perf_counter()
        workers = [asyncio.create_task(worker()) for _ in range(min(self.config.concurrency, len(jobs)) or 1)]
        watcher = asyncio.create_task(self._watch_endpoint(workers)) if self.endpoint_failure else None
        try:
            try:
                await asyncio.gather(*workers)
            except asyncio.CancelledError:
                if self._endpoint_gone is None:
                    raise
                raise RunAborted(self._endpoint_gone) from None
        finally:
            if watcher is not None:
                watcher.cancel()
            for w in workers:
                w.cancel()
            store.close()
            summary = write_summary(
                self.config.out,
                read_results(self.config.out),
                exclude_infrastructure=self.config.exclude_infrastructure,
                seed=self.config.seed,
            )
        summary["wall_time_s"] = time.perf_counter() - started
        summary["simulations_this_session"] = len(jobs)
        return summary


class _NoModel:
    """Stands in for a client when an agent is built only to read its prompt prefix."""


def dry_run_report(config: RunConfig) -> dict[str, Any]:
    """Check configuration and tasks without calling a model; render the prompts and estimate tokens."""
    from casework.sim.agents import AgentSetup, system_prompt

    runner = Runner(config)
    problems = []
    for task in runner.tasks:
        expected = runner._expected(task)
        if expected.errors:
            problems.append(f"task {task.id}: ground truth has {expected.errors} erroring action(s)")
    first = runner.tasks[0] if runner.tasks else None
    tools = runner.domain.toolbox.openai_schemas()
    prompt = (
        system_prompt(AgentSetup(policy=runner.policy, tools=tools, task=first, mode=config.mode))
        if first
        else ""
    )
    prompt_tokens = (len(prompt) + len(json.dumps(tools))) // 4  # ~4 characters per token
    simulations = len(runner.tasks) * config.trials
    return {
        "tasks": len(runner.tasks),
        "simulations": simulations,
        "system_prompt": prompt,
        "tools": len(tools),
        "estimated_prompt_tokens_per_call": prompt_tokens,
        "estimated_prompt_tokens": prompt_tokens * simulations * 8,  # assumes ~8 agent calls per simulation
        "problems": problems,
    }
