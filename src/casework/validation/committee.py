"""Validation stage 5, ``committee``: model reviewers vote on four binary criteria.

Each of ``M`` reviewers (anything with ``async chat(messages, **params) -> Completion``, such as
:class:`casework.llm.LLMClient`) sees the policy, the task (instruction, ground-truth actions with
their real observations, expected outputs) and answers with a JSON object::

    {"correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 0, "reason": "..."}

- correctness: the actions are right for the instruction and follow the policy;
- completeness: the instruction gives the user everything they need, and the actions cover the
  whole request;
- satisfaction: a user following the instruction would end up satisfied;
- creativity: the task is more than a trivial template (varied, realistic).

The members differ, so that one model asked three times is not a committee of one: member ``i``
reviews through its own lens (:data:`LENSES`: a policy auditor, the customer, a test designer,
cycled) and samples with its own temperature and seed (:func:`member_params`). Distinct models
come from the models file's ``reviewers`` section.

Per criterion the majority of the ``M`` reviewers decides (a reviewer whose answer cannot be
parsed, or that errored, counts as a "no" for every criterion and its reason is kept). The pass
rule says which criteria must hold: ``core`` (correctness, completeness, satisfaction; the
default), ``all`` (all four), or a comma-separated list of criteria. Every vote is stored.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from casework.jsontext import JSONTextError, extract_json
from casework.tasks.model import Task

CRITERIA: tuple[str, ...] = ("correctness", "completeness", "satisfaction", "creativity")

#: (name, instruction) of each member's lens; member ``i`` gets ``LENSES[i % len(LENSES)]``. Every
#: member scores all four criteria; the lens says what it looks at first.
LENSES: tuple[tuple[str, str], ...] = (
    (
        "policy auditor",
        "You are a strict policy auditor. Check first that every ground-truth action is allowed by the "
        "policy, in the right order, and that nothing the policy forbids happens.",
    ),
    (
        "customer",
        "You read the task as the customer would. Check first that someone following the instruction "
        "would ask for exactly what the actions do, and would be satisfied with the outcome.",
    ),
    (
        "test designer",
        "You are a test designer. Check first that the instruction is complete and unambiguous (the agent "
        "can reach the ground truth only from what the user says and the tools), and whether the task is "
        "more than a trivial template.",
    ),
)
#: how much each further member's temperature rises above the first member's (capped at 1.0)
TEMPERATURE_STEP = 0.4
PASS_RULES: dict[str, tuple[str, ...]] = {"core": CRITERIA[:3], "all": CRITERIA}


class ChatEndpoint(Protocol):
    async def chat(
        self, messages: list[dict[str, Any]], tools: Any = None, tool_choice: Any = None, **params: Any
    ) -> Any: ...


def required_criteria(rule: str) -> tuple[str, ...]:
    """The criteria a pass ``rule`` requires (``core``, ``all`` or ``a,b,...``)."""
    if rule in PASS_RULES:
        return PASS_RULES[rule]
    names = tuple(part.strip() for part in rule.split(",") if part.strip())
    unknown = [n for n in names if n not in CRITERIA]
    if unknown or not names:
        raise ValueError(
            f"pass rule must be 'core', 'all' or criteria from {', '.join(CRITERIA)}; got {rule!r}"
        )
    return names


@dataclass
class Vote:
    reviewer: int
    scores: dict[str, bool]
    reason: str = ""
    error: str | None = None
    raw: str | None = None
    #: the member's lens and sampling parameters (temperature, seed)
    lens: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CommitteeResult:
    passed: bool
    majority: dict[str, bool]
    votes: list[Vote] = field(default_factory=list)
    rule: str = "core"

    def failed_criteria(self) -> list[str]:
        return [c for c in required_criteria(self.rule) if not self.majority.get(c, False)]

    def to_stage(self) -> dict[str, Any]:
        """The ``validation_report.stages["committee"]`` entry."""
        out: dict[str, Any] = {
            "passed": self.passed,
            "rule": self.rule,
            "majority": self.majority,
            "votes": [asdict(v) for v in self.votes],
        }
        if not self.passed:
            reasons = [
                v.reason or v.error or ""
                for v in self.votes
                if v.error or not all(v.scores.get(c) for c in self.failed_criteria())
            ]
            out["reasons"] = [{"message": f"committee rejected: {', '.join(self.failed_criteria())}"}] + [
                {"message": r} for r in reasons if r
            ]
        return out


def member_params(member: int, temperature: float | None = 0.0) -> dict[str, Any]:
    """Sampling parameters of committee member ``member``: its own seed and, from the second member
    on, a higher temperature (``temperature`` + ``TEMPERATURE_STEP`` per member, at most 1.0)."""
    params: dict[str, Any] = {"seed": member}
    if temperature is not None:
        params["temperature"] = round(min(1.0, temperature + TEMPERATURE_STEP * member), 3)
    return params


def review_messages(
    task: Task, policy: str, observations: list[str] | None = None, member: int = 0
) -> list[dict[str, Any]]:
    """The prompt committee member ``member`` gets (its lens first in the system prompt)."""
    steps = []
    for index, action in enumerate(task.actions):
        line = f"{index}. {action.name}({json.dumps(action.arguments, ensure_ascii=False)})"
        if observations is not None and index < len(observations):
            line += f"\n   -> {observations[index][:400]}"
        steps.append(line)
    user = (
        f"## Instruction given to the simulated user\n{task.instruction}\n\n"
        f"## Ground-truth actions of the agent (with the real tool results)\n" + "\n".join(steps) + "\n\n"
        f"## Outputs the agent must tell the user\n{json.dumps(task.outputs, ensure_ascii=False)}\n\n"
        "Score each criterion 1 (yes) or 0 (no):\n"
        "- correctness: the actions are right for the instruction and follow the policy;\n"
        "- completeness: the instruction gives the user all they need and the actions cover the whole request;\n"
        "- satisfaction: a user following the instruction would be satisfied by this outcome;\n"
        "- creativity: the task is varied and realistic, not a trivial template.\n"
        'Answer with only a JSON object: {"correctness": 0|1, "completeness": 0|1, "satisfaction": 0|1, '
        '"creativity": 0|1, "reason": "one sentence"}'
    )
    _, lens = LENSES[member % len(LENSES)]
    system = (
        f"You review customer-service tasks used to test AI agents. {lens} "
        "The agent must follow this policy:\n\n" + policy
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value >= 0.5
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "yes", "true", "pass", "y"):
            return True
        if text in ("0", "no", "false", "fail", "n"):
            return False
    return None


def parse_vote(reviewer: int, text: str | None) -> Vote:
    """A vote from a reviewer's reply; unparseable or incomplete replies vote no, with the error."""
    no = dict.fromkeys(CRITERIA, False)
    try:
        data = extract_json(text)
    except JSONTextError as exc:
        return Vote(reviewer, no, error=str(exc), raw=text)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return Vote(reviewer, no, error="the reply is not a JSON object", raw=text)
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    scores: dict[str, bool] = {}
    missing = []
    for criterion in CRITERIA:
        value = _truthy(lowered.get(criterion))
        if value is None:
            missing.append(criterion)
        scores[criterion] = bool(value)
    error = f"missing or unreadable scores: {', '.join(missing)}" if missing else None
    return Vote(
        reviewer,
        scores,
        reason=str(lowered.get("reason", ""))[:500],
        error=error,
        raw=None if not error else text,
    )


