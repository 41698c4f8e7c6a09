"""Re-running `casework demo` (what a second `make demo` does) when every simulation is finished
writes the report without starting the embedded model."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from casework.cli import app
from casework.llm.local import LocalServerProcess
from casework.runs.store import read_results

FAKE = Path(__file__).parent / "runs" / "fake_model_process.py"


def test_a_finished_demo_run_is_reported_again_without_a_model(tmp_path: Path, monkeypatch):
    import casework.llm.local as local

    started: list[str] = []

    class FakeEmbedded(LocalServerProcess):
        def __init__(self, **kwargs):
            kwargs.pop("log_path", None)
            super().__init__(command=[sys.executable, str(FAKE)], log_path=tmp_path / "server.log", **kwargs)

        def start(self) -> str:
            started.append("start")
            return super().start()

    monkeypatch.setattr(local, "LocalServerProcess", FakeEmbedded)
    monkeypatch.setenv("CASEWORK_CACHE_DIR", str(tmp_path / "cache"))
    args = ["demo", "--out", str(tmp_path / "demo"), "-n", "3", "--run-tasks", "2"]
    first = CliRunner().invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert started == ["start"]
    results = read_results(tmp_path / "demo" / "run")
    assert len(results) == 2
    report = tmp_path / "demo" / "run" / "report.html"
    report.unlink()

    second = CliRunner().invoke(app, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert started == ["start"]  # the model was not started again
    assert "no model started" in second.output and "embedded local model at" not in second.output
    assert report.exists() and len(read_results(tmp_path / "demo" / "run")) == 2
