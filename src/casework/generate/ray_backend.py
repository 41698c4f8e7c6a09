"""``casework generate --backend ray``: generation slots on Ray workers (extra ``casework[ray]``).

Each worker (:class:`SlotWorker`) builds its own pipeline (the domain by name, its own database,
the generator and reviewers, model clients from endpoint configs that name the key's variable) and
runs attempts up to de-duplication (:meth:`Pipeline.propose`). The driver keeps everything that
depends on order: it de-duplicates each slot against the slots before it (:meth:`Pipeline.decide`),
sends failed slots back with their feedback, writes the rejected candidates and the progress file
in slot order (its one writer) - so a deterministic generator (``templated``) writes the same task
file as the local backend. A lost worker's attempts are sent again; nothing is recorded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from casework.generate.pipeline import (
    Attempt,
    Pipeline,
    SlotOutcome,
    add_counters,
    feedback_for,
    new_counters,
)
from casework.runs.ray_backend import MAX_LOSSES_IN_A_ROW, EndpointLimiter, LimitedClient, connect

# ``build(client, reviewers) -> Pipeline``, picklable: run on every worker
PipelineBuilder = Callable[[Any, list[Any]], Pipeline]


class SlotWorker:
    """A Ray actor that runs generation attempts of one pipeline."""

    def __init__(
        self,
        build: PipelineBuilder,
        endpoints: list[dict[str, Any] | None],
        limiters: list[Any],
    ):
        from casework.llm import EndpointConfig, LLMClient
        from casework.runs.ray_backend import import_ray

        holder = import_ray().get_runtime_context().get_actor_id()
        clients: list[Any] = []
        made: dict[str, Any] = {}
        for endpoint, limiter in zip(endpoints, limiters, strict=True):
            if endpoint is None:
                clients.append(None)
                continue
            key = repr(sorted(endpoint.items()))
            if key not in made:  # committee members on one endpoint share its client, as locally
                client = LLMClient(EndpointConfig(**endpoint), role="generator", keep_records=False)
                made[key] = LimitedClient(client, limiter, holder) if limiter is not None else client
            clients.append(made[key])
        self.pipeline = build(clients[0] if clients else None, clients[1:])

    def pid(self) -> int:
        import os

        return os.getpid()

    async def propose(
        self, index: int, iteration: int, feedback: str | None
    ) -> tuple[Attempt, dict[str, Any]]:
        counters = new_counters()
        attempt = await self.pipeline.propose(index, iteration, feedback, counters)
        return attempt, counters


@dataclass
class _Slot:
    failures: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[tuple[int, Any, list[dict[str, Any]]]] = field(default_factory=list)
    ready: tuple[int, Attempt] | None = None
    final: SlotOutcome | None = None


def _config_of(client: Any) -> dict[str, Any] | None:
    config = getattr(client, "config", None) if client is not None else None
    dump = getattr(config, "model_dump", None)
    return dump(mode="json") if callable(dump) else None


class RaySlots:
    """``pipeline.slots_runner`` that runs the slots on Ray (see the module's docstring)."""

    def __init__(
        self,
        build: PipelineBuilder,
        *,
        client: Any = None,
        reviewers: list[Any] | None = None,
        address: str | None = None,
        workers: int | None = None,
    ):
        self.build = build
        self.endpoints = [_config_of(client), *(_config_of(r) for r in reviewers or [])]
        self.address = address
        self.workers = workers
        self.worker_pids: dict[str, int] = {}
        self.worker_losses = 0
        self.resent = 0
        self.sent: list[tuple[str, tuple[Any, ...]]] | None = None  # set to a list to record payloads
        self.on_note: Callable[[str], None] = lambda text: None

    def _remote(self, what: str, method: Any, *args: Any) -> Any:
        if self.sent is not None:
            self.sent.append((what, args))
        return method.remote(*args)

    async def __call__(
        self, pipeline: Pipeline, todo: list[int], record: Callable[[SlotOutcome], None]
    ) -> None:
        ray, started_here = connect(self.address, num_cpus=self.workers)
        from ray.exceptions import RayActorError, RayTaskError

        try:
            await self._run(ray, RayActorError, RayTaskError, pipeline, todo, record)
        finally:
            if started_here:
                ray.shutdown()

    async def _run(self, ray: Any, RayActorError: Any, RayTaskError: Any, pipeline, todo, record) -> None:  # noqa: N803
        if not todo:
            return
        limit = max(1, pipeline.config.max_iterations)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        n_workers = max(1, min(self.workers or max(1, int(cpus)), len(todo)))
        per_worker = max(2, math.ceil(pipeline.config.concurrency / n_workers))
        limiter_actor = ray.remote(EndpointLimiter).options(num_cpus=0, max_concurrency=100_000)
        by_endpoint: dict[tuple[str, Any], Any] = {}
        limiters: list[Any] = []
        for endpoint in self.endpoints:
            if endpoint is None:
                limiters.append(None)
                continue
            key = (endpoint["model"], endpoint.get("base_url"))
            if key not in by_endpoint:
                by_endpoint[key] = self._remote(
                    "limiter", limiter_actor, int(endpoint.get("max_concurrency") or 1)
                )
            limiters.append(by_endpoint[key])
        worker_actor = ray.remote(SlotWorker).options(
            num_cpus=min(1.0, cpus / n_workers), max_concurrency=per_worker, max_restarts=0
        )
        workers: dict[str, Any] = {}
        load: dict[str, int] = {}
        pid_refs: dict[str, Any] = {}

        def spawn() -> None:
            handle = self._remote("worker", worker_actor, self.build, self.endpoints, limiters)
            actor_id = handle._actor_id.hex()
            workers[actor_id], load[actor_id] = handle, 0
            pid_refs[actor_id] = handle.pid.remote()

        def lose(actor_id: str) -> None:
            handle = workers.pop(actor_id, None)
            if handle is None:
                return
            self.worker_losses += 1
            self.worker_pids.pop(actor_id, None)
            pid_refs.pop(actor_id, None)
            load.pop(actor_id, None)
            for limiter in by_endpoint.values():
                limiter.release_all.remote(actor_id)
            ray.kill(handle, no_restart=True)
            spawn()

        slots = {index: _Slot() for index in todo}
        order = sorted(todo)
        position = 0
        queue: deque[tuple[int, int, str | None]] = deque((index, 0, None) for index in order)
        in_flight: dict[Any, tuple[str, tuple[int, int, str | None]]] = {}
        losses_in_a_row = 0

        def advance() -> None:
            """Decide (de-duplicate) and record the slots in order, as far as they are ready."""
            nonlocal position
            while position < len(order):
                index = order[position]
                slot = slots[index]
                if slot.ready is not None:
                    iteration, attempt = slot.ready
                    slot.ready = None
                    task, failures = pipeline.decide(attempt)
                    if task is not None:
                        slot.final = pipeline.accepted(index, iteration, task, slot.failures)
                    else:
                        failed(index, iteration, attempt.candidate, failures)
                if slot.final is None:
                    return
                for iteration, candidate, failures in slot.rejects:
                    pipeline._reject(index, iteration, candidate, failures)
                record(slot.final)
                position += 1

        def failed(index: int, iteration: int, candidate: Any, failures: list[dict[str, Any]]) -> None:
            slot = slots[index]
            slot.rejects.append((iteration, candidate, failures))
            slot.failures += [dict(f, iteration=iteration) for f in failures]
            if iteration + 1 < limit:
                queue.appendleft((index, iteration + 1, feedback_for(failures)))
            else:
                slot.final = SlotOutcome(index, None, pipeline.config.max_iterations, slot.failures)

        try:
            for _ in range(n_workers):
                spawn()
            while True:
                for actor_id, pid_ref in list(pid_refs.items()):
                    if ray.wait([pid_ref], timeout=0)[0]:
                        del pid_refs[actor_id]
                        with contextlib.suppress(RayActorError):
                            self.worker_pids[actor_id] = ray.get(pid_ref)
                for actor_id in list(workers):
                    while queue and load[actor_id] < per_worker:
                        job = queue.popleft()
                        ref = self._remote("attempt", workers[actor_id].propose, *job)
                        in_flight[ref] = (actor_id, job)
                        load[actor_id] += 1
                if not in_flight:
                    break
                ready, _ = await asyncio.to_thread(ray.wait, list(in_flight), num_returns=1, timeout=1.0)
                if ready:
                    more, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
                    ready = list(dict.fromkeys([*ready, *more]))
                for ref in ready:
                    actor_id, job = in_flight.pop(ref)
                    if actor_id in load:
                        load[actor_id] -= 1
                    index, iteration, _ = job
                    try:
                        attempt, counters = ray.get(ref)
                    except RayTaskError as exc:
                        raise exc.as_instanceof_cause() from None
                    except RayActorError as exc:
                        losses_in_a_row += 1
                        self.resent += 1
                        queue.appendleft(job)
                        if actor_id in workers:
                            self.on_note(
                                f"Ray worker {actor_id[:12]} lost ({str(exc).splitlines()[0][:200]}): "
                                "its unfinished slots are sent again"
                            )
                        lose(actor_id)
                        if losses_in_a_row > MAX_LOSSES_IN_A_ROW:
                            raise RuntimeError(
                                f"{losses_in_a_row} Ray workers in a row were lost without a result "
                                f"(last: {str(exc).splitlines()[0][:300]})"
                            ) from None
                        continue
                    losses_in_a_row = 0
                    add_counters(pipeline.counters, counters)
                    if attempt.task is None:
                        failed(index, iteration, attempt.candidate, attempt.failures)
                    else:
                        slots[index].ready = (iteration, attempt)
                    advance()
            advance()
        finally:
            for handle in workers.values():
                ray.kill(handle, no_restart=True)
            for limiter in by_endpoint.values():
                ray.kill(limiter, no_restart=True)
