"""The event loop casework runs its async work on.

``run(coro)`` is ``asyncio.run`` on uvloop where it is installed (Linux and macOS; a dependency
there), a faster loop for many connections at once (``casework bench sim`` showed no measurable
difference on a 2-core machine, where the openai SDK's own work dominates).
``CASEWORK_EVENT_LOOP=asyncio`` forces the standard loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["loop_name", "run"]


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: the loop :func:`run` uses."""
    if os.environ.get("CASEWORK_EVENT_LOOP", "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(coro: Coroutine[Any, Any, T], *, closing: Iterable[Any] = ()) -> T:
    """Run ``coro`` to the end; then ``await x.aclose()`` for each of ``closing`` (model clients:
    their connections belong to this loop and must be closed before it ends)."""
    main = _closing_after(coro, [x for x in dict.fromkeys(closing) if x is not None])
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


async def _closing_after(coro: Coroutine[Any, Any, T], resources: list[Any]) -> T:
    try:
        return await coro
    finally:
        for resource in resources:
            close = getattr(resource, "aclose", None)
            if close is not None:
                await close()
