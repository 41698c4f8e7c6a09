"""Live progress of ``casework run`` / ``demo`` (the command line's display; the runner only emits
:class:`~casework.sim.progress.SimulationProgress` events).

On a terminal: a live panel (rich) with the overall bar and one row per simulation in flight (task,
trial, turn, agent step, last tool call, decode tokens/s, what it is doing and for how long), and a
line per finished simulation above it. Otherwise (a pipe, a CI log): one line per finished
simulation and a status line every ``interval`` seconds (60 by default,
``CASEWORK_PROGRESS_INTERVAL`` overrides it), so a long first model call is never silent.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from casework.sim.progress import SimulationProgress

DEFAULT_INTERVAL_S = 60.0


def progress_interval() -> float:
    """Seconds between status lines when output is not a terminal (``CASEWORK_PROGRESS_INTERVAL``)."""
    raw = os.environ.get("CASEWORK_PROGRESS_INTERVAL", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class _Row:
    event: SimulationProgress
    since: float  # when the current activity began (monotonic)
    spinner: Spinner


_DOING = {
    "start": "starting",
    "model_call": "model thinking",
    "model_reply": "model answered",
    "tool": "tool ran",
    "user": "user replied",
}


class RunDisplay:
    """Shows a run's progress on ``console`` (stderr); use as a context manager.

    ``on_progress`` is the runner's event callback; ``note`` prints a message (e.g. the local
    server's address, the prompt cache warming up) and shows it as the current activity until the
    first simulation starts.
    """

    def __init__(
        self,
        console: Console,
        *,
        total: int,
        done: int = 0,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.total, self.done = total, done
        self.done_before = done
        self.passed = self.infra = 0
        self.interval = interval if interval is not None else progress_interval()
        self.clock = clock
        self.started = clock()
        self.live_mode = console.is_terminal
        self.rows: dict[tuple[str, int], _Row] = {}
        self.activity: tuple[str, float] | None = None
        self._activity_spinner = Spinner("dots")
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> RunDisplay:
        self.started = self.clock()
        if self.live_mode:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        else:
            self._ticker = threading.Thread(target=self._tick, name="casework-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._line(self.status_line())

    def _line(self, text: str) -> None:
        with self._lock:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    # -- inputs ------------------------------------------------------------------------------------
    def note(self, message: str) -> None:
        """A message worth a line of its own; it is also the current activity until simulations run."""
        self.activity = (message, self.clock())
        if self._live is not None:
            self.console.print(escape(message), highlight=False)
        else:
            self._line(message)

    def on_progress(self, event: SimulationProgress) -> None:
        key = (event.task_id, event.trial)
        now = self.clock()
        if event.kind != "finish":
            self.activity = None
            old = self.rows.get(key)
            self.rows[key] = _Row(event, now, old.spinner if old else Spinner("dots"))
            return
        self.rows.pop(key, None)
        self.done += 1
        self.passed += bool(event.success)
        self.infra += event.termination == "infrastructure_error"
        line = self.finished_line(event)
        if self._live is not None:
            style = "green" if event.success else "red"
            self.console.print(Text(line, style=style))
        else:
            self._line(line)

    # -- text --------------------------------------------------------------------------------------
    def finished_line(self, event: SimulationProgress) -> str:
        verdict = "success" if event.success else "failure"
        reward = "" if event.reward is None else f" reward {event.reward:g}"
        return (
            f"[{self.done}/{self.total}] {event.task_id} trial {event.trial}: {verdict}{reward}, "
            f"{event.termination}, {event.turn} turns, {event.step} agent steps, "
            f"{event.tool_calls} tool calls, {event.elapsed_s:.1f} s"
        )

    def _describe(self, row: _Row, now: float) -> str:
        e = row.event
        parts = [f"turn {e.turn}", f"step {e.step}"]
        if e.last_tool:
            parts.append(f"last tool {e.last_tool}")
        if e.tokens_per_s:
            parts.append(f"{e.tokens_per_s:.1f} tok/s")
        parts.append(f"{_DOING.get(e.kind, e.kind)} {_duration(now - row.since)}")
        return ", ".join(parts)

    def status_line(self) -> str:
        now = self.clock()
        rate = f"{self.passed}/{self.done - self.done_before} passed" if self.done > self.done_before else ""
        head = f"status after {_duration(now - self.started)}: {self.done}/{self.total} done"
        if rate:
            head += f" ({rate}, {self.infra} infrastructure errors)"
        rows = list(self.rows.items())
        if rows:
            running = "; ".join(f"{tid} trial {trial}: {self._describe(r, now)}" for (tid, trial), r in rows)
            return f"{head}; running {len(rows)}: {running}"
        if self.activity is not None:
            message, since = self.activity
            return f"{head}; {message} ({_duration(now - since)})"
        return head

    # -- the live panel (rendered by rich's refresh thread) ----------------------------------------
    def __rich__(self) -> Any:
        now = self.clock()
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            Text("run", style="bold"),
            ProgressBar(total=max(self.total, 1), completed=self.done, width=30),
            Text(f"{self.done}/{self.total}"),
            Text(
                f"pass {self.passed}/{self.done - self.done_before} · infra errors {self.infra}"
                if self.done > self.done_before
                else ""
            ),
            Text(_duration(now - self.started), style="cyan"),
        )
        parts: list[Any] = [bar]
        rows = list(self.rows.items())
        if rows:
            table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
            for name in ("", "task", "trial", "turn", "step", "last tool", "tok/s", "doing"):
                table.add_column(name, no_wrap=True)
            for (tid, trial), row in rows:
                e = row.event
                table.add_row(
                    row.spinner,
                    tid,
                    str(trial),
                    str(e.turn),
                    str(e.step),
                    e.last_tool or "-",
                    f"{e.tokens_per_s:.1f}" if e.tokens_per_s else "-",
                    f"{_DOING.get(e.kind, e.kind)} {_duration(now - row.since)}",
                )
            parts.append(table)
        elif self.activity is not None:
            message, since = self.activity
            activity = Table.grid(padding=(0, 1))
            activity.add_row(self._activity_spinner, Text(f"{message} ({_duration(now - since)})"))
            parts.append(activity)
        return Group(*parts)
