"""Progress events: the orchestrator reports each step of a simulation, the runner adds the trial
and a final event with the verdict."""

from __future__ import annotations

from pathlib import Path

from casework import aio
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.runs.runner import RunConfig, Runner
from casework.sim.progress import SimulationProgress
from casework.tasks import save_tasks


def test_an_oracle_run_reports_start_steps_tools_turns_and_finish(tmp_path: Path, conversation_judge):
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 2, seed=5)
    save_tasks(tasks, tmp_path / "tasks.json")
    events: list[SimulationProgress] = []
    config = RunConfig(tasks=tmp_path / "tasks.json", out=tmp_path / "run", agent="oracle", trials=2)
    summary = aio.run(Runner(config, on_progress=events.append, judge_llm=conversation_judge()).run())
    assert summary["total_simulations"] == 4

    for task in tasks:
        for trial in (0, 1):
            mine = [e for e in events if (e.task_id, e.trial) == (task.id, trial)]
            kinds = [e.kind for e in mine]
            assert kinds[0] == "start" and kinds[-1] == "finish" and kinds.count("finish") == 1
            tools = [e for e in mine if e.kind == "tool"]
            assert [e.last_tool for e in tools] == [a.name for a in task.actions]
            assert [e.tool_calls for e in tools] == list(range(1, len(task.actions) + 1))
            steps = [e.step for e in mine]
            assert steps == sorted(steps)  # never goes back
            assert kinds.count("model_call") == kinds.count("model_reply") == mine[-1].step
            finish = mine[-1]
            assert finish.success is True and finish.reward == 1.0
            assert finish.termination == "user_stop"
            assert finish.tool_calls == len(task.actions)
            assert finish.turn == sum(e.kind == "user" for e in mine) >= 2


def test_without_a_callback_nothing_is_built(tmp_path: Path, monkeypatch, conversation_judge):
    import casework.sim.orchestrator as orchestrator

    def boom(**_):
        raise AssertionError("an event was built without a callback")

    monkeypatch.setattr(orchestrator, "SimulationProgress", boom)
    domain = get_domain("retail")
    save_tasks(generate_templated(domain, domain.database(), 1, seed=5), tmp_path / "tasks.json")
    config = RunConfig(tasks=tmp_path / "tasks.json", out=tmp_path / "run", agent="oracle")
    assert aio.run(Runner(config, judge_llm=conversation_judge()).run())["successful"] == 1
