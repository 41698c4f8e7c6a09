"""The run's live display: rows per simulation on a terminal, lines when output is not a terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from rich.console import Console

from casework.cli.live import RunDisplay
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.sim.progress import SimulationProgress
from casework.tasks import save_tasks

ANSI = re.compile(r"\x1b\[")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(kind: str, task: str = "t1", **fields) -> SimulationProgress:
    return SimulationProgress(kind=kind, task_id=task, **fields)


def render(display: RunDisplay) -> str:
    out = Console(file=io.StringIO(), width=140, force_terminal=True, color_system=None)
    out.print(display)
    return out.file.getvalue()


def test_terminal_shows_a_row_per_simulation_and_a_line_per_finished_one():
    clock = Clock()
    screen = io.StringIO()
    console = Console(file=screen, width=140, force_terminal=True, color_system=None)
    with RunDisplay(console, total=3, done=1, clock=clock) as display:
        assert display.live_mode
        display.note("warming the prompt cache")
        clock.now += 75
        assert "warming the prompt cache (1m15s)" in render(display)
        display.on_progress(event("start", "t1"))
        display.on_progress(event("model_call", "t2", trial=1, turn=1, step=0))
        clock.now += 4
        display.on_progress(
            event(
                "tool", "t1", turn=1, step=2, tool_calls=1, last_tool="get_order_details", tokens_per_s=18.25
            )
        )
        clock.now += 3
        panel = render(display)
        assert "1/3" in panel and "warming" not in panel
        row = next(line for line in panel.splitlines() if " t1 " in line)
        assert re.search(r"t1\s+0\s+1\s+2\s+get_order_details\s+18\.2\s+tool ran 3s", row), row
        row = next(line for line in panel.splitlines() if " t2 " in line)
        assert re.search(r"t2\s+1\s+1\s+0\s+-\s+-\s+model thinking 7s", row), row
        display.on_progress(
            event(
                "finish",
                "t1",
                turn=3,
                step=4,
                tool_calls=2,
                termination="user_stop",
                success=True,
                reward=1.0,
                elapsed_s=12.5,
            )
        )
        panel = render(display)
        assert "2/3" in panel and "pass 1/1" in panel and " t1 " not in panel
    text = screen.getvalue()
    assert "warming the prompt cache" in text
    assert (
        "[2/3] t1 trial 0: success reward 1, user_stop, 3 turns, 4 agent steps, 2 tool calls, 12.5 s" in text
    )


def test_not_a_terminal_prints_finished_lines_and_status_lines():
    clock = Clock()
    screen = io.StringIO()
    console = Console(file=screen, width=80)
    display = RunDisplay(console, total=2, clock=clock, interval=3600)
    assert not display.live_mode
    with display:
        display.note("embedded local model at http://127.0.0.1:1/v1")
        clock.now += 61
        assert display.status_line() == (
            "status after 1m01s: 0/2 done; embedded local model at http://127.0.0.1:1/v1 (1m01s)"
        )
        display.on_progress(
            event("model_reply", "task-with-a-rather-long-identifier", turn=1, step=1, tokens_per_s=20)
        )
        assert display.status_line() == (
            "status after 1m01s: 0/2 done; running 1: task-with-a-rather-long-identifier trial 0: "
            "turn 1, step 1, 20.0 tok/s, model answered 0s"
        )
        display.on_progress(
            event(
                "finish",
                "task-with-a-rather-long-identifier",
                termination="max_steps",
                success=False,
                reward=0.0,
            )
        )
        assert display.status_line() == "status after 1m01s: 1/2 done (0/1 passed, 0 infrastructure errors)"
    lines = screen.getvalue().splitlines()
    assert lines[-1].startswith(
        "[1/2] task-with-a-rather-long-identifier trial 0: failure reward 0, max_steps"
    )
    assert not ANSI.search(screen.getvalue())


SLOW_AGENT = textwrap.dedent(
    """
    import asyncio
    from casework.sim.agents import OracleAgent

    class SlowOracle(OracleAgent):
        async def step(self, messages):
            await asyncio.sleep(0.1)
            return await super().step(messages)
    """
)


def test_run_piped_prints_a_line_per_simulation_and_periodic_status(tmp_path: Path):
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 2, seed=4)
    save_tasks(tasks, tmp_path / "tasks.json")
    (tmp_path / "slow_oracle.py").write_text(SLOW_AGENT)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CASEWORK_PROGRESS_INTERVAL": "0.25"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "casework.cli",
            "run",
            "--tasks",
            str(tmp_path / "tasks.json"),
            "--out",
            str(tmp_path / "run"),
            "--agent",
            "slow_oracle:SlowOracle",
            "--model",  # an endpoint the plugin never calls, so no embedded model is started
            "fake",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--concurrency",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert not ANSI.search(err)
    finished = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split(" trial")[0] for line in finished] == [f"[1/2] {tasks[0].id}", f"[2/2] {tasks[1].id}"]
    assert all(": success reward 1, user_stop" in line for line in finished)
    status = [line for line in err.splitlines() if line.startswith("status after")]
    assert status, err
    assert any(
        re.search(rf"running 1: ({tasks[0].id}|{tasks[1].id}) trial 0: turn \d+, step \d+", line)
        for line in status
    ), status
