"""Committee voting and the refinement loop, against deterministic scripted endpoints."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from casework.domains import get_domain
from casework.generate.pipeline import (
    GenerationError,
    PipelineConfig,
    TemplatedGenerator,
    rejected_path,
    run_pipeline,
    shortfall,
)
from casework.jsontext import JSONTextError, extract_json
from casework.tasks.model import Action, Task
from casework.validation.committee import CRITERIA, LENSES, decide, parse_vote, required_criteria, review

YES = '{"correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 0, "reason": "fine"}'
NO = '```json\n{"correctness": 0, "completeness": 1, "satisfaction": 1, "creativity": 1, "reason": "wrong order",}\n```'


@dataclass
class Reply:
    content: str | None


@dataclass
class Scripted:
    """A fake endpoint: answers from a script, one reply per call (the last one repeats)."""

    replies: list[str | Exception]
    calls: list[list[dict]] = field(default_factory=list)

    async def chat(self, messages, tools=None, tool_choice=None, **params):
        self.calls.append(messages)
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        if isinstance(reply, Exception):
            raise reply
        return Reply(reply)


@pytest.fixture(scope="module")
def retail():
    domain = get_domain("retail")
    return domain, domain.database()


@pytest.fixture(scope="module")
def task(retail):
    domain, database = retail
    return TemplatedGenerator(domain, database, seed=0).build(3, 0)


def test_parse_vote_handles_fences_trailing_commas_words_and_garbage():
    assert parse_vote(0, NO).scores == {
        "correctness": False,
        "completeness": True,
        "satisfaction": True,
        "creativity": True,
    }
    words = parse_vote(
        1, "Verdict: {'correctness': 'yes', 'completeness': True, 'satisfaction': 'no', 'creativity': 0}"
    )
    assert words.scores["correctness"] and not words.scores["satisfaction"] and words.error is None
    garbage = parse_vote(2, "I think it is great!")
    assert garbage.error and not any(garbage.scores.values()) and garbage.raw == "I think it is great!"
    partial = parse_vote(3, '{"correctness": 1}')
    assert "completeness" in partial.error


def test_majority_per_criterion_and_pass_rules(task, retail):
    domain, _ = retail
    reviewers = [Scripted([YES]), Scripted([NO]), Scripted([YES])]
    result = asyncio.run(review(reviewers, task, domain.policy, rule="core"))
    assert result.passed and result.majority == {
        "correctness": True,
        "completeness": True,
        "satisfaction": True,
        "creativity": False,
    }
    assert len(result.to_stage()["votes"]) == 3
    assert not asyncio.run(review(reviewers, task, domain.policy, rule="all")).passed
    assert asyncio.run(review(reviewers, task, domain.policy, rule="correctness,completeness")).passed
    # a failing endpoint and a garbage answer count as "no": 1 yes of 3 fails the majority
    broken = [Scripted([YES]), Scripted([RuntimeError("boom")]), Scripted(["not json"])]
    failed = asyncio.run(review(broken, task, domain.policy))
    assert not failed.passed and "boom" in failed.votes[1].error
    assert failed.to_stage()["reasons"][0]["message"].startswith("committee rejected")
    # the prompt carries the policy, the instruction and the actions
    system, user = reviewers[0].calls[0]
    assert (
        "policy" in system["content"]
        and task.instruction in user["content"]
        and task.actions[0].name in user["content"]
    )
    # ties fail: 1 of 2
    assert not decide([parse_vote(0, YES), parse_vote(1, NO)], 2, "correctness").passed
    with pytest.raises(ValueError):
        required_criteria("speed")
    assert set(required_criteria("all")) == set(CRITERIA)


def test_refinement_regenerates_with_feedback_until_the_committee_agrees(retail):
    domain, database = retail

    @dataclass
    class Recording(TemplatedGenerator):
        feedback: list = field(default_factory=list)

        async def generate(self, index, iteration, feedback):
            self.feedback.append((index, iteration, feedback))
            return self.build(index, iteration)

    generator = Recording(domain, database, seed=1)
    # every reviewer rejects the first review it does, then accepts
    reviewers = [Scripted([NO, YES]) for _ in range(3)]
    result = run_pipeline(
        domain, database, generator, PipelineConfig(num_tasks=1, max_iterations=3), reviewers=reviewers
    )
    assert len(result.tasks) == 1
    task = result.tasks[0]
    assert task.metadata["iterations"] == 2
    assert [f[1] for f in generator.feedback] == [0, 1]
    assert generator.feedback[0][2] is None and "committee rejected: correctness" in generator.feedback[1][2]
    assert task.validation_report.valid and len(task.validation_report.stages["committee"]["votes"]) == 3
    assert result.stats["pipeline"]["iterations_used"] == {"2": 1}


def test_slots_that_never_pass_are_rejected_with_reasons(retail):
    domain, database = retail

    class Bad:
        name = "bad"

        def __init__(self):
            self.n = 0

        async def generate(self, index, iteration, feedback):
            self.n += 1
            if iteration == 0:
                raise GenerationError("model answered with prose", raw="hello")
            return Task(
                id=f"bad-{index}",
                user_id="nobody",
                instruction="x",
                actions=[Action(name="teleport", arguments={})],
            )

    result = run_pipeline(domain, database, Bad(), PipelineConfig(num_tasks=2, max_iterations=2))
    assert not result.tasks and len(result.rejected) == 2
    stages = {f["stage"] for f in result.rejected[0].failures}
    assert stages == {"generation", "format", "grounding"}
    assert result.rejected[0].failures[0]["raw"] == "hello"
    reasons = result.stats["pipeline"]["failure_reasons"]
    assert any(k.startswith("generation:") for k in reasons) and any(k.startswith("format:") for k in reasons)


def test_extract_json_repairs():
    assert extract_json('Sure: ```json\n{"q": "x", "agt": [1, 2,],}\n```') == {"q": "x", "agt": [1, 2]}
    assert extract_json("{'a': True, 'b': None}") == {"a": True, "b": None}
    assert extract_json('{"a": {"b": [1, 2') == {"a": {"b": [1, 2]}}
    with pytest.raises(JSONTextError):
        extract_json("no json here")


def test_rejected_candidates_are_saved_with_their_reasons(retail, tmp_path):
    domain, database = retail

    class Bad:
        name = "bad"

        async def generate(self, index, iteration, feedback):
            if iteration == 0:
                raise GenerationError("model answered with prose", raw="hello")
            return Task(
                id=f"bad-{index}",
                user_id="nobody",
                instruction="x",
                actions=[Action(name="teleport", arguments={})],
            )

    out = tmp_path / "tasks.json"
    result = run_pipeline(domain, database, Bad(), PipelineConfig(num_tasks=2, max_iterations=2), out=out)
    lines = [json.loads(line) for line in rejected_path(out).read_text().splitlines()]
    assert [(r["index"], r["iteration"]) for r in lines] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert lines[0]["raw"] == "hello" and "task" not in lines[0]
    assert lines[0]["failures"] == [{"stage": "generation", "message": "model answered with prose"}]
    assert lines[1]["task"]["actions"] == [{"name": "teleport", "arguments": {}}]
    assert {f["stage"] for f in lines[1]["failures"]} == {"format", "grounding"}
    message = shortfall(result, 2, out)
    assert message.startswith("produced 0 of 2 tasks: 2 slots failed every attempt")
    assert "generation: model answered with prose (2)" in message and str(rejected_path(out)) in message
    # a fresh run starts a fresh file; a resumed run (all slots done) adds nothing
    run_pipeline(domain, database, Bad(), PipelineConfig(num_tasks=2, max_iterations=2), out=out)
    assert len(rejected_path(out).read_text().splitlines()) == 4


def test_a_committee_rejection_saves_the_candidate_and_the_reviews(retail, tmp_path):
    domain, database = retail
    out = tmp_path / "tasks.json"
    reviewers = [Scripted([NO]) for _ in range(3)]
    result = run_pipeline(
        domain,
        database,
        TemplatedGenerator(domain, database, seed=1),
        PipelineConfig(num_tasks=1, max_iterations=1),
        reviewers=reviewers,
        out=out,
    )
    assert not result.tasks
    (line,) = [json.loads(x) for x in rejected_path(out).read_text().splitlines()]
    assert line["task"]["id"] == "templated-1-0" and line["failures"][0]["stage"] == "committee"
    assert line["failures"][0]["reviews"] == ["wrong order"] * 3
    assert shortfall(result, 1, out).startswith("produced 0 of 1 tasks")
    assert shortfall(result, 0) is None


def test_committee_members_differ_in_lens_temperature_and_seed_on_the_wire(task):
    from casework.llm import EndpointConfig, LLMClient
    from llm.fake_server import FakeServer, chat_json

    async def go(url):
        client = LLMClient(EndpointConfig(model="fake-model", base_url=url, stream=False, max_retries=0))
        try:
            return await review([client] * 3, task, "POLICY TEXT", temperature=0.0)
        finally:
            await client.aclose()

    with FakeServer(responder=lambda body: {"json": chat_json(YES)}) as server:
        result = asyncio.run(go(server.base_url))
    bodies = sorted((r["body"] for r in server.requests), key=lambda b: b["seed"])
    assert [b["seed"] for b in bodies] == [0, 1, 2]
    assert [b["temperature"] for b in bodies] == [0.0, 0.4, 0.8]
    systems = [b["messages"][0]["content"] for b in bodies]
    assert len(set(systems)) == 3 and all("POLICY TEXT" in s for s in systems)
    assert [b["messages"][1]["content"] for b in bodies].count(bodies[0]["messages"][1]["content"]) == 3
    assert [v.lens for v in result.votes] == [name for name, _ in LENSES]
    assert [v.params for v in result.votes] == [
        {"seed": i, "temperature": t} for i, t in enumerate((0.0, 0.4, 0.8))
    ]
    assert result.passed