def decide(votes: list[Vote], size: int, rule: str = "core") -> CommitteeResult:
    """Majority per criterion over ``size`` reviewers (missing votes count as no), then the pass rule."""
    majority = {c: sum(v.scores.get(c, False) for v in votes) * 2 > size for c in CRITERIA}
    passed = all(majority[c] for c in required_criteria(rule))
    return CommitteeResult(passed=passed, majority=majority, votes=votes, rule=rule)


async def review(
    reviewers: list[ChatEndpoint],
    task: Task,
    policy: str,
    observations: list[str] | None = None,
    *,
    rule: str = "core",
    temperature: float | None = 0.0,
) -> CommitteeResult:
    """Ask every member (concurrently), each through its lens and with its own parameters, and decide."""

    async def one(index: int, reviewer: ChatEndpoint) -> Vote:
        messages = review_messages(task, policy, observations, member=index)
        params = member_params(index, temperature)
        try:
            completion = await reviewer.chat(messages, **params)
        except Exception as exc:  # an endpoint failure is a recorded "no", never a crash
            vote = Vote(index, dict.fromkeys(CRITERIA, False), error=f"{type(exc).__name__}: {exc}")
        else:
            vote = parse_vote(index, getattr(completion, "content", None))
        vote.lens = LENSES[index % len(LENSES)][0]
        vote.params = params
        return vote

    votes = await asyncio.gather(*(one(i, r) for i, r in enumerate(reviewers)))
    return decide(list(votes), len(reviewers), rule)
