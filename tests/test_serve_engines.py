"""`casework serve --model X.gguf / --name / --engine vllm`: the printed line contract, the names a
server reports, and one-line errors. No GPU and no vLLM here: `vllm serve` is checked through its
argument building, its missing-install error, and a stand-in executable that answers like it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.llm import vllm_server
from casework.llm.local import (
    LocalModelError,
    format_serve_line,
    parse_serve_line,
    served_name,
)
from casework.llm.vllm_server import VLLMServerProcess, vllm_command


def test_the_serve_line_names_the_model_and_its_url():
    line = format_serve_line("trained", "http://127.0.0.1:8081/v1", "/tmp/x.log")
    assert line == "serving trained at http://127.0.0.1:8081/v1 (log: /tmp/x.log); Ctrl-C stops"
    assert parse_serve_line(line) == ("trained", "http://127.0.0.1:8081/v1")
    assert parse_serve_line("INFO: loading") is None
    assert served_name(Path("out/model-v3.gguf")) == "model-v3"
    assert served_name(Path("out/model-v3.gguf"), "mine") == "mine"
    assert served_name(None) == "qwen2.5-coder-0.5b-instruct-q4_k_m"


def _serve(args: list[str]):
    return CliRunner().invoke(app, ["serve", *args])


def test_serve_model_mistakes_are_one_line(tmp_path: Path):
    missing = _serve(["--model", str(tmp_path / "nope.gguf")])
    assert missing.exit_code == 2
    assert f"--model {tmp_path / 'nope.gguf'}: no such file" in " ".join(missing.output.split())
    text = tmp_path / "weights.bin"
    text.write_bytes(b"\x00\x01\x02\x03")
    wrong = _serve(["--model", str(text)])
    assert wrong.exit_code == 2 and "not a GGUF file" in wrong.output
    engine = _serve(["--engine", "tgi"])
    assert engine.exit_code == 2 and "--engine 'tgi': expected llamacpp or vllm" in engine.output
    arg = _serve(["--vllm-arg", "--dtype=half"])
    assert arg.exit_code == 2 and "--vllm-arg works with --engine vllm only" in arg.output
    for result in (missing, wrong, engine, arg):
        assert "Traceback" not in result.output


def test_vllm_command_line():
    cmd = vllm_command("ckpt/merged", port=8000, ctx=4096, parallel=4)
    assert cmd == [
        "vllm",
        "serve",
        "ckpt/merged",
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--served-model-name",
        "merged",
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "4",
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
    ]
    named = vllm_command("ckpt/merged/", port=1, name="trained", extra_args=["--tool-call-parser=pythonic"])
    assert named[named.index("--served-model-name") + 1] == "trained"
    assert "hermes" not in named and named[-1] == "--tool-call-parser=pythonic"
    assert vllm_command("Qwen/Qwen2.5-0.5B-Instruct", port=1)[8] == "Qwen2.5-0.5B-Instruct"


@pytest.mark.skipif(vllm_server.vllm_missing() is None, reason="vllm is installed here")
def test_serve_engine_vllm_without_vllm_is_one_clear_line(tmp_path: Path):
    ckpt = tmp_path / "merged"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    result = _serve(["--engine", "vllm", "--model", str(ckpt)])
    assert result.exit_code == 2
    assert "--engine vllm: vllm is not installed; pip install 'casework[vllm]'" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output
    with pytest.raises(LocalModelError, match="vllm is not installed"):
        VLLMServerProcess(ckpt)
    no_model = _serve(["--engine", "vllm"])
    assert no_model.exit_code == 2 and "--engine vllm needs --model" in no_model.output


FAKE_VLLM = textwrap.dedent(
    """\
    import http.server, json, sys
    args = sys.argv[1:]
    assert args[0] == "serve", args
    port = int(args[args.index("--port") + 1])
    name = args[args.index("--served-model-name") + 1]
    print("fake vllm starting", args, flush=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"{}" if self.path == "/health" else json.dumps({"data": [{"id": name}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch) -> Path:
    script = tmp_path / "vllm"
    script.write_text(f"#!{sys.executable}\n" + FAKE_VLLM)
    script.chmod(0o755)
    monkeypatch.setattr(vllm_server, "vllm_missing", lambda: None)
    monkeypatch.setattr(vllm_server, "vllm_executable", lambda: str(script))
    monkeypatch.setenv("CASEWORK_CACHE_DIR", str(tmp_path / "cache"))
    return script


def test_vllm_server_process_starts_answers_and_stops(tmp_path: Path, fake_vllm: Path):
    ckpt = tmp_path / "merged"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    server = VLLMServerProcess(ckpt, port=0, name="trained", start_timeout=60)
    assert server.command[0] == str(fake_vllm) and server.port > 0
    try:
        url = server.start()
        line = format_serve_line(server.alias, url, server.log_path)
        assert parse_serve_line(line) == ("trained", f"http://127.0.0.1:{server.port}/v1")
        with urllib.request.urlopen(url + "/models", timeout=10) as response:
            assert [m["id"] for m in json.load(response)["data"]] == ["trained"]
        assert server.failure() is None
        assert "fake vllm starting" in server.log_path.read_text()
        assert server.log_path.parent == tmp_path / "cache" / "logs"
    finally:
        server.stop()
    assert server.exit_code() is not None


def test_vllm_refuses_a_gguf_file_and_reports_a_dead_server(tmp_path: Path, fake_vllm: Path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF....")
    with pytest.raises(LocalModelError, match="not a Hugging Face checkpoint directory"):
        VLLMServerProcess(gguf)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    fake_vllm.write_text(f"#!{sys.executable}\nimport sys; print('CUDA not available'); sys.exit(1)\n")
    server = VLLMServerProcess(ckpt, port=0, start_timeout=30)
    with pytest.raises(LocalModelError, match=r"vllm serve did not start .*log: "):
        server.start()
    assert "CUDA not available" in server.log_path.read_text()


def test_serve_model_gguf_subprocess_error_without_traceback(tmp_path: Path):
    """The real command line, as a user runs it: a missing GGUF is one line and exit code 2."""
    result = subprocess.run(
        [sys.executable, "-m", "casework.cli", "serve", "--model", str(tmp_path / "x.gguf")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: --model {tmp_path / 'x.gguf'}: no such file"
