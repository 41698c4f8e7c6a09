"""The task data model: plain pydantic data, shared by every format, generator and checker.

A :class:`Task` is what a user simulator and a grader need: the user's ``instruction`` (``q`` in
the APIGen-MT blueprint format), the ground-truth ``actions`` an agent should take (``agt``) and the
``outputs`` it should tell the user (``ogt``). ``Task`` forbids unknown fields, so a typo such as
``instrution`` fails loudly instead of being dropped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

#: who calls a tool: the agent (``assistant``) or the user on their own device (``user``)
Requestor = Literal["assistant", "user"]


def _drop_unset_optional(
    model: BaseModel, handler: SerializerFunctionWrapHandler, optional: dict[str, Any]
) -> dict[str, Any]:
    """Serialise ``model`` leaving out the optional fields that hold their default, so that files
    written before those fields existed are written byte for byte as before."""
    data = handler(model)
    for name, default in optional.items():
        if name in data and data[name] == default:
            del data[name]
    return data


class Action(BaseModel):
    """One tool call: the tool's name and its keyword arguments.

    τ³ fields (kept only when set): ``action_id``; ``requestor`` (``user`` for a call the user
    makes on their own device); ``compare_args`` (the arguments that decide an ACTION match, None:
    every argument the call names); ``info`` (a note).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    action_id: str | None = None
    requestor: Requestor = "assistant"
    compare_args: list[str] | None = None
    info: str | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        return _drop_unset_optional(
            self, handler, {"action_id": None, "requestor": "assistant", "compare_args": None, "info": None}
        )

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


class RewardType(StrEnum):
    """The components a τ³ ``reward_basis`` multiplies into the reward."""

    DB = "DB"
    ACTION = "ACTION"
    COMMUNICATE = "COMMUNICATE"
    NL_ASSERTION = "NL_ASSERTION"
    ENV_ASSERTION = "ENV_ASSERTION"


#: τ³'s default basis (the original τ-bench rule); a task with this basis is graded by casework's
#: τ-bench rule (database hash + expected outputs), so it is stored as None.
DEFAULT_REWARD_BASIS = (RewardType.DB, RewardType.COMMUNICATE)


class EnvAssertion(BaseModel):
    """A named check of the domain run on the final state (τ³ ``env_assertions``)."""

    model_config = ConfigDict(extra="allow")

    env_type: Requestor = "assistant"
    func_name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    assert_value: bool = True
    message: str | None = None


class StructuredInstructions(BaseModel):
    """τ³'s structured user instructions (``user_scenario.instructions``)."""

    model_config = ConfigDict(extra="allow")

    domain: str | None = None
    reason_for_call: str | None = None
    known_info: str | None = None
    unknown_info: str | None = None
    task_instructions: str | None = None


class UserScenario(BaseModel):
    """The structured form of what the LLM user is told; :attr:`Task.instruction` is its rendered text.

    ``instructions`` is None when the file gave plain text (then :attr:`Task.instruction` is it).
    """

    model_config = ConfigDict(extra="allow")

    instructions: StructuredInstructions | None = None


class InitialState(BaseModel):
    """τ³ ``initial_state``: data merged into the database and actions run before the conversation."""

    model_config = ConfigDict(extra="allow")

    initialization_data: dict[str, Any] | None = None
    initialization_actions: list[dict[str, Any]] | None = None
    message_history: list[dict[str, Any]] | None = None


class Description(BaseModel):
    """τ³ ``description``: what the task tests (for people and judges, not the agent)."""

    model_config = ConfigDict(extra="allow")

    purpose: str | None = None
    relevant_policies: str | None = None
    notes: str | None = None


_TASK_OPTIONAL = {
    "user_scenario": None,
    "initial_state": None,
    "ticket": None,
    "description": None,
    "env_assertions": None,
    "nl_assertions": None,
    "reward_basis": None,
}


class Task(BaseModel):
    """One multi-turn customer-service task.

    τ³ fields (None when the task has none, and then left out of written files): ``user_scenario``
    (structured instructions), ``initial_state``, ``ticket``, ``description``, ``env_assertions``,
    ``nl_assertions`` and ``reward_basis`` (the components multiplied into the reward; None: the
    τ-bench rule, database hash and expected outputs). ``outputs`` are τ³'s ``communicate_info``.
    """

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
    user_scenario: UserScenario | None = None
    initial_state: InitialState | None = None
    ticket: str | None = None
    description: Description | None = None
    env_assertions: list[EnvAssertion] | None = None
    nl_assertions: list[str] | None = None
    reward_basis: list[RewardType] | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        return _drop_unset_optional(self, handler, _TASK_OPTIONAL)

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
