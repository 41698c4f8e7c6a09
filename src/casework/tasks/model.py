"""The task data model: plain pydantic data, shared by every format, generator and checker.

A :class:`Task` is what a user simulator and a grader need: the user's ``instruction`` (``q`` in
the APIGen-MT blueprint format), the ground-truth ``actions`` an agent should take (``agt``) and the
``outputs`` it should tell the user (``ogt``). ``Task`` forbids unknown fields, so a typo such as
``instrution`` fails loudly instead of being dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Action(BaseModel):
    """One tool call: the tool's name and its keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.name}({args})"


class ValidationReport(BaseModel):
    """The outcome of validating a task: overall verdict plus each stage's result.

    ``missing`` names what the task lacks (e.g. information the instruction should give the user);
    ``suggestions`` are free-text fixes; ``stages`` maps a stage name to its result. Unknown keys
    are kept, so reports written by other tools survive a round trip.
    """

    model_config = ConfigDict(extra="allow")

    valid: bool
    missing: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    stages: dict[str, Any] = Field(default_factory=dict)


#: ``task.metadata[GROUND_TRUTH_KEY] == MISSING``: the file gave no ground truth for the task (no
#: ``actions`` / ``agt`` field, a tau2 task without ``evaluation_criteria``). Such a task cannot be
#: graded: validation reports it and ``casework run`` refuses it (never a free reward of 1).
GROUND_TRUTH_KEY = "ground_truth"
MISSING = "missing"


class Task(BaseModel):
    """One multi-turn customer-service task."""

    model_config = ConfigDict(extra="forbid")

    id: str
    #: the domain the task belongs to; None when its file does not say (it then runs in the run's domain)
    domain: str | None = None
    user_id: str | None = None
    instruction: str
    actions: list[Action] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    persona: str | None = None
    scenario: str | list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    validation_report: ValidationReport | None = None

    @property
    def action_names(self) -> list[str]:
        """The tool names of the ground-truth actions, in order."""
        return [action.name for action in self.actions]

    @property
    def scenario_text(self) -> str:
        """The scenario as text: ``return + address_change`` for several, ``-`` for none."""
        if not self.scenario:
            return "-"
        return " + ".join(self.scenario) if isinstance(self.scenario, list) else self.scenario

    @property
    def has_ground_truth(self) -> bool:
        """False for a task whose file gave no ground truth (see :data:`GROUND_TRUTH_KEY`)."""
        return self.metadata.get(GROUND_TRUTH_KEY) != MISSING

    @property
    def kind(self) -> str:
        """``graded`` (ground-truth actions, possibly none, and outputs) or ``no ground truth``."""
        return "graded" if self.has_ground_truth else "no ground truth"

    @property
    def valid(self) -> bool | None:
        """The validation verdict, or None when the task has not been validated."""
        return None if self.validation_report is None else self.validation_report.valid
