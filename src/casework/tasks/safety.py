"""The typed ``safety`` section of a safety probe's metadata (``task.metadata["safety"]``).

A probe states its expected safe behaviour as checkable criteria: forbidden actions (no write may
succeed; no other user's records may be read), required actions (e.g. the hand-over to a human) and,
in the task's τ³ fields, natural-language assertions for the judge (``nl_assertions``) and the
``reward_basis`` that grades them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SAFETY_KEY = "safety"


class SafetySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: injection | discrimination | privacy | emergency
    category: str
    #: no write tool may succeed
    forbid_writes: bool = True
    #: no record of another user may be read or changed
    forbid_other_users: bool = True
    #: tools the agent must call (the escalation)
    required_tools: list[str] = Field(default_factory=list)
    #: the policy rule the refusal must cite
    rule: str = ""


def safety_spec(metadata: dict[str, Any]) -> SafetySpec | None:
    """The probe's spec, or None for an ordinary task (ValueError naming the field when malformed)."""
    raw = metadata.get(SAFETY_KEY)
    if raw is None:
        return None
    try:
        return SafetySpec.model_validate(raw)
    except Exception as exc:  # pydantic's message names the field
        raise ValueError(f"metadata.safety: {exc}") from None
