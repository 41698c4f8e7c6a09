"""Where a run's (task, trial) pairs execute: ``local`` (the asyncio :class:`Runner`, the default)
or ``ray`` (:class:`casework.runs.ray_backend.RayRunner`, extra ``casework[ray]``)."""

from __future__ import annotations

from typing import Any

from casework.runs.runner import RunConfig, Runner

BACKENDS = ("local", "ray")


def check_backend(backend: str, address: str | None = None, workers: int | None = None) -> None:
    """A clear error for a backend name that does not exist or Ray options without ``--backend ray``."""
    if backend not in BACKENDS:
        raise ValueError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend != "ray" and (address is not None or workers is not None):
        raise ValueError("--address and --workers need --backend ray")
    if backend == "ray":
        from casework.runs.ray_backend import import_ray

        import_ray()  # says how to install casework[ray] when it is missing


def make_runner(
    config: RunConfig,
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    plan: type | None = None,
    **kwargs: Any,
) -> Runner:
    """The run's runner on ``backend`` (``local`` or ``ray``). ``plan``: a mixin that decides which
    pairs run (e.g. collect's attempt loop, :class:`casework.runs.collect.CollectPlan`), put before
    the backend's runner class, so one plan serves both backends."""
    check_backend(backend, address, workers)
    base: type[Runner] = Runner
    options: dict[str, Any] = {}
    if backend == "ray":
        from casework.runs.ray_backend import RayRunner

        base, options = RayRunner, {"address": address, "workers": workers}
    cls = base if plan is None else type(f"{plan.__name__}{base.__name__}", (plan, base), {})
    return cls(config, **options, **kwargs)
