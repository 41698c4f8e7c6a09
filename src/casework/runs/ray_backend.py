"""The Ray backend of ``casework run --backend ray`` (extra ``casework[ray]``; Ray is imported only here).

The driver (this process) plans the run exactly as the local backend does (:class:`Runner`: the
manifest, ``--resume``, the pending (task, trial) pairs) and stays the only writer of
``results.jsonl``. The pairs are simulated by ``--workers`` Ray actors (:class:`PairWorker`): each
rebuilds the domain by name (``get_domain``), loads its own database and forks a fresh state per
simulation, then simulates and grades the pair with the code the local backend runs
(:func:`casework.runs.pairs.simulate_pair`). Finished result lines stream back to the driver, which
appends each one as it arrives (``Runner.accept``: flushed at once, fsynced), so resume, summary
and reports do not know which backend ran.

Guarantees:

* A worker (or its node) lost mid-run: every pair it had in flight is put back in the queue and a
  new worker takes its place. A pair is recorded only when its result reaches the driver, once:
  nothing finished is lost or written twice.
* Endpoint concurrency limits hold cluster-wide: one :class:`EndpointLimiter` actor per endpoint
  (model + base URL) hands out ``max_concurrency`` permits to every worker's model calls.
* Secrets never travel: payloads hold the run configuration, the endpoint configs (which name the
  API key's environment variable, never the key) and the tasks; each worker reads the key from its
  own environment (set it on every node, e.g. in the environment ``ray start`` runs in).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from casework.runs.pairs import PairContext, simulate_pair
from casework.runs.runner import RunConfig, Runner, RunStopped
from casework.runs.store import ResultsStore
from casework.tasks.model import Task

RAY_MISSING = "--backend ray needs Ray: pip install 'casework[ray]'"
# Consecutive worker losses with no result in between that stop the run (workers cannot even start).
MAX_LOSSES_IN_A_ROW = 5
ROLES = ("agent", "user")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None) -> tuple[Any, bool]:
    """``(ray, started_here)``: join the cluster at ``address`` (``auto``, ``ray://host:10001``) or,
    with no address, start a local Ray instance; reuse the one this process already has."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ValueError(f"--address {address or '(local)'}: cannot connect to Ray ({exc})") from None
    return ray, True


class EndpointLimiter:
    """A cluster-wide semaphore for one endpoint (a Ray async actor): at most ``limit`` model calls
    in flight across every worker. Permits are held per worker, so a lost worker's permits are
    given back (:meth:`release_all`)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)
        self._held: dict[str, int] = {}
        self.in_use = 0
        self.peak = 0
        self.granted = 0

    async def acquire(self, holder: str) -> None:
        await self._semaphore.acquire()
        self._held[holder] = self._held.get(holder, 0) + 1
        self.in_use += 1
        self.granted += 1
        self.peak = max(self.peak, self.in_use)

    def release(self, holder: str) -> None:
        if self._held.get(holder, 0) > 0:
            self._held[holder] -= 1
            self.in_use -= 1
            self._semaphore.release()

    def release_all(self, holder: str) -> int:
        count = self._held.pop(holder, 0)
        for _ in range(count):
            self.in_use -= 1
            self._semaphore.release()
        return count

    def stats(self) -> dict[str, int]:
        return {"limit": self.limit, "in_use": self.in_use, "peak": self.peak, "granted": self.granted}


class LimitedClient:
    """A model client whose calls first take a permit from the endpoint's cluster-wide limiter."""

    def __init__(self, client: Any, limiter: Any, holder: str):
        self._client = client
        self._limiter = limiter
        self._holder = holder

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        await self._limiter.acquire.remote(self._holder)
        try:
            return await self._client.chat(*args, **kwargs)
        finally:
            self._limiter.release.remote(self._holder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class PairWorker:
    """A Ray actor that simulates and grades (task, trial) pairs of one run."""

    def __init__(
        self,
        config: dict[str, Any],
        policy: str,
        endpoints: dict[str, dict[str, Any] | None],
        limiters: dict[str, Any],
        client_factory: Callable[[], dict[str, Any]] | None = None,
        judge_id: str | None = None,
    ):
        from casework.llm import EndpointConfig
        from casework.llm.replicas import make_client
        from casework.runs.runner import agent_options_of

        ray = import_ray()
        self.holder = ray.get_runtime_context().get_actor_id()
        run_config = RunConfig.model_validate(config)
        # --cache: every worker opens the same directory (answers are written atomically under their
        # request's key, so concurrent writers of one key leave one whole file); on a cluster it
        # must be a directory every node sees, else each node only reuses its own answers
        cache = None
        if run_config.cache is not None:
            from casework.llm.cache import ResponseCache

            cache = ResponseCache(run_config.cache)

        def client_for(endpoint: dict[str, Any], role: str) -> Any:
            # the key is read here, from this worker's environment, by the variable's name
            client = make_client(  # replicas: a pool; calls in flight follow the run's concurrency
                EndpointConfig(**endpoint),
                role=role,
                keep_records=False,
                max_in_flight=run_config.concurrency,
                cache=cache,
            )
            limiter = limiters.get(role)
            return LimitedClient(client, limiter, self.holder) if limiter else client

        clients: dict[str, Any] = client_factory() if client_factory is not None else {}
        for role in ROLES if client_factory is None else ():
            endpoint = endpoints.get(role)
            clients[f"{role}_llm"] = None if endpoint is None else client_for(endpoint, role)
        judge_llm = clients.pop("judge_llm", None)
        if judge_llm is None and client_factory is None and endpoints.get("judge") is not None:
            judge_llm = client_for(endpoints["judge"], "judge")
        self.ctx = PairContext.build(run_config, policy, **clients)
        if judge_llm is not None:  # verdicts cached in memory here; the driver keeps the run's cache
            from casework.runs.judge import Judge

            self.ctx.judge = Judge(judge_llm, judge_id or "judge")
        self.ctx.agent_options = agent_options_of(run_config)
        experts = {name: client_for(e, f"expert:{name}") for name, e in (run_config.experts or {}).items()}
        if experts:
            self.ctx.agent_options["experts"] = experts
        gc.freeze()  # this worker's database and tasks: out of the collector's way (see frozen_heap)

    def pid(self) -> int:
        return os.getpid()

    async def simulate(self, index: int, task: dict[str, Any], trial: int) -> dict[str, Any]:
        return await simulate_pair(self.ctx, index, Task.model_validate(task), trial)


def _endpoint_of(client: Any) -> dict[str, Any] | None:
    """The endpoint config (as data: it names the key's variable, never holds the key) of a client."""
    config = getattr(client, "config", None)
    if config is None or client is None:
        return None
    dump = getattr(config, "model_dump", None)
    return dump(mode="json") if callable(dump) else None


class RayRunner(Runner):
    """:class:`Runner` whose pairs run on Ray actors; the driver keeps the one results writer."""

    def __init__(
        self,
        config: RunConfig,
        *,
        address: str | None = None,
        workers: int | None = None,
        client_factory: Callable[[], dict[str, Any]] | None = None,
        **kw: Any,
    ):
        """``client_factory`` (picklable; run on each worker) builds the workers' ``agent_llm`` /
        ``user_llm`` instead of the endpoint configs of the driver's clients (benchmarks, tests)."""
        super().__init__(config, **kw)
        self.client_factory = client_factory
        self.address = address
        self.workers = workers
        self.worker_pids: dict[str, int] = {}  # actor id -> process id, of the live workers
        self.worker_losses = 0
        self.requeued: list[tuple[str, int]] = []
        self.limiter_stats: dict[str, dict[str, int]] = {}
        self.sent: list[tuple[str, tuple[Any, ...]]] | None = None  # set to a list to record payloads

    # Every payload that leaves the driver goes through these two methods.
    def _remote(self, what: str, method: Any, *args: Any) -> Any:
        if self.sent is not None:
            self.sent.append((what, args))
        return method.remote(*args)

    def _endpoints(self) -> dict[str, dict[str, Any] | None]:
        """The endpoints the limiters guard: the agent's, the user's and each expert's."""
        experts = {f"expert:{name}": e for name, e in (self.config.experts or {}).items()}
        judge = _endpoint_of(self.judge.llm) if self.judge is not None else None
        return {
            "agent": _endpoint_of(self.agent_llm),
            "user": _endpoint_of(self.user_llm),
            **({"judge": judge} if judge is not None else {}),
            **experts,
        }

    def _limiters(self, ray: Any, endpoints: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
        """One limiter actor per distinct endpoint (model + base URL), shared by the roles using it."""
        actor = ray.remote(EndpointLimiter)
        by_endpoint: dict[tuple[str, str | None], Any] = {}
        limiters: dict[str, Any] = {}
        for role, endpoint in endpoints.items():
            if endpoint is None:
                continue
            key = (endpoint["model"], endpoint.get("base_url"))
            if key not in by_endpoint:
                # the run's concurrency, lowered by the endpoint's max_concurrency, per replica
                cap = endpoint.get("max_concurrency")
                limit = min(int(cap), self.config.concurrency) if cap else self.config.concurrency
                limit *= max(1, len(endpoint.get("base_urls") or []))
                by_endpoint[key] = self._remote(
                    "limiter", actor.options(num_cpus=0, max_concurrency=100_000), limit
                )
            limiters[role] = by_endpoint[key]
        return limiters

    async def run(self) -> dict[str, Any]:
        import time

        ray, started_here = connect(self.address, num_cpus=self.workers)
        from ray.exceptions import RayActorError, RayTaskError

        store: ResultsStore = self.prepare_directory()
        jobs = self.pending(store.finished())
        queue: deque[tuple[int, Task, int]] = deque(jobs)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        n_workers = max(1, min(self.workers or max(1, int(cpus)), len(jobs) or 1))
        per_worker = max(1, math.ceil(self.config.concurrency / n_workers))
        worker_cpus = min(1.0, cpus / n_workers)
        endpoints = self._endpoints()
        if self.judge is not None and "judge" not in endpoints and self.client_factory is None:
            raise ValueError(
                "--backend ray: the judge must be a model endpoint (model and base URL) so that the "
                "workers can open their own judge clients"
            )
        limiters = self._limiters(ray, endpoints)
        worker_actor = ray.remote(PairWorker).options(
            num_cpus=worker_cpus, max_concurrency=per_worker, max_restarts=0
        )
        config = self.config.model_dump(mode="json")
        if self.agent_options.get("experts") and not self.config.experts:
            raise ValueError(
                "--backend ray: the experts must be in the run configuration (RunConfig.experts) so "
                "that the workers can open their own clients"
            )
        workers: dict[str, Any] = {}  # actor id -> handle
        in_flight: dict[Any, tuple[str, tuple[int, Task, int]]] = {}
        load: dict[str, int] = {}

        pid_refs: dict[str, Any] = {}
        distinct_limiters = list({id(v): v for v in limiters.values()}.values())

        def spawn() -> None:
            handle = self._remote(
                "worker",
                worker_actor,
                config,
                self.policy,
                endpoints,
                limiters,
                self.client_factory,
                self.judge.judge_id if self.judge is not None else None,
            )
            actor_id = handle._actor_id.hex()
            workers[actor_id] = handle
            load[actor_id] = 0
            pid_refs[actor_id] = handle.pid.remote()

        def note_pids() -> None:
            if not pid_refs:
                return
            ready, _ = ray.wait(list(pid_refs.values()), num_returns=len(pid_refs), timeout=0)
            for actor_id, ref in list(pid_refs.items()):
                if ref in ready:
                    del pid_refs[actor_id]
                    with contextlib.suppress(RayActorError):  # the loss shows on its pairs
                        self.worker_pids[actor_id] = ray.get(ref)

        def lose(actor_id: str) -> None:
            handle = workers.pop(actor_id, None)
            if handle is None:
                return  # already replaced
            self.worker_losses += 1
            self.worker_pids.pop(actor_id, None)
            pid_refs.pop(actor_id, None)
            load.pop(actor_id, None)
            for limiter in distinct_limiters:
                limiter.release_all.remote(actor_id)
            ray.kill(handle, no_restart=True)
            spawn()

        streak = {"infra": 0, "last": ""}
        losses_in_a_row = 0
        started = time.perf_counter()
        stop: str | None = None
        recorded: set[tuple[str, int]] = set()
        try:
            for _ in range(n_workers):
                spawn()
            while True:
                note_pids()
                for actor_id in list(workers):
                    while queue and load[actor_id] < per_worker and stop is None:
                        job = queue.popleft()
                        index, task, trial = job
                        ref = self._remote(
                            "pair",
                            workers[actor_id].simulate,
                            index,
                            task.model_dump(mode="json"),
                            trial,
                        )
                        in_flight[ref] = (actor_id, job)
                        load[actor_id] += 1
                if not in_flight:
                    break
                ready, _ = await asyncio.to_thread(
                    ray.wait, list(in_flight), num_returns=1, timeout=1.0, fetch_local=True
                )
                if ready:
                    more, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
                    ready = list(dict.fromkeys([*ready, *more]))
                for ref in ready:
                    actor_id, job = in_flight.pop(ref)
                    if actor_id in load:
                        load[actor_id] -= 1
                    index, task, trial = job
                    try:
                        result = ray.get(ref)
                    except RayTaskError as exc:  # the pair's code raised: as the local backend does
                        raise exc.as_instanceof_cause() from None
                    except RayActorError as exc:
                        losses_in_a_row += 1
                        self.requeued.append((task.id, trial))
                        queue.appendleft(job)
                        if actor_id in workers:
                            self.on_note(
                                f"Ray worker {actor_id[:12]} lost ({str(exc).splitlines()[0][:200]}): "
                                "its unfinished pairs are re-queued, a new worker takes its place"
                            )
                        lose(actor_id)
                        if losses_in_a_row > MAX_LOSSES_IN_A_ROW:
                            raise RunStopped(
                                f"stopped: {losses_in_a_row} Ray workers in a row were lost without a result "
                                f"(last: {str(exc).splitlines()[0][:300]}); finished results are kept in "
                                f"{self.config.out / 'results.jsonl'}: continue with --resume"
                            ) from None
                        continue
                    losses_in_a_row = 0
                    pair = (str(result["task_id"]), int(result["trial"]))
                    if pair in recorded:  # cannot happen: a pair is in flight once at a time
                        raise RuntimeError(f"pair {pair} came back twice")
                    recorded.add(pair)
                    nl = (result.get("components") or {}).get("NL_ASSERTION") or {}
                    if self.judge is not None and nl.get("checks"):  # the worker's verdicts, for regrade
                        self.judge.remember(result.get("messages") or [], nl["checks"])
                    why = self.accept(store, result, streak)
                    if why and stop is None:
                        stop = why
                    if stop is None:
                        more = self.follow_up(result)
                        jobs.extend(more)
                        queue.extend(more)
                if stop is not None and not in_flight:
                    break
            for role, limiter in limiters.items():
                self.limiter_stats[role] = await limiter.stats.remote()
        finally:
            for handle in workers.values():
                ray.kill(handle, no_restart=True)
            for limiter in distinct_limiters:
                ray.kill(limiter, no_restart=True)
            summary = self.finish(store, started, len(jobs))
            if started_here:
                ray.shutdown()
        summary["backend"] = {
            "name": "ray",
            "workers": n_workers,
            "worker_losses": self.worker_losses,
            "requeued": len(self.requeued),
        }
        if stop:
            raise RunStopped(stop)
        return summary
