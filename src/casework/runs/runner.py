"""The runner: test an agent on a task file, concurrently and resumably, into a run directory.

Each (task, trial) pair is one simulation. Workers take pairs from a queue (``concurrency`` at a
time); every finished simulation is graded and appended to ``results.jsonl`` at once. The
``manifest.json`` records the configuration (no secrets), versions, git commit, seed and the task
file's hash; ``--resume`` skips finished pairs and refuses a directory made with another
configuration.

Infrastructure errors (an endpoint that failed after its retries) are not final: ``--resume``
moves them to ``results.retried.jsonl`` and runs those pairs again (``retry_infrastructure``). A run
whose last ``stop_after`` simulations in a row all ended in infrastructure errors stops with
:class:`RunStopped` (the endpoint is down: the embedded server died, a port is closed, a key is
refused) instead of filling the results with errors; what finished is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework import __version__
from casework.domains import Database, Domain, get_domain
from casework.domains.registry import DEFAULT_DOMAIN
from casework.runs.grading import NL_ASSERTION, ExpectedOutcome, components_for
from casework.runs.judge import CACHE_FILE, Judge, JudgeCache
from casework.runs.pairs import expected_for, result_line, simulate_pair, user_for
from casework.runs.preflight import check_ground_truth, check_task_domains, select
from casework.runs.records import SCHEMA_VERSION, RecordError, parse_result, read_records
from casework.runs.store import (
    ResultsStore,
    RunDirError,
    finished_pairs,
    read_manifest,
    read_results,
    rewrite_results,
    write_manifest,
)
from casework.runs.summary import write_summary
from casework.scoring import is_infrastructure_error
from casework.sim.agents import AgentSetup, agent_class
from casework.sim.orchestrator import SimulationOutcome
from casework.sim.progress import ProgressCallback, SimulationProgress
from casework.sim.types import Termination
from casework.sim.users import UserSimulator
from casework.tasks import load_tasks
from casework.tasks.model import Task
from casework.tasks.splits import select_split

# Settings that may change between a run and its --resume without changing the results' meaning.
RESUME_FREE = {"concurrency", "out", "resume", "dry_run", "retry_infrastructure", "cache"}
# How often a run asks ``endpoint_failure`` whether its model endpoint is gone (seconds).
ENDPOINT_CHECK_S = 0.5
# Settings that are paths: the same file named relatively or absolutely is the same setting.
PATH_SETTINGS = ("tasks", "data", "policy")
# Endpoint fields that say how to reach a model, not which model answers: a --resume may change
# them (e.g. the retry of infrastructure errors against a server that moved to a working port).
TRANSPORT_FIELDS = {
    "base_url",
    "api_key_env",
    "timeout_s",
    "max_retries",
    "max_concurrency",
    "base_urls",
    "transport",
    "stream",
    "price",
}
ENDPOINT_SETTINGS = ("agent_endpoint", "user_endpoint")


class RunStopped(RuntimeError):
    """The run stopped early because its endpoint is down; finished results are kept."""


class RunAborted(RuntimeError):
    """The run stopped because its model endpoint can no longer answer (e.g. the embedded model
    server exited). Finished simulations are on disk; simulations in flight were not recorded."""


class RunConfig(BaseModel):
    """Everything that defines a run. Serialised into the manifest, so it must never hold secrets."""

    model_config = ConfigDict(extra="forbid")

    tasks: Path
    out: Path
    domain: str = DEFAULT_DOMAIN
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
    split: str | None = None  # a τ³ split (train | test | base) from split_tasks.json beside the tasks
    seed: int = 0
    max_steps: int = Field(30, ge=1)
    max_errors: int = Field(10, ge=0)
    parallel_tool_calls: bool = False
    simulation_timeout_s: float = Field(900.0, gt=0)
    exclude_infrastructure: bool = False
    agent_endpoint: dict[str, Any] | None = None  # EndpointConfig as data (api_key_env names a variable)
    user_endpoint: dict[str, Any] | None = None
    judge_endpoint: dict[str, Any] | None = None
    #: expert models the agent may consult (``call_expert``), by name: endpoints as data (model,
    #: base URL, the key's variable name; never a key)
    experts: dict[str, dict[str, Any]] | None = None
    tool_choice: str | None = None  # the agent's tool_choice policy (None: its default, auto)
    cache: Path | None = None  # the response cache directory (--cache), shared by every worker
    resume: bool = False
    retry_infrastructure: bool = True  # --resume re-runs pairs that ended in infrastructure errors
    #: ``casework collect`` (rejection sampling): trials are attempts, and a task stops at this many
    #: accepted (unique reward-1) trajectories; None: a plain run (see :mod:`casework.runs.collect`)
    collect_successes: int | None = Field(None, ge=1)
    #: best-of-N user turns: the LLM user samples this many candidate messages per turn and a judge
    #: picks the most faithful one (:class:`casework.sim.best_of_n.BestOfNUser`); None or 1: off
    best_of_n: int | None = Field(None, ge=1)


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
        "schema_version": SCHEMA_VERSION,
        "config": settings,
        "fingerprint": fingerprint_source,
        "tasks_sha256": fingerprint_source["tasks_sha256"],
        "seed": config.seed,
        "versions": _versions(),
        "git_commit": _git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _same_path(old: Any, new: Any) -> bool:
    if old == new:
        return True
    if old is None or new is None:
        return False
    try:
        return Path(old).resolve() == Path(new).resolve()
    except (OSError, RuntimeError):
        return False


def _without_transport(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in endpoint.items() if k not in TRANSPORT_FIELDS}


def check_resume(existing: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse to resume with another configuration. Paths are compared resolved, and the task file
    also counts as the same when its sha256 (in the fingerprint) is unchanged."""
    old_fp, new_fp = existing.get("fingerprint", {}), new["fingerprint"]
    same_tasks = old_fp.get("tasks_sha256") is not None and old_fp.get("tasks_sha256") == new_fp.get(
        "tasks_sha256"
    )

    def differs(key: str) -> bool:
        old, fresh = old_fp.get(key), new_fp.get(key)
        if key == "tasks" and same_tasks:
            return False
        if key in PATH_SETTINGS:
            return not _same_path(old, fresh)
        if key in ENDPOINT_SETTINGS and isinstance(old, dict) and isinstance(fresh, dict):
            return _without_transport(old) != _without_transport(fresh)
        if key == "experts" and isinstance(old, dict) and isinstance(fresh, dict):
            return {k: _without_transport(v) for k, v in old.items()} != {
                k: _without_transport(v) for k, v in fresh.items()
            }
        return old != fresh

    differing = sorted(k for k in set(old_fp) | set(new_fp) if differs(k))
    if differing:
        detail = "; ".join(f"{k}: {old_fp.get(k)!r} -> {new_fp.get(k)!r}" for k in differing)
        raise RunDirError(
            f"cannot resume: the run directory was made with a different configuration ({detail})"
        )


