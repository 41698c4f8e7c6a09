"""The embedded model server process dying in the middle of a run: the run stops with a clear
message naming the exit code and the server's log, finished simulations stay, and no
infrastructure error is recorded for the simulations the dead server interrupted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework import aio
from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm import EndpointConfig, LLMClient
from casework.llm.local import LocalModelError, LocalServerProcess
from casework.runs.runner import RunAborted, RunConfig, Runner
from casework.runs.store import read_results
from casework.tasks import save_tasks

FAKE = Path(__file__).with_name("fake_model_process.py")


def fake_server(tmp_path: Path, die_after: int = 0, exit_code: int = 7) -> LocalServerProcess:
    command = [sys.executable, str(FAKE), "--die-after", str(die_after), "--exit-code", str(exit_code)]
    return LocalServerProcess(command=command, log_path=tmp_path / "server.log", start_timeout=30)


@pytest.fixture(scope="module")
def task_file(tmp_path_factory) -> Path:
    domain = get_domain("retail")
    path = tmp_path_factory.mktemp("tasks") / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 4, seed=3), path)
    return path


def test_a_server_that_exits_stops_the_run_and_keeps_what_finished(tmp_path: Path, task_file: Path):
    # Each simulation makes two agent calls (max_steps=2); the server dies during the third simulation.
    with fake_server(tmp_path, die_after=5, exit_code=7) as server:
        client = LLMClient(
            EndpointConfig(model="local", base_url=server.base_url, max_retries=3), role="agent"
        )
        config = RunConfig(tasks=task_file, out=tmp_path / "run", concurrency=1, max_steps=2)
        runner = Runner(config, agent_llm=client, endpoint_failure=server.failure)
        with pytest.raises(RunAborted) as caught:
            aio.run(runner.run(), closing=[client])
    message = str(caught.value)
    assert message == f"the embedded model server exited (code 7); log: {tmp_path / 'server.log'}"
    assert "simulated crash" in (tmp_path / "server.log").read_text()
    results = read_results(tmp_path / "run")
    assert len(results) == 2
    assert all(r["termination_reason"] == "max_steps" for r in results)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["infrastructure_errors"] == 0


def test_failure_is_none_while_the_server_runs_and_after_a_clean_start(tmp_path: Path):
    with fake_server(tmp_path) as server:
        assert server.failure() is None and server.exit_code() is None
        assert server.base_url.startswith("http://127.0.0.1:")


def test_a_server_that_never_reports_its_url_is_a_clear_error(tmp_path: Path):
    command = [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(4)"]
    server = LocalServerProcess(command=command, log_path=tmp_path / "s.log", start_timeout=30)
    with pytest.raises(
        LocalModelError, match=r"did not start \(exit code 4\); log: .*s\.log; last lines: boom"
    ):
        server.start()


def test_cli_run_on_the_embedded_model_stops_with_the_message_and_exit_code_3(
    tmp_path: Path, task_file: Path, monkeypatch
):
    import casework.llm.local as local

    log = tmp_path / "server.log"

    class Dying(LocalServerProcess):
        def __init__(self, **kwargs):
            kwargs.pop("log_path", None)
            super().__init__(command=[sys.executable, str(FAKE), "--die-after", "3"], log_path=log, **kwargs)

    monkeypatch.setattr(local, "LocalServerProcess", Dying)
    monkeypatch.setenv("CASEWORK_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["run", "--tasks", str(task_file), "--out", str(out), "--max-steps", "2", "--concurrency", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert f"the embedded model server exited (code 7); log: {log}" in text
    assert "continue with --resume" in text
    assert all(r["termination_reason"] != "infrastructure_error" for r in read_results(out))
