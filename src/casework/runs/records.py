"""Typed run records: what one line of ``results.jsonl`` holds, and each score component.

Every reader of a run (summary, reports, compare, regrade) goes through :func:`read_records`, and
the runner writes lines through :meth:`SimulationResult.to_line`. ``manifest.json`` carries the
``schema_version`` the lines were written with; a manifest without one is version 1 (the untyped
lines written before these models existed), which reads unchanged: every field added since has a
default, and unknown fields are kept (``extra="allow"``) so that a newer file survives an older
reader and a round trip.

Schema versions
- 1: the flat result line (reward, reward parts, action metrics, shaped reward, error category,
  trajectory, model calls).
- 2: adds ``reward_basis``, ``components`` (one :class:`ScoreComponent` per scorer, τ³'s DB,
  COMMUNICATE, ACTION, NL_ASSERTION and ENV_ASSERTION among them) and ``requestor`` on each tool
  call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casework.scoring.components import Check, ScoreComponent
from casework.tasks.model import Requestor

__all__ = ["Check", "ScoreComponent", "SimulationResult", "read_records", "parse_result", "schema_version"]

SCHEMA_VERSION = 2


class ToolCallRecord(BaseModel):
    """A tool call as executed, with who made it (``assistant`` or the ``user`` on their device)."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    observation: str = ""
    error: bool = False
    duration_s: float = 0.0
    step: int = 0
    requestor: Requestor = "assistant"


class Message(BaseModel):
    """One chat message of the trajectory (OpenAI chat format; tool calls as the model sent them)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | None = None


class ModelCall(BaseModel):
    """One model call (agent, user or judge): latency, tokens and cost (see ``casework.llm.CallRecord``)."""

    model_config = ConfigDict(extra="allow")

    role: str | None = None
    model: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    base_url: str | None = None
    cache_hit: bool | None = None


class ExpectedAction(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class SimulationResult(BaseModel):
    """One finished simulation: its scores, its trajectory and its model calls (a ``results.jsonl`` line)."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    trial: int = 0
    # the reward and its tau-bench parts
    reward: float = 0.0
    success: bool = False
    db_match: bool | None = None
    outputs_match: bool | None = None
    outputs_found: list[bool] = Field(default_factory=list)
    expected_state_sha256: str | None = None
    final_state_sha256: str | None = None
    # τ³ grading (schema 2)
    reward_basis: list[str] | None = None
    components: dict[str, ScoreComponent] = Field(default_factory=dict)
    # action metrics, shaped reward, error taxonomy
    action_precision: float | None = None
    action_recall: float | None = None
    action_f1: float | None = None
    exact_match: bool | None = None
    action_metrics: dict[str, Any] = Field(default_factory=dict)
    #: dual control: the user's device actions (user-side golden actions vs the user's calls)
    user_action_precision: float | None = None
    user_action_recall: float | None = None
    user_action_f1: float | None = None
    user_exact_match: bool | None = None
    shaped_reward: float | None = None
    shaped_reward_normalized: float | None = None
    shaped: dict[str, Any] = Field(default_factory=dict)
    error_category: str | None = None
    error_detail: str | None = None
    # how it ended
    termination_reason: str | None = None
    error: str | None = None
    #: why the user simulator ended the conversation abnormally (empty reply, gave up), else None
    user_abnormal_end: str | None = None
    persona: str | None = None
    scenario: str | list[str] | None = None
    agent_steps: int = 0
    tool_errors: int = 0
    dropped_tool_calls: int = 0
    execution_time: float | None = None
    model_response_time: float | None = None
    user_response_time: float | None = None
    tool_execution_time: float | None = None
    # the trajectory
    expected_actions: list[ExpectedAction] = Field(default_factory=list)
    expected_outputs: list[str] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    message_times: list[float] = Field(default_factory=list)
    model_calls: list[ModelCall] = Field(default_factory=list)
    #: per user turn, what the user simulator reported (``message_index`` + e.g. ``best_of_n``:
    #: ``chosen``, ``candidates`` with ``content``/``score``/``reason``); absent for most runs
    user_turns: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def agent_messages(self) -> list[str]:
        return [m.content for m in self.messages if m.role == "assistant" and m.content]

    def to_line(self) -> dict[str, Any]:
        """The JSON-ready line (fields never set are left out, as in the files written before)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def as_row(self) -> dict[str, Any]:
        """The line as a plain dict, for readers that index it by name (the reports)."""
        return self.model_dump(mode="json", exclude_unset=True)


class RecordError(ValueError):
    """A result line that does not fit the record schema; the message names the line and field."""


def parse_result(line: dict[str, Any] | SimulationResult) -> SimulationResult:
    """One result line (any schema version) as a :class:`SimulationResult`."""
    if isinstance(line, SimulationResult):
        return line
    data = dict(line)
    if "task_id" in data and isinstance(data["task_id"], int) and not isinstance(data["task_id"], bool):
        data["task_id"] = str(data["task_id"])
    try:
        return SimulationResult.model_validate(data)
    except ValidationError as exc:
        where = f"task {data.get('task_id')!r} trial {data.get('trial')!r}"
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in e['loc'])!r}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise RecordError(f"result line of {where}: {problems}") from None


def read_records(run_dir: Path) -> list[SimulationResult]:
    """The complete result lines of a run as typed records (any schema version)."""
    from casework.runs.store import RESULTS, read_results

    try:
        return [parse_result(line) for line in read_results(Path(run_dir))]
    except RecordError as exc:
        raise RecordError(f"{Path(run_dir) / RESULTS}: {exc}") from None


def schema_version(manifest: dict[str, Any] | None) -> int:
    """The schema version a run's lines were written with (1 when the manifest does not say)."""
    if not manifest:
        return 1
    return int(manifest.get("schema_version", 1))
