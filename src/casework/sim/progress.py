"""Progress events of simulations in flight, for live displays.

A :class:`~casework.sim.orchestrator.Simulation` (and the runner around it) calls a
``Callable[[SimulationProgress], None]`` it was given at each point worth showing: the start, each
agent model call going out and coming back, each tool call, each user message, the end. The
callback runs on the event loop, so it must be quick (update a display, print a line); nothing is
global and a run without a callback pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

ProgressKind = Literal["start", "model_call", "model_reply", "tool", "user", "finish"]


class SimulationProgress(BaseModel):
    """Where one simulation stands. ``trial`` is filled in by the runner."""

    model_config = ConfigDict(frozen=True)

    kind: ProgressKind
    task_id: str
    trial: int = 0
    turn: int = 0  # user messages so far
    step: int = 0  # agent model calls so far
    tool_calls: int = 0  # tool calls executed so far
    last_tool: str | None = None  # name of the most recent tool call
    tokens_per_s: float | None = None  # decode tokens/s of the most recent agent model call
    elapsed_s: float = 0.0  # since the simulation started
    # kind == "finish" only:
    termination: str | None = None
    success: bool | None = None
    reward: float | None = None


ProgressCallback = Callable[[SimulationProgress], None]
