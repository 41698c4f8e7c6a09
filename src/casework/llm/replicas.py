"""Several replicas of one model (data-parallel servers) behind one client.

Calls go to the healthy replica with the fewest calls in flight. A replica whose call fails with an
infrastructure error (unreachable, 5xx, timeout...) is left out for a cool-down that doubles with each
failure in a row (``cooldown_s`` up to ``max_cooldown_s``) and tried again afterwards; the call itself
moves on to another replica at once. When every replica is cooling down, the one that comes back
first is tried after a back-off. Retries across replicas count against the endpoint's ``max_retries``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .client import LLMClient, public_url
from .config import EndpointConfig
from .types import CallRecord, Completion, LLMUnavailable

__all__ = ["Replica", "ReplicaPool", "make_client"]

log = logging.getLogger(__name__)


class Replica:
    __slots__ = ("client", "url", "in_flight", "down_until", "failures", "calls")

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self.url = client.base_url
        self.in_flight = 0
        self.down_until = 0.0
        self.failures = 0
        self.calls = 0


class ReplicaPool:
    """The :class:`~casework.llm.LLMClient` interface over several base URLs of one config."""

    def __init__(
        self,
        config: EndpointConfig,
        *,
        role: str | None = None,
        on_record: Callable[[CallRecord], Any] | None = None,
        keep_records: bool = True,
        max_in_flight: int | None = None,
        cache: Any = None,
        cooldown_s: float = 2.0,
        max_cooldown_s: float = 60.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        **client_kw: Any,
    ) -> None:
        urls = config.replica_urls()
        self.config = config
        self.role = role
        self.on_record = on_record
        self.keep_records = keep_records
        self.records: list[CallRecord] = []
        self.cache = cache
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._sleep = sleep
        self._clock = clock
        # each replica makes one attempt per call; the pool retries (on another replica when one is up)
        single = config.model_copy(update={"max_retries": 0})
        self.replicas = [
            Replica(
                LLMClient(
                    single,
                    role=role,
                    on_record=self._record,
                    keep_records=False,
                    max_in_flight=max_in_flight,
                    base_url=url,
                    cache=cache,
                    sleep=sleep,
                    **client_kw,
                )
            )
            for url in urls
        ]
        shared = ",".join(sorted(str(r.url) for r in self.replicas))
        for replica in self.replicas:
            replica.client.cache_id = shared
        self.cap = self.replicas[0].client.cap
        self.transport = self.replicas[0].client.transport
        self._turn = itertools.count()

    def __repr__(self) -> str:
        urls = [r.url for r in self.replicas]
        return f"ReplicaPool(model={self.config.model!r}, replicas={urls!r}, role={self.role!r})"

    def _record(self, rec: CallRecord) -> None:
        if self.keep_records:
            self.records.append(rec)
        if self.on_record is not None:
            try:
                self.on_record(rec)
            except Exception:
                log.exception("on_record callback failed")

    def _pick(self) -> Replica:
        now = self._clock()
        up = [r for r in self.replicas if r.down_until <= now]
        if not up:  # every replica is cooling down: probe the one that comes back first
            return min(self.replicas, key=lambda r: r.down_until)
        low = min(r.in_flight for r in up)
        ties = [r for r in up if r.in_flight == low]
        return ties[next(self._turn) % len(ties)]

    def _failed(self, replica: Replica, exc: BaseException) -> None:
        replica.failures += 1
        pause = min(self.max_cooldown_s, self.cooldown_s * 2 ** (replica.failures - 1))
        replica.down_until = self._clock() + pause
        log.warning("replica %s failed (%s); left out for %.1fs", replica.url, exc, pause)

    async def chat(self, messages: Any, tools: Any = None, tool_choice: Any = None, **kw: Any) -> Completion:
        attempt = 0
        while True:
            replica = self._pick()
            if replica.down_until > self._clock():  # all down: wait a little before the probe
                await self._sleep(min(replica.down_until - self._clock(), random.uniform(0.1, 1.0)))
            replica.in_flight += 1
            try:
                completion = await replica.client.chat(messages, tools, tool_choice, **kw)
            except LLMUnavailable as exc:
                self._failed(replica, exc)
                if attempt >= self.config.max_retries:
                    raise
                attempt += 1
                continue
            finally:
                replica.in_flight -= 1
            replica.failures = 0
            replica.down_until = 0.0
            replica.calls += 1
            completion.usage.retries += attempt
            return completion

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.client.aclose()

    async def __aenter__(self) -> ReplicaPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def make_client(config: EndpointConfig, **kw: Any) -> LLMClient | ReplicaPool:
    """An LLMClient, or a ReplicaPool when the config lists several ``base_urls``."""
    if len(config.replica_urls()) > 1:
        return ReplicaPool(config, **kw)
    return LLMClient(config, **kw)


def limits_line(clients: dict[str, Any]) -> str:
    """``agent: 128 in flight x 2 replicas; user: ...`` for the start of a run."""
    parts = []
    for role, client in clients.items():
        if client is None:
            continue
        replicas = getattr(client, "replicas", None)
        where = (
            f" x {len(replicas)} replicas"
            if replicas
            else f" ({public_url(client.config.base_url) or 'default'})"
        )
        parts.append(f"{role}: {client.cap} calls in flight{where}")
    return "model calls: " + "; ".join(parts) if parts else ""
