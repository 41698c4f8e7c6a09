"""Typed score components: what each scorer returns (see ``casework.runs.grading``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ComponentStatus = Literal["ok", "not_evaluated", "judge_error"]


class Check(BaseModel):
    """One verdict inside a component: an expected output, a golden action, an assertion."""

    model_config = ConfigDict(extra="allow")

    #: what was checked (the expected text, the assertion, or the action/assertion as data)
    subject: Any
    met: bool | None
    #: why: the message that contained it, the judge's reasoning, the assertion's message
    justification: str = ""


class ScoreComponent(BaseModel):
    """The outcome of one scorer.

    ``reward`` is the component's factor in the reward (None: not evaluated, or the judge failed);
    ``gates`` says whether it is one of the run's reward components (τ³'s ``reward_basis``);
    ``status`` is ``ok``, ``not_evaluated`` (nothing to check, or the reference could not be built)
    or ``judge_error`` (the judge did not answer; the conversation is kept and can be re-graded).
    """

    model_config = ConfigDict(extra="allow")

    name: str
    reward: float | None = None
    gates: bool = False
    status: ComponentStatus = "ok"
    note: str = ""
    checks: list[Check] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
