"""`casework serve` as a user runs it: one line out, llama.cpp's log in a file, and one Ctrl-C (a
SIGINT to the whole process group, as a terminal sends it) or one SIGTERM stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest


def _require_local_model(request: pytest.FixtureRequest) -> Path:
    opted_in = (
        "llm" in (request.config.getoption("markexpr") or "") or os.environ.get("CASEWORK_LLM_TESTS") == "1"
    )
    if not opted_in:
        pytest.skip("real-model test: run with -m llm or CASEWORK_LLM_TESTS=1")
    from casework.llm.local import ensure_local_model, local_extra_missing

    if reason := local_extra_missing():
        pytest.skip(reason)
    return ensure_local_model()


def _readline(stream, timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


@pytest.mark.llm
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_serve_prints_one_line_keeps_the_log_in_a_file_and_stops_on_one_signal(tmp_path: Path, request, how):
    model = _require_local_model(request)
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    for path in (model, model.with_name(model.name + ".sha256")):  # the verified weights, not a copy
        (cache / "models" / path.name).symlink_to(path)
    env = {**os.environ, "CASEWORK_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "casework.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a shell job
    )
    try:
        line = _readline(proc.stdout, 180)
        match = re.fullmatch(
            r"serving \S+ at (http://127\.0\.0\.1:\d+/v1) \(log: (\S+)\); Ctrl-C stops\n", line
        )
        assert match, line
        url, log = match.group(1), Path(match.group(2))
        assert log.parent == cache / "logs"
        with urllib.request.urlopen(url[:-3] + "/health", timeout=10) as response:
            assert response.status == 200
        started = time.monotonic()
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=40)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    rest = proc.stdout.read() + proc.stderr.read()
    assert code == 0, rest
    assert rest.strip() == "", rest  # the ready line was all it printed
    assert stopped_in < 30
    assert len(log.read_text().splitlines()) > 20 and "llama" in log.read_text()
    with pytest.raises(OSError):  # the model server process is gone too
        urllib.request.urlopen(url[:-3] + "/health", timeout=2)
