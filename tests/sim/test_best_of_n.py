"""Best-of-N user turns: N candidates from the user model, a scripted judge scores them, the best is sent
and every score is recorded (in the reply's metadata and the result line's ``user_turns``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from casework.domains import UserFacts, get_domain
from casework.generate.templated import generate_templated
from casework.llm.types import CallRecord, Completion
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_results
from casework.sim.best_of_n import DEFAULT_TEMPERATURE, BestOfNUser, SamplingClient, parse_score
from casework.sim.users import LLMUser, ScriptedUser
from casework.tasks import save_tasks

RETAIL = get_domain("retail")


class CandidateModel:
    """A user model that answers ``<letter>: <text>`` with letters A, B, C, ... in turn (one per
    call); once the agent has said the request is complete, every candidate ends with ###STOP###."""

    def __init__(self, letters: str = "ABC"):
        self.letters = letters
        self.calls: list[dict] = []

    async def chat(self, messages, tools=None, tool_choice=None, *, role=None, **params):
        self.calls.append({"messages": list(messages), "params": params})
        letter = self.letters[(len(self.calls) - 1) % len(self.letters)]
        last = messages[-1].get("content") or ""
        text = (
            f"{letter}: thanks ###STOP###" if "complete" in last else f"{letter}: I need help with my order."
        )
        return Completion(content=text, usage=CallRecord(role="user", model="fake-user", latency_s=0.01))


class FidelityJudge:
    """Scores a candidate from its letter: ``answers`` maps a letter to the judge's raw answer."""

    class config:
        model = "scripted-fidelity-judge"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.calls: list[dict] = []

    async def chat(self, messages, tools=None, tool_choice=None, *, role=None, **params):
        self.calls.append({"messages": list(messages), "role": role, "params": params})
        candidate = messages[-1]["content"].rsplit("Candidate next message of the customer:\n", 1)[1]
        answer = self.answers[candidate[0]]
        return Completion(content=answer, usage=CallRecord(role=role, model="judge", latency_s=0.01))


ANSWERS = {
    "A": json.dumps({"score": 3, "reason": "vague"}),
    "B": '```json\n{"score": "9/10", "reason": "faithful"}\n```',
    "C": "I cannot decide.",  # no score: counts as 0
}


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"score": 7, "reason": "ok"}', 7.0),
        ('Here you go: {"score": 8.5}', 8.5),
        ('```json\n{"score": "6"}\n```', 6.0),
        ('{"rating": "9/10"}', 9.0),
        ("4", 4.0),
        ("Score: 5", 5.0),
        ('{"score": 14}', 10.0),
        ('{"score": -2}', 0.0),
        ('{"score": true}', None),
        ('{"reason": "no score"}', None),
        ("no idea", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_score_reads_scores_robustly(text, score):
    assert parse_score(text)[0] == score


def _user(model: CandidateModel, judge: FidelityJudge, n: int = 3) -> BestOfNUser:
    task = generate_templated(RETAIL, RETAIL.database(), 1, seed=2)[0]
    user = BestOfNUser(LLMUser(SamplingClient(model)), judge, n)
    user.bind_domain(RETAIL)
    user.reset(task, UserFacts(), None, lambda: False)
    return user


def test_the_best_scored_candidate_is_sent_and_every_score_recorded():
    model, judge = CandidateModel(), FidelityJudge(ANSWERS)
    user = _user(model, judge)

    opening = asyncio.run(user.first_message())
    assert opening.content.startswith("B:")
    turn = opening.metadata["best_of_n"]
    assert turn["chosen"] == 1 and turn["scores"] == [3.0, 9.0, 0.0]
    assert [c["content"][0] for c in turn["candidates"]] == ["A", "B", "C"]
    assert turn["candidates"][1]["reason"] == "faithful"
    assert "unreadable score" in turn["candidates"][2]["reason"]
    roles = [c["role"] for c in opening.calls]
    assert roles.count("judge") == 3 and roles.count("user") == 3
    # candidates are sampled (temperature set), the judge is asked deterministically
    assert all(c["params"]["temperature"] == DEFAULT_TEMPERATURE for c in model.calls)
    assert all(c["params"]["temperature"] == 0.0 and c["role"] == "judge" for c in judge.calls)
    assert "this is the customer's opening message" in judge.calls[0]["messages"][-1]["content"]

    reply = asyncio.run(user.respond("Can you give me your order id?"))
    assert reply.content.startswith("B:") and reply.metadata["best_of_n"]["chosen"] == 1
    # the user model continues from the sent candidate only: the rejected ones are forgotten
    history = model.calls[-1]["messages"]
    said = [m["content"] for m in history if m["role"] == "assistant"]
    assert said == [opening.content]
    conversation = judge.calls[-1]["messages"][-1]["content"]
    assert (
        f"customer: {opening.content}" in conversation
        and "agent: Can you give me your order id?" in conversation
    )
    assert "A: I need" not in conversation.split("Candidate")[0]


def test_ties_go_to_the_earliest_candidate_and_all_unreadable_is_the_first():
    tie = {"A": '{"score": 5}', "B": '{"score": 5}', "C": '{"score": 1}'}
    assert asyncio.run(_user(CandidateModel(), FidelityJudge(tie)).first_message()).content.startswith("A:")
    none = {k: "??" for k in "ABC"}
    reply = asyncio.run(_user(CandidateModel(), FidelityJudge(none)).first_message())
    assert reply.content.startswith("A:") and reply.metadata["best_of_n"]["scores"] == [0.0, 0.0, 0.0]


def test_refuses_a_user_without_rewind_or_without_a_judge():
    with pytest.raises(ValueError, match="judge"):
        BestOfNUser(LLMUser(CandidateModel()), None, 3)
    user = BestOfNUser(ScriptedUser(), FidelityJudge(ANSWERS), 2)
    with pytest.raises(NotImplementedError, match="cannot be rewound"):
        user.inner.snapshot()
    with pytest.raises(ValueError, match="dual control"):
        user.bind_tools([{"type": "function", "function": {"name": "toggle"}}], lambda n, a: "")


def test_a_run_with_best_of_n_records_the_scores_in_the_result_line(tmp_path: Path):
    tasks = generate_templated(RETAIL, RETAIL.database(), 12, seed=5)
    task = next(t for t in tasks if t.actions and t.actions[-1].name != "transfer_to_human_agents")
    tasks_file = tmp_path / "tasks.json"
    save_tasks([task], tasks_file)
    out = tmp_path / "run"
    model, judge = CandidateModel(), FidelityJudge(ANSWERS)
    config = RunConfig(tasks=tasks_file, out=out, agent="oracle", user="llm", best_of_n=3, concurrency=1)
    asyncio.run(Runner(config, user_llm=model, judge_llm=judge).run())

    [result] = read_results(out)
    assert result["reward"] == 1.0 and result["termination_reason"] == "user_stop"
    turns = result["user_turns"]
    user_messages = [i for i, m in enumerate(result["messages"]) if m["role"] == "user"]
    assert [t["message_index"] for t in turns] == user_messages
    for t in turns:
        sent = result["messages"][t["message_index"]]["content"]
        assert sent == t["best_of_n"]["candidates"][t["best_of_n"]["chosen"]]["content"]
        assert sent.startswith("B:") and t["best_of_n"]["scores"] == [3.0, 9.0, 0.0]
    roles = [c["role"] for c in result["model_calls"]]
    assert roles.count("judge") == roles.count("user") == 3 * len(turns)
