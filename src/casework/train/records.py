"""The one reader of run directories for training: ``results.jsonl`` lines as typed records.

Everything in :mod:`casework.train` reads runs through :func:`load_run`. Each line is checked
against the run's typed record (:class:`casework.runs.records.SimulationResult`, any schema version
up to :data:`casework.runs.records.SCHEMA_VERSION`), then the fields training needs are kept.

``manifest.json`` holds the configuration
(``config.domain``, ``config.data``, ``config.mode``, ``config.agent``) and ``results.jsonl`` one JSON
object per finished simulation. A directory or line that declares a ``schema_version`` other than
the ones this reader knows is refused; a line that is not a complete JSON object (torn or corrupted)
is refused with its file and line number; simulations that ended in an infrastructure error are
excluded and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casework.domains.registry import DEFAULT_DOMAIN
from casework.runs.records import SCHEMA_VERSION, parse_result
from casework.runs.records import RecordError as LineError
from casework.runs.store import MANIFEST, RESULTS

#: Result-line schema versions this reader understands. Lines written before versioning have none (= 1).
KNOWN_SCHEMA_VERSIONS = frozenset(range(1, SCHEMA_VERSION + 1))
INFRASTRUCTURE_ERROR = "infrastructure_error"


class RecordError(ValueError):
    """A run directory cannot be read; the message names the file (and line) and what was expected."""


class TrajectoryRecord(BaseModel):
    """The fields of one result line that training needs (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    task_id: str
    trial: int = 0
    reward: float = 0.0
    success: bool = False
    termination_reason: str = ""
    scenario: str | list[str] | None = None
    persona: str | None = None
    shaped_reward: float | None = None
    error_category: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    expected_actions: list[dict[str, Any]] = Field(default_factory=list)
    expected_outputs: list[str] = Field(default_factory=list)

    @property
    def infrastructure_error(self) -> bool:
        return self.termination_reason == INFRASTRUCTURE_ERROR

    @property
    def scenarios(self) -> list[str]:
        if self.scenario is None:
            return []
        return [self.scenario] if isinstance(self.scenario, str) else list(self.scenario)


@dataclass
class RunRecords:
    """One run directory: where it is, what configured it, and its usable trajectories."""

    run_dir: Path
    manifest: dict[str, Any]
    trajectories: list[TrajectoryRecord]
    infrastructure_errors: int = 0
    lines: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest.get("config") or {}

    @property
    def domain(self) -> str:
        return str(self.config.get("domain") or DEFAULT_DOMAIN)

    @property
    def data(self) -> str | None:
        """The database the run used (a path), or None for the domain's embedded default."""
        value = self.config.get("data")
        return str(value) if value else None

    @property
    def mode(self) -> str:
        return str(self.config.get("mode") or "interactive")

    def policy_text(self) -> str | None:
        """The custom policy file's text when the run used one and it is still readable, else None."""
        path = self.config.get("policy")
        if not path:
            return None
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError:
            return None


def _check_version(value: Any, where: str) -> None:
    if value is None:
        return
    if value not in KNOWN_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise RecordError(f"{where}: schema_version {value!r} is not supported (this casework reads {known})")


def load_run(run_dir: Path | str) -> RunRecords:
    """Read a run directory, raising :class:`RecordError` (file, line, what was expected) on bad input."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    results_path = run_dir / RESULTS
    if not run_dir.is_dir():
        raise RecordError(f"{run_dir}: not a run directory (expected a folder holding {RESULTS})")
    if not results_path.exists():
        raise RecordError(f"{results_path}: missing (is {run_dir} a run directory made by `casework run`?)")
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RecordError(f"{manifest_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(manifest, dict):
            raise RecordError(f"{manifest_path}: expected a JSON object")
        _check_version(manifest.get("schema_version"), str(manifest_path))
    records = RunRecords(run_dir=run_dir, manifest=manifest, trajectories=[])
    with results_path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            records.lines += 1
            where = f"{results_path}:{number}"
            if not raw.endswith(b"\n"):
                raise RecordError(
                    f"{where}: torn last line (the run was killed mid-write; `casework run --resume` repairs it)"
                )
            try:
                line = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RecordError(f"{where}: not a complete JSON object (torn or corrupted line)") from None
            if not isinstance(line, dict):
                raise RecordError(f"{where}: expected a JSON object, got {type(line).__name__}")
            _check_version(line.get("schema_version"), where)
            try:
                parse_result(line)  # the run's own typed record: every field of the line fits its schema
            except LineError as exc:
                raise RecordError(f"{where}: {exc}") from None
            try:
                record = TrajectoryRecord.model_validate(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise RecordError(f"{where}: field {loc!r}: {first['msg']}") from None
            if record.infrastructure_error:
                records.infrastructure_errors += 1
                continue
            records.trajectories.append(record)
    return records


def manifest_summary(run: RunRecords) -> dict[str, Any]:
    """What a dataset card records about a source run (no secrets: the manifest never holds any)."""
    config = run.config
    return {
        "run_dir": str(run.run_dir),
        "domain": run.domain,
        "agent": config.get("agent"),
        "mode": run.mode,
        "user": config.get("user"),
        "agent_model": (config.get("agent_endpoint") or {}).get("model"),
        "tasks": config.get("tasks"),
        "tasks_sha256": run.manifest.get("tasks_sha256"),
        "data": run.data,
        "seed": run.manifest.get("seed"),
        "git_commit": run.manifest.get("git_commit"),
        "created_at": run.manifest.get("created_at"),
        "result_lines": run.lines,
        "infrastructure_errors": run.infrastructure_errors,
    }
