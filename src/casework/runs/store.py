"""The run directory: an append-only ``results.jsonl`` and a ``manifest.json``.

Every finished simulation is one JSON line, written and flushed to the operating system as soon as
it is graded, so a crash or ``kill -9`` of the process loses at most the simulations still in flight.
A background thread then ``fsync``s the file (one ``fsync`` covers every line written before it, so
a burst of results costs one disk flush and the event loop never waits on the disk); ``close``
fsyncs whatever is left. A torn last line (the process died mid-write) is ignored when reading and
cut off before appending again.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (e.g. resuming with a different configuration)."""


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """The complete result lines of a run (a torn final line is skipped)."""
    return list(_iter_results(run_dir / RESULTS))


def finished_pairs(run_dir: Path) -> set[tuple[str, int]]:
    """The (task_id, trial) pairs with a complete result line."""
    return {(r["task_id"], int(r["trial"])) for r in _iter_results(run_dir / RESULTS)}


def _iter_results(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # torn write from a killed process
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue


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
    return json.loads(path.read_text(encoding="utf-8"))
