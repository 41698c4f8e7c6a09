"""``casework serve --engine vllm``: vLLM's OpenAI-compatible server on a Hugging Face checkpoint.

vLLM (the ``vllm`` extra; it needs a CUDA GPU) is started as a child process, ``vllm serve MODEL``,
with the same contract as the embedded llama.cpp server (:class:`casework.llm.local.LocalServerProcess`):
``start()`` returns the base URL once ``/health`` answers, the child's output goes to a log file,
``failure()`` says when it has exited, ``stop()`` ends it. Tool calls are parsed by vLLM's ``hermes``
parser (the ``<tool_call>`` format of Qwen2.5 and most tool-tuned chat models) unless the extra
arguments name another.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from casework.llm.local import LocalModelError, _new_log_path, wait_http_ready

INSTALL_HINT = "pip install 'casework[vllm]' (vLLM needs a CUDA GPU)"
DEFAULT_TOOL_PARSER = "hermes"


def vllm_missing() -> str | None:
    """Why ``vllm serve`` cannot run here, or None."""
    if importlib.util.find_spec("vllm") is None:
        return f"vllm is not installed; {INSTALL_HINT}"
    if vllm_executable() is None:
        return f"the vllm command is not on PATH (nor beside {sys.executable}); {INSTALL_HINT}"
    return None


def vllm_executable() -> str | None:
    beside = Path(sys.executable).with_name("vllm")
    return str(beside) if beside.is_file() else shutil.which("vllm")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def vllm_command(
    model: str | Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    name: str | None = None,
    ctx: int | None = None,
    parallel: int | None = None,
    extra_args: list[str] | None = None,
    executable: str = "vllm",
) -> list[str]:
    """The ``vllm serve`` command line: the model served under ``name`` (default: the checkpoint
    directory's name), automatic tool choice with the hermes parser unless ``extra_args`` name one."""
    extra = list(extra_args or [])
    cmd = [executable, "serve", str(model), "--host", host, "--port", str(port)]
    cmd += ["--served-model-name", served_name(model, name)]
    if ctx is not None:
        cmd += ["--max-model-len", str(ctx)]
    if parallel is not None:
        cmd += ["--max-num-seqs", str(parallel)]
    if "--enable-auto-tool-choice" not in extra:
        cmd += ["--enable-auto-tool-choice"]
    if not any(a == "--tool-call-parser" or a.startswith("--tool-call-parser=") for a in extra):
        cmd += ["--tool-call-parser", DEFAULT_TOOL_PARSER]
    return cmd + extra


def served_name(model: str | Path, name: str | None = None) -> str:
    """``name``, else the checkpoint directory's name (a hub id keeps its last part)."""
    return name or Path(str(model).rstrip("/")).name


class VLLMServerProcess:
    """``vllm serve`` in a child process, with :class:`~casework.llm.local.LocalServerProcess`'s interface."""

    def __init__(
        self,
        model: str | Path,
        *,
        port: int = 8000,
        host: str = "127.0.0.1",
        name: str | None = None,
        ctx: int | None = None,
        parallel: int | None = None,
        extra_args: list[str] | None = None,
        log_path: str | Path | None = None,
        start_timeout: float = 1800.0,
    ) -> None:
        if (why := vllm_missing()) is not None:
            raise LocalModelError(f"--engine vllm: {why}")
        local = Path(str(model))
        if (local.exists() or str(model).startswith((".", "/"))) and not (local / "config.json").is_file():
            raise LocalModelError(
                f"--model {model}: not a Hugging Face checkpoint directory (no config.json); "
                "vllm serves HF checkpoints, the embedded engine serves GGUF files"
            )
        self.model = model
        self.alias = served_name(model, name)
        self.port = port or free_port(host)  # vLLM cannot pick a port itself
        self.host = host
        self.command = vllm_command(
            model,
            port=self.port,
            host=host,
            name=self.alias,
            ctx=ctx,
            parallel=parallel,
            extra_args=extra_args,
            executable=vllm_executable() or "vllm",
        )
        self.log_path = Path(log_path) if log_path else _new_log_path(prefix="vllm-server")
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            wait_http_ready(f"http://{self.host}:{self.port}", timeout=self.start_timeout, proc=self.proc)
        except LocalModelError as exc:
            self.stop()
            raise LocalModelError(f"vllm serve did not start ({exc}); log: {self.log_path}") from None
        return self.base_url

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def failure(self) -> str | None:
        code = self.exit_code()
        return None if code is None else f"vllm serve exited (code {code}); log: {self.log_path}"

    def stop(self, timeout: float = 30.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
