"""The run directory: an append-only ``results.jsonl`` and a ``manifest.json``.

Every finished simulation is one JSON line, written and flushed to disk (``fsync``) as soon as it
is graded, so a crash or ``kill -9`` loses at most the simulations still in flight. A torn last line
(the process died mid-write) is ignored when reading and cut off before appending again.
"""

from __future__ import annotations

import json
import os
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

    def _repair_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            handle.truncate(data.rfind(b"\n") + 1)

    def finished(self) -> set[tuple[str, int]]:
        return {(r["task_id"], int(r["trial"])) for r in _iter_results(self.path)}

    def append(self, result: dict[str, Any]) -> None:
        self._handle.write(json.dumps(result, default=str) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


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