class Runner:
    """Runs a configured evaluation. ``agent_llm`` / ``user_llm`` are clients (or None for no model)."""

    def __init__(
        self,
        config: RunConfig,
        *,
        agent_llm: Any = None,
        user_llm: Any = None,
        on_result: Callable[[dict[str, Any]], None] | None = None,
        on_note: Callable[[str], None] | None = None,
        stop_after: int | None = None,
        judge_llm: Any = None,
        judge_id: str | None = None,
        require_judge: bool = True,
        on_progress: ProgressCallback | None = None,
        endpoint_failure: Callable[[], str | None] | None = None,
    ):
        """``on_progress`` receives live progress events of every simulation; ``endpoint_failure``
        says why the model endpoint can no longer answer (None while it can): when it says so, the
        run stops with :class:`RunAborted` instead of recording infrastructure errors."""
        self.config = config
        self.agent_llm = agent_llm
        self.user_llm = user_llm
        # extra keyword arguments of the agent: the expert clients (set by the caller, who opens and
        # closes them) and the tool_choice policy of the configuration
        self.agent_options: dict[str, Any] = agent_options_of(config)
        self.on_result = on_result
        self.on_note = on_note or (lambda text: print(text, file=sys.stderr, flush=True))
        # Consecutive infrastructure errors that stop the run (the endpoint is down).
        self.stop_after = stop_after if stop_after is not None else max(3, config.concurrency + 2)
        self.on_progress = on_progress
        self.endpoint_failure = endpoint_failure
        self.domain: Domain = get_domain(config.domain)
        self.database: Database = self.domain.database(config.data)
        self.policy = (
            config.policy.read_text(encoding="utf-8")
            if config.policy
            else self.domain.policies.get("solo", self.domain.policy)
            if config.mode == "solo"
            else self.domain.policy
        )
        loaded = load_tasks(config.tasks, domain=config.domain)
        check_task_domains(loaded, config.domain, config.tasks)
        loaded, self.split_missing = select_split(loaded, config.tasks, config.split)
        self.tasks = select(loaded, config.task_ids, config.tasks)
        check_ground_truth(self.tasks, config.tasks)
        if config.policy is None:  # safety probes: the domain's safety & ethics section is appended
            from casework.generate.safety import policy_with_safety

            self.policy = policy_with_safety(self.policy, self.domain, self.tasks)
        self.agent_cls = agent_class(config.agent)
        self.expected: dict[str, ExpectedOutcome] = {}
        self.judge: Judge | None = None
        if judge_llm is not None:
            self.set_judge(judge_llm, judge_id)
        elif require_judge and needs_judge(self.tasks):
            raise ValueError(
                f"{config.tasks}: tasks have NL assertions (reward_basis NL_ASSERTION) but no judge is "
                "configured: pass --judge-model (or let the embedded model judge)"
            )

    def set_judge(self, judge_llm: Any, judge_id: str | None = None) -> None:
        """Judge NL assertions with ``judge_llm`` (verdicts cached in the run directory)."""
        model = getattr(getattr(judge_llm, "config", None), "model", None)
        self.judge = Judge(judge_llm, judge_id or model or "judge", JudgeCache(self.config.out / CACHE_FILE))

    # -- planning --------------------------------------------------------------------------------
    def pending(self, finished: set[tuple[str, int]]) -> list[tuple[int, Task, int]]:
        return [
            (i, task, trial)
            for trial in range(self.config.trials)
            for i, task in enumerate(self.tasks)
            if (task.id, trial) not in finished
        ]

    def follow_up(self, result: dict[str, Any]) -> list[tuple[int, Task, int]]:
        """Pairs to run because ``result`` was just recorded (every backend asks after each result).
        A plain run plans every pair up front (none); ``casework collect`` plans the next attempt."""
        return []

    def progress_span(self, finished: set[tuple[str, int]]) -> tuple[int, int]:
        """(simulations in the run at most, simulations already finished) for the progress display."""
        total = len(self.tasks) * self.config.trials
        return total, total - len(self.pending(finished))

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
            retry = (
                (lambda r: is_infrastructure_error(r.get("termination_reason")))
                if self.config.retry_infrastructure
                else None
            )
            moved = rewrite_results(out, retry=retry)
            for line in moved["quarantined"]:
                self.on_note(
                    f"unreadable result line moved to {out / 'results.quarantine'}, its pair re-runs: {line}"
                )
            if moved["retried"]:
                self.on_note(
                    f"retrying {len(moved['retried'])} simulation(s) that ended in infrastructure errors "
                    f"(old lines kept in {out / 'results.retried.jsonl'}): {', '.join(moved['retried'][:10])}"
                    + (" …" if len(moved["retried"]) > 10 else "")
                )
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
        if self.config.retry_infrastructure and any(
            is_infrastructure_error(r.get("termination_reason")) for r in read_results(self.config.out)
        ):
            return False  # those are re-run
        return not self.pending(finished_pairs(self.config.out))

    def summarize(self) -> dict[str, Any]:
        """(Re)write summary.json/csv from the results on disk; the summary."""
        summary = write_summary(
            self.config.out,
            read_records(self.config.out),
            exclude_infrastructure=self.config.exclude_infrastructure,
            seed=self.config.seed,
        )
        self._add_studies(summary)
        return summary

    def prompt_prefix(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None:
        """The agent's fixed prompt prefix (opening messages, tools it sends) for prompt caching, or
        None when the agent has none (see :meth:`casework.sim.agents.Agent.prompt_prefix`)."""
        if not self.tasks:
            return None
        try:
            agent = self.agent_cls(
                llm=self.agent_llm if self.agent_llm is not None else _NoModel(), **self.agent_options
            )
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
        return user_for(self)

    def _expected(self, task: Task) -> ExpectedOutcome:
        return expected_for(self, task)

    async def simulate(self, index: int, task: Task, trial: int) -> dict[str, Any]:
        """One pair, simulated and graded by the code every backend shares (:mod:`casework.runs.pairs`)."""
        return await simulate_pair(self, index, task, trial)

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
        self,
        task: Task,
        trial: int,
        outcome: SimulationOutcome,
        expected: ExpectedOutcome,
        verdicts: Any = None,
    ) -> dict[str, Any]:
        return result_line(self.domain, task, trial, outcome, expected, verdicts)

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
    def _add_studies(self, summary: dict[str, Any], results: list[dict[str, Any]] | None = None) -> None:
        """Summary sections that need the tasks and the domain (robustness to perturbations);
        ``results``: the run's result lines when the caller has just read them."""
        from casework.runs.studies import add_to_summary, robustness_section

        if results is None:
            results = read_results(self.config.out)
        section = robustness_section(results, self.tasks, self.domain, self.database, self.config.seed)
        add_to_summary(self.config.out, summary, "robustness", section)
        from casework.runs.studies import study_sections

        for key, value in study_sections(results, self.tasks, self.domain, self.database).items():
            add_to_summary(self.config.out, summary, key, value)

    def accept(self, store: ResultsStore, result: dict[str, Any], streak: dict[str, Any]) -> str | None:
        """Record a finished simulation (every backend's one writer); why the run must stop, if it must.

        ``streak`` counts consecutive infrastructure errors (``{"infra": 0, "last": ""}`` to start)."""
        if result["termination_reason"] == Termination.INFRASTRUCTURE_ERROR.value:
            self._raise_if_endpoint_gone()  # an error caused by the dead endpoint is not a result
        store.append(result)
        self._report_finished(result)
        if self.on_result is not None:
            self.on_result(result)
        if is_infrastructure_error(result.get("termination_reason")):
            streak["infra"] += 1
            streak["last"] = str(result.get("error") or "")
        else:
            streak["infra"] = 0
        if streak["infra"] >= self.stop_after:
            return (
                f"stopped: the last {streak['infra']} simulations all ended in infrastructure errors, "
                f"the endpoint looks down (last error: {streak['last'][:300]}); finished results are "
                f"kept in {self.config.out / 'results.jsonl'}: fix the endpoint and continue with --resume"
            )
        return None

    def finish(self, store: ResultsStore, started: float, jobs: int) -> dict[str, Any]:
        """Close the results file and (re)write the summary from what is on disk."""
        store.close()
        results = read_results(self.config.out)  # read once: the summary and the studies share it
        try:
            records = [parse_result(line) for line in results]
        except RecordError as exc:
            raise RecordError(f"{self.config.out / 'results.jsonl'}: {exc}") from None
        summary = write_summary(
            self.config.out,
            records,
            exclude_infrastructure=self.config.exclude_infrastructure,
            seed=self.config.seed,
        )
        self._add_studies(summary, results)
        summary["wall_time_s"] = time.perf_counter() - started
        summary["simulations_this_session"] = jobs
        return summary

    async def run(self) -> dict[str, Any]:
        with frozen_heap():
            return await self._run_pairs()

    async def _run_pairs(self) -> dict[str, Any]:
        store = self.prepare_directory()
        jobs = self.pending(store.finished())
        queue: asyncio.Queue[tuple[int, Task, int]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)

        streak = {"infra": 0, "last": ""}
        stopped: list[str] = []

        async def worker() -> None:
            while not stopped:
                try:
                    index, task, trial = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await self.simulate(index, task, trial)
                stop = self.accept(store, result, streak)
                if not stop:
                    more = self.follow_up(result)
                    jobs.extend(more)
                    for job in more:
                        queue.put_nowait(job)
                if stop and not stopped:
                    stopped.append(stop)
                    for w in workers:
                        if w is not asyncio.current_task():
                            w.cancel()

        started = time.perf_counter()
        workers = [asyncio.create_task(worker()) for _ in range(min(self.config.concurrency, len(jobs)) or 1)]
        watcher = asyncio.create_task(self._watch_endpoint(workers)) if self.endpoint_failure else None
        try:
            # A worker cancelled by a stop ends with CancelledError; any other exception is raised.
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
            if self._endpoint_gone is not None:
                raise RunAborted(self._endpoint_gone)
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                    raise outcome
        finally:
            if watcher is not None:
                watcher.cancel()
            for w in workers:
                w.cancel()
            summary = self.finish(store, started, len(jobs))
        if stopped:
            raise RunStopped(stopped[0])
        return summary


