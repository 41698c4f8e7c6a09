"""Best-of-N user turns: sample N candidate user messages, let a judge score each one's fidelity to
the task instruction (0-10), send the best.

:class:`BestOfNUser` wraps any user simulator that can be rewound (:meth:`UserSimulator.snapshot` /
:meth:`UserSimulator.restore`; the LLM user can). For every user turn (the opening included) it asks
the wrapped user for ``n`` candidates, rewinding it before each, then asks the judge to score each
candidate against the instruction and the conversation so far, and keeps the wrapped user in the
state of the best candidate (ties go to the earliest). The judge answers JSON ``{"score": 0-10,
"reason": "..."}``; the score is read robustly (code fences, prose around the JSON, a bare number,
``"7/10"``) and clamped to 0-10; an answer with no readable score, or a judge that rejects the
request, counts as 0. An unreachable judge (after its retries) is an infrastructure error, as for
every other model of a simulation.

Every candidate's model calls (role ``user``) and every judge call (role ``judge``) are recorded with
the simulation, and each turn's candidates with their scores and reasons travel on the reply as
``metadata["best_of_n"]`` (``chosen``: the index of the sent candidate), which the run writes into
the result line (``user_turns``).

Sampling: the candidates come from the wrapped user's model; :class:`SamplingClient` sets the
sampling temperature (default :data:`DEFAULT_TEMPERATURE`) so that they differ even when the
endpoint is configured deterministic (the embedded model's is 0). A user that acts on a device
(dual-control domains) cannot be rewound (its tool calls change the state) and is refused.

Nothing here knows a domain.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from casework.sim.types import UserReply
from casework.sim.users import UserSimulator

if TYPE_CHECKING:
    from casework.domains import Domain, UserFacts
    from casework.tasks.model import Task

#: sampling temperature of the candidates (the endpoint's own setting is often 0 = identical candidates)
DEFAULT_TEMPERATURE = 1.0
MAX_SCORE = 10.0

JUDGE_SYSTEM = """You grade a simulated customer. The customer was given a task instruction that says \
who they are, what they want and how to behave. You see the instruction, the conversation so far and \
one candidate for the customer's next message.

