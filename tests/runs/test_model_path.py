"""`--model-path X.gguf`: the agent is the embedded llama.cpp server started on that file; the run
manifest records the file's path, size and sha256; bad input is one clear line.

The server process is the fake model process (tests/runs/fake_model_process.py): what is checked
here is which model each server is started on and what the run records, not llama.cpp itself."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm.local import LocalModelError, LocalServerProcess, check_gguf
from casework.runs.endpoints import choose_endpoints, open_clients
from casework.tasks import save_tasks

FAKE = Path(__file__).parent / "fake_model_process.py"


def _gguf(path: Path, payload: bytes = b"\x03\x00\x00\x00 not really weights") -> Path:
    path.write_bytes(b"GGUF" + payload)
    return path


@pytest.fixture
def started(tmp_path: Path, monkeypatch) -> list[Path | None]:
    """Every embedded server started, by model (None: the embedded model); fake processes serve."""
    import casework.llm.local as local

    models: list[Path | None] = []

    class FakeEmbedded(LocalServerProcess):
        def __init__(self, **kwargs):
            kwargs.pop("log_path", None)
            super().__init__(command=[sys.executable, str(FAKE)], log_path=tmp_path / "server.log", **kwargs)

        def start(self) -> str:
            models.append(self.model)
            return super().start()

    monkeypatch.setattr(local, "LocalServerProcess", FakeEmbedded)
    monkeypatch.setenv("CASEWORK_CACHE_DIR", str(tmp_path / "cache"))
    return models


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    domain = get_domain("retail")
    path = tmp_path / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 1, seed=3), path)
    return path


def test_check_gguf_accepts_the_magic_and_names_what_is_wrong(tmp_path: Path):
    good = _gguf(tmp_path / "m.gguf")
    assert check_gguf(good) == good
    with pytest.raises(LocalModelError, match=r"--model-path .*nothing\.gguf: no such file"):
        check_gguf(tmp_path / "nothing.gguf")
    (tmp_path / "w.gguf").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(LocalModelError, match=r"w\.gguf: not a GGUF file \(starts with b'PK\\x03\\x04'"):
        check_gguf(tmp_path / "w.gguf")
    with pytest.raises(LocalModelError, match="not a file"):
        check_gguf(tmp_path)
    (tmp_path / "short.gguf").write_bytes(b"GG")
    with pytest.raises(LocalModelError, match="not a GGUF file"):
        check_gguf(tmp_path / "short.gguf", option="--model")


def test_the_server_process_is_started_on_the_file_under_its_stem(tmp_path: Path):
    gguf = _gguf(tmp_path / "trained-v2.gguf")
    server = LocalServerProcess(model=gguf, threads=1)
    command = server._command()
    assert command[command.index("--model") + 1] == str(gguf)
    assert command[command.index("--alias") + 1] == "trained-v2"
    assert server.model_path == str(gguf)
    named = LocalServerProcess(model=gguf, alias="mine", threads=1)._command()
    assert named[named.index("--alias") + 1] == "mine"
    default = LocalServerProcess(threads=1)._command()
    assert "--model" not in default
    assert default[default.index("--alias") + 1] == "qwen2.5-coder-0.5b-instruct-q4_k_m"


def test_choose_endpoints_serves_the_agent_from_the_file_and_records_its_hash(tmp_path: Path):
    gguf = _gguf(tmp_path / "trained.gguf")
    choice = choose_endpoints(
        models_file=None,
        agent_overrides={},
        user_overrides={},
        needs_agent=True,
        needs_user=True,
        agent_model_path=gguf,
    )
    assert choice.agent is None and choice.local_roles == ["agent", "user"]
    assert choice.local_models == {"agent": gguf}
    record = choice.record("agent")
    assert record == {
        "model": "trained",
        "engine": "llamacpp",
        "model_path": str(gguf.resolve()),
        "model_bytes": gguf.stat().st_size,
        "model_sha256": hashlib.sha256(gguf.read_bytes()).hexdigest(),
    }
    assert choice.record("user") == {"model": "embedded-local"}  # the user stays on the embedded model


@pytest.mark.parametrize(
    ("overrides", "option"),
    [({"base_url": "http://127.0.0.1:9/v1"}, "--base-url"), ({"model": "gpt-4o-mini"}, "--model")],
)
def test_model_path_with_another_endpoint_for_the_agent_is_refused(tmp_path: Path, overrides, option):
    gguf = _gguf(tmp_path / "m.gguf")
    with pytest.raises(ValueError, match=f"--model-path .*m.gguf and {option} .* both set the agent's model"):
        choose_endpoints(
            models_file=None,
            agent_overrides=overrides,
            user_overrides={},
            needs_agent=True,
            needs_user=False,
            agent_model_path=gguf,
        )


def test_open_clients_starts_one_server_per_model(tmp_path: Path, started):
    gguf = _gguf(tmp_path / "trained.gguf")
    choice = choose_endpoints(
        models_file=None,
        agent_overrides={},
        user_overrides={},
        needs_agent=True,
        needs_user=True,
        agent_model_path=gguf,
    )
    with open_clients(choice, parallel=1) as (agent, user):
        assert agent.config.model == "trained"
        assert user.config.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"
        assert agent.config.base_url != user.config.base_url
    assert started == [gguf, None]


def test_run_with_model_path_records_the_gguf_in_the_manifest(tmp_path: Path, tasks: Path, started):
    gguf = _gguf(tmp_path / "trained.gguf")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["run", "--tasks", str(tasks), "--model-path", str(gguf), "--out", str(out), "--max-steps", "2"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert started == [gguf]
    manifest = json.loads((out / "manifest.json").read_text())
    endpoint = manifest["config"]["agent_endpoint"]
    assert endpoint["model_path"] == str(gguf.resolve())
    assert endpoint["model_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert endpoint["model"] == "trained"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["termination_reason"] != "infrastructure_error"

    # resuming with another file under the same path is refused: the sha256 differs
    _gguf(gguf, b"\x03\x00\x00\x00 other weights")
    again = CliRunner().invoke(
        app,
        ["run", "--tasks", str(tasks), "--model-path", str(gguf), "--out", str(out), "--resume"],
    )
    assert again.exit_code == 2
    assert "cannot resume" in again.output and "model_sha256" in again.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model-path", "MISSING"], "--model-path {tmp}/missing.gguf: no such file"),
        (["--model-path", "NOTGGUF"], "not a GGUF file"),
        (
            ["--model-path", "GOOD", "--base-url", "http://127.0.0.1:9/v1"],
            "both set the agent's model",
        ),
        (["--model-path", "GOOD", "--agent", "oracle"], "--agent oracle uses none"),
    ],
)
def test_run_model_path_mistakes_are_one_line(tmp_path: Path, tasks: Path, started, extra, message):
    paths = {
        "MISSING": str(tmp_path / "missing.gguf"),
        "NOTGGUF": str(tmp_path / "notes.txt"),
        "GOOD": str(_gguf(tmp_path / "good.gguf")),
    }
    (tmp_path / "notes.txt").write_text("hello")
    args = ["run", "--tasks", str(tasks), "--out", str(tmp_path / "run")] + [paths.get(a, a) for a in extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert message.format(tmp=tmp_path) in text
    assert "Traceback" not in result.output
    assert started == []  # no server was started


def test_collect_takes_model_path_too(tmp_path: Path, tasks: Path, started):
    gguf = _gguf(tmp_path / "trained.gguf")
    out = tmp_path / "collect"
    result = CliRunner().invoke(
        app,
        ["collect", "--tasks", str(tasks), "--attempts", "1", "--model-path", str(gguf), "--out", str(out)]
        + ["--max-steps", "2"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert started == [gguf]
    endpoint = json.loads((out / "manifest.json").read_text())["config"]["agent_endpoint"]
    assert endpoint["model_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