@contextlib.contextmanager
def frozen_heap():
    """Leave what is alive now (the domain's database, the tasks, the clients) out of the garbage
    collector's work while the block runs (``gc.freeze``; ``gc.unfreeze`` after it).

    A run allocates many short-lived objects per model call, so the collector runs often, and each
    full collection walked the whole database: measured with ``casework bench sim``, about 0.3 ms
    of harness CPU per model call went to collections. Frozen objects are only skipped, never
    freed early; garbage made during the run is collected as before, in fewer, larger young
    collections (generation-0 threshold at least 10,000 objects instead of 700)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 10_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def agent_options_of(config: RunConfig) -> dict[str, Any]:
    """The agent's keyword arguments that the configuration itself sets (``tool_choice``)."""
    return {"tool_choice": config.tool_choice} if config.tool_choice not in (None, "auto") else {}


class _NoModel:
    """Stands in for a client when an agent is built only to read its prompt prefix."""


def dry_run_report(config: RunConfig) -> dict[str, Any]:
    """Check configuration and tasks without calling a model; render the prompts and estimate tokens."""
    from casework.sim.agents import AgentSetup, system_prompt

    runner = Runner(config, require_judge=False)  # a dry run calls no model, the judge included
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


def needs_judge(tasks: list[Task]) -> bool:
    """Whether grading these tasks asks a judge model (some task has NL assertions in its basis)."""
    return any(t.nl_assertions and NL_ASSERTION in components_for(t) for t in tasks)


def config_needs_judge(config: RunConfig) -> bool:
    """Whether the run's tasks (after ``--split`` and ``--task-ids``) need a judge model."""
    tasks = select_split(load_tasks(config.tasks, domain=config.domain), config.tasks, config.split)[0]
    if config.task_ids:
        tasks = [t for t in tasks if t.id in set(config.task_ids)]
    return needs_judge(tasks)