Score from 0 to 10 how faithful the candidate is to the instruction:
10 = it pursues the instruction's goal, states only facts the instruction gives, reveals information \
only when asked, and follows the instruction's rules of behaviour;
5 = partly faithful (vague, off-topic, or repeats itself);
0 = it contradicts the instruction, invents facts, plays the agent, or gives up on the goal.
Ending the conversation (###STOP###) is faithful only when the goal has been reached.

Answer with one JSON object and nothing else: {"score": <integer 0-10>, "reason": "<one sentence>"}"""

JUDGE_PROMPT = """Instruction:
{instruction}

Conversation so far:
{conversation}

Candidate next message of the customer:
{candidate}"""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_score(text: str | None) -> tuple[float | None, str]:
    """``(score clamped to 0-10, reason)`` from a judge's answer; ``(None, why)`` when it holds no score.

    Reads a JSON object's ``score`` (also ``rating``/``fidelity``; a number or a numeric string such as
    ``"8"`` or ``"8/10"``), else a bare number that is the whole answer or follows ``score``."""
    from casework.jsontext import JSONTextError, extract_json

    if not text or not text.strip():
        return None, "empty answer"
    reason = ""
    try:
        data = extract_json(text)
    except JSONTextError:
        data = None
    if isinstance(data, dict):
        reason = str(data.get("reason") or data.get("reasoning") or "")
        for key in ("score", "rating", "fidelity"):
            value = data.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                return _clamp(float(value)), reason
            if isinstance(value, str) and (found := _NUMBER.search(value)):
                return _clamp(float(found.group())), reason
        return None, "the judge's JSON has no numeric 'score'"
    bare = text.strip()
    if _NUMBER.fullmatch(bare):
        return _clamp(float(bare)), ""
    found = re.search(r"score\W{0,4}(-?\d+(?:\.\d+)?)", bare, re.I)
    if found:
        return _clamp(float(found.group(1))), ""
    return None, "no score in the judge's answer"


def _clamp(value: float) -> float:
    return max(0.0, min(MAX_SCORE, value))


class SamplingClient:
    """A model client whose chat calls sample at ``temperature`` (other settings unchanged)."""

    def __init__(self, client: Any, temperature: float = DEFAULT_TEMPERATURE):
        self._client = client
        self.temperature = temperature

    async def chat(self, messages: Any, *args: Any, **params: Any) -> Any:
        params.setdefault("temperature", self.temperature)
        return await self._client.chat(messages, *args, **params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class BestOfNUser(UserSimulator):
    """A user simulator that sends, at every turn, the best of ``n`` candidates of ``inner`` as scored
    by ``judge`` (a chat client). See the module docstring."""

    name = "best-of-n"

    def __init__(self, inner: UserSimulator, judge: Any, n: int, *, max_tokens: int = 128):
        if judge is None:
            raise ValueError("best-of-N user turns need a judge model endpoint (--judge-model)")
        if n < 1:
            raise ValueError(f"best-of-N: n must be at least 1, got {n}")
        self.inner = inner
        self.judge = judge
        self.n = n
        self.max_tokens = max_tokens
        self.instruction = ""
        self.transcript: list[tuple[str, str]] = []  # (customer | agent, text) as sent

    # -- the UserSimulator interface, forwarded ---------------------------------------------------
    @property
    def domain(self) -> Domain | None:
        return self.inner.domain

    @property
    def device_tools(self) -> list[dict[str, Any]]:
        return self.inner.device_tools

    def bind_domain(self, domain: Domain) -> None:
        self.inner.bind_domain(domain)

    def bind_tools(self, tools: list[dict[str, Any]], call: Callable[[str, Any], str]) -> None:
        if tools:
            raise ValueError(
                "best-of-N user turns cannot be used when the user acts on a device (dual control): "
                "every candidate's tool calls would change the state"
            )

    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None:
        self.inner.reset(task, facts, persona, goal_reached)
        self.instruction = task.instruction
        self.transcript = []

    async def first_message(self) -> UserReply:
        return await self._best(self.inner.first_message)

    async def respond(self, agent_message: str) -> UserReply:
        self.transcript.append(("agent", agent_message))
        return await self._best(lambda: self.inner.respond(agent_message))

    # -- sampling and scoring ---------------------------------------------------------------------
    async def _best(self, sample: Callable[[], Awaitable[UserReply]]) -> UserReply:
        start = self.inner.snapshot()
        candidates: list[tuple[UserReply, Any]] = []
        for _ in range(self.n):
            self.inner.restore(start)
            reply = await sample()
            candidates.append((reply, self.inner.snapshot()))
        scored = await asyncio.gather(*(self._score(reply) for reply, _ in candidates))
        best = max(range(len(candidates)), key=lambda i: (scored[i][0], -i))
        chosen, state = candidates[best]
        self.inner.restore(state)
        self.transcript.append(("customer", chosen.content))
        calls = [call for reply, _ in candidates for call in reply.calls]
        calls += [call for _, _, _, call in scored if call is not None]
        metadata = {
            "best_of_n": {
                "chosen": best,
                "candidates": [
                    {"content": reply.content, "score": score, "reason": reason}
                    for (reply, _), (score, reason, _, _) in zip(candidates, scored, strict=True)
                ],
                "scores": [score for score, _, _, _ in scored],
            }
        }
        return chosen.model_copy(update={"calls": calls, "metadata": metadata})

    def _conversation(self) -> str:
        if not self.transcript:
            return "(none yet: this is the customer's opening message)"
        return "\n".join(f"{who}: {text}" for who, text in self.transcript)

    async def _score(self, reply: UserReply) -> tuple[float, str, str | None, dict[str, Any] | None]:
        """``(score, reason, raw answer, call record)`` of one candidate; 0 when unreadable."""
        from casework.llm import LLMError, LLMUnavailable

        if reply.abnormal:
            return 0.0, f"not scored: {reply.abnormal}", None, None
        prompt = JUDGE_PROMPT.format(
            instruction=self.instruction, conversation=self._conversation(), candidate=reply.content
        )
        try:
            completion = await self.judge.chat(
                [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}],
                role="judge",
                max_tokens=self.max_tokens,
                temperature=0.0,
            )
        except LLMUnavailable:
            raise  # the judge is down: an infrastructure error, like any other model of the simulation
        except LLMError as exc:
            record = exc.record.model_dump(mode="json") if exc.record is not None else None
            return 0.0, f"judge error: {exc}", None, _judge_role(record)
        score, reason = parse_score(completion.content)
        record = _judge_role(completion.usage.model_dump(mode="json"))
        if score is None:
            return (
                0.0,
                f"unreadable score ({reason}): {(completion.content or '')[:200]}",
                completion.content,
                record,
            )
        return score, reason, completion.content, record


def _judge_role(record: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if record is None else {**record, "role": "judge"}
