"""The run directory: an append-only ``results.jsonl`` and a ``manifest.json``.

Every finished simulation is one JSON line, written and flushed to the operating system as soon as
it is graded, so a crash or ``kill -9`` of the process loses at most the simulations still in flight.
A background thread then ``fsync``s the file (one ``fsync`` covers every line written before it, so
a burst of results costs one disk flush and the event loop never waits on the disk); ``close``
fsyncs whatever is left. A torn last line (the process died mid-write) is ignored when reading and
cut off before appending again.

Any other line that cannot be read (not JSON, not UTF-8, not a result object) is never dropped in
silence: :func:`scan_results` lists each with its line number and what was wrong, the readers of a
run directory report them, and ``--resume`` moves them to ``results.quarantine`` (bytes unchanged)
and re-runs their pairs. A file with no readable line at all (e.g. binary data) is a
:class:`RunDirError` naming the file.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
QUARANTINE = "results.quarantine"
RETRIED = "results.retried.jsonl"


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (e.g. resuming with a different configuration)."""


@dataclass(frozen=True)
class BadLine:
    """A line of ``results.jsonl`` that could not be read."""

    path: Path
    number: int  # 1-based
    reason: str
    raw: bytes = field(repr=False)

    def describe(self) -> str:
        return f"{self.path}: line {self.number}: {self.reason}"


@dataclass
class ResultsScan:
    """What ``results.jsonl`` holds: the readable results (with their raw lines) and the bad lines."""

    results: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # the raw line of each result, same order
    bad: list[BadLine] = field(default_factory=list)
    torn_tail: bool = False


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start}): binary data?"
    try:
        value = orjson.loads(raw)  # several times faster; what it refuses (NaN, huge ints) goes below
    except orjson.JSONDecodeError:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON at column {exc.colno}: {exc.msg}"
    if not isinstance(value, dict):
        return None, f"expected a result object, got {type(value).__name__}"
    missing = [k for k in ("task_id", "trial") if k not in value]
    if missing:
        return None, f"not a result: no {' or '.join(missing)}"
    try:
        int(value["trial"])
    except (TypeError, ValueError):
        return None, f"not a result: trial {value['trial']!r} is not a number"
    return value, None


def scan_results(run_dir: Path) -> ResultsScan:
    """Every line of ``RUN_DIR/results.jsonl``, sorted into results and bad lines.

    A torn last line (no newline: the writer was killed) is not a bad line, it is cut off before
    the next append. Raises :class:`RunDirError` when the file holds no readable result at all but
    does hold bad lines (binary data, another file).
    """
    path = run_dir / RESULTS
    scan = ResultsScan()
    if not path.exists():
        return scan
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read the results file ({exc.strerror or exc})") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # the torn tail
        scan.torn_tail = True
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        value, reason = _parse_line(raw)
        if value is None:
            scan.bad.append(BadLine(path, number, reason or "unreadable", raw + b"\n"))
        else:
            scan.results.append(value)
            scan.raw.append(raw + b"\n")
    if scan.bad and not scan.results:
        first = scan.bad[0]
        raise RunDirError(
            f"{path} is not a casework results file: line {first.number}: {first.reason} "
            f"({len(scan.bad)} unreadable line(s), none readable)"
        )
    return scan


def unreadable_lines(run_dir: Path) -> list[str]:
    """One description per unreadable line of a run's results (file, line number, what was wrong)."""
    return [bad.describe() for bad in scan_results(Path(run_dir)).bad]


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """The readable result lines of a run (a torn final line is skipped; see :func:`scan_results`
    for the lines that could not be read)."""
    return scan_results(Path(run_dir)).results


def finished_pairs(run_dir: Path) -> set[tuple[str, int]]:
    """The (task_id, trial) pairs with a complete result line."""
    return {(str(r["task_id"]), int(r["trial"])) for r in read_results(run_dir)}


def rewrite_results(run_dir: Path, *, retry: Any = None) -> dict[str, list[str]]:
    """Before a resume: move unreadable lines to ``results.quarantine`` and, when ``retry(result)``
    says so, results to ``results.retried.jsonl`` (both appended, bytes unchanged); keep the rest.

    ``results.jsonl`` is replaced atomically (written beside it, fsynced, renamed), so a crash
    leaves either the old or the new file. Returns what was moved, as lines to show the user.
    """
    scan = scan_results(run_dir)
    retried = [(r, raw) for r, raw in zip(scan.results, scan.raw, strict=True) if retry and retry(r)]
    if not scan.bad and not retried:
        return {"quarantined": [], "retried": []}
    retried_ids = {id(r) for r, _ in retried}
    kept = [raw for r, raw in zip(scan.results, scan.raw, strict=True) if id(r) not in retried_ids]
    if scan.bad:
        _append_synced(run_dir / QUARANTINE, b"".join(b.raw for b in scan.bad))
    if retried:
        _append_synced(run_dir / RETRIED, b"".join(raw for _, raw in retried))
    path = run_dir / RESULTS
    tmp = run_dir / (RESULTS + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(b"".join(kept))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return {
        "quarantined": [b.describe() for b in scan.bad],
        "retried": [f"{r['task_id']} trial {r['trial']}" for r, _ in retried],
    }


def _append_synced(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class ResultsStore:
    """Appends results to ``RUN_DIR/results.jsonl``, one flushed line per simulation."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.path = run_dir / RESULTS
        run_dir.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._handle = self.path.open("a", encoding="utf-8")
        self._dirty = threading.Event()
        self._closing = False
        self._sync_error: OSError | None = None
        self._syncer = threading.Thread(target=self._sync_loop, name="results-fsync", daemon=True)
        self._syncer.start()

    def _repair_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            handle.truncate(data.rfind(b"\n") + 1)

    def finished(self) -> set[tuple[str, int]]:
        return finished_pairs(self.run_dir)

    def append(self, result: dict[str, Any]) -> None:
        if self._sync_error is not None:
            raise self._sync_error
        self._handle.write(json.dumps(result, default=str) + "\n")
        self._handle.flush()  # in the kernel now: survives kill -9
        self._dirty.set()  # the syncer thread fsyncs it (group commit)

    def _sync_loop(self) -> None:
        fd = self._handle.fileno()
        while True:
            self._dirty.wait()
            self._dirty.clear()
            if self._closing:
                return
            try:
                os.fsync(fd)
            except OSError as exc:  # reported by the next append (or close)
                self._sync_error = exc

    def close(self) -> None:
        if self._handle.closed:
            return
        self._closing = True
        self._dirty.set()
        self._syncer.join()
        try:
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()
        if self._sync_error is not None:
            raise self._sync_error


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    tmp.replace(run_dir / MANIFEST)


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: not a casework manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: not a casework manifest (expected a JSON object)")
    return manifest
