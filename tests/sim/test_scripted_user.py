"""The scripted user: talks like a customer, never reads out its instruction, answers from the task's facts."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.sim.types import Termination
from casework.sim.users import ScriptedUser, first_person
from casework.tasks.model import Task

RETAIL = get_domain("retail")

META = re.compile(
    r"If the agent|say yes|\bYou are\b|\byou are\b|(^|[.!?]\s+)Do not\b|the agent|\bYour\b", re.I
)
BROKEN = re.compile(
    r"\bme (want|wants|need|have|would|are|do|did|can|will|won't|don't|know|received|ordered)\b"
)
#: a request, spoken by the customer
REQUEST = re.compile(r"\bI\b|\bI'|\bmy\b")


@pytest.fixture(scope="module")
def templated() -> list[Task]:
    return generate_templated(RETAIL, RETAIL.database(), 60, seed=7)


@pytest.fixture(scope="module")
def tau_tasks(tau_retail_dir: Path) -> list[Task]:
    from casework.tasks import load_tasks

    return load_tasks(tau_retail_dir / "tasks_dev.json")


def scripted(task: Task, database) -> ScriptedUser:
    user = ScriptedUser()
    user.bind_domain(RETAIL)
    user.reset(task, RETAIL.users.facts_for(database.fork(), task.user_id), None, lambda: False)
    return user


def say(user: ScriptedUser, text: str):
    return asyncio.run(user.respond(text))


def opening(user: ScriptedUser) -> str:
    return asyncio.run(user.first_message()).content


def assert_natural(text: str) -> None:
    assert not META.search(text), text
    assert not BROKEN.search(text), text
    assert "###" not in text or text.rstrip().endswith("###"), text


def test_first_person_keeps_grammar():
    assert first_person("You want to return it.") == "I want to return it."
    assert (
        first_person("If the agent asks you to confirm, say yes.")
        == "If the agent asks me to confirm, say yes."
    )
    assert first_person("You've ordered it and you'd like a refund to your card.") == (
        "I've ordered it and I'd like a refund to my card."
    )
    assert first_person("You are sure that you were charged twice.") == "I am sure that I was charged twice."
    assert first_person("they sent you the wrong one, so you want it for yourself") == (
        "they sent me the wrong one, so I want it for myself"
    )


def test_templated_openings_are_the_first_request_in_first_person(templated):
    database = RETAIL.database()
    for task in templated:
        user = scripted(task, database)
        text = opening(user)
        assert_natural(text)
        assert REQUEST.search(text), (task.id, text)
        # identification is given when asked for, not read out with the request
        for identity in user.facts.identities:
            assert all(str(v) not in text for v in identity.values.values() if len(str(v)) > 3), text
        # persona sentences are never read out
        assert task.persona is None or "patient" not in text


def test_tau_openings_never_read_out_instructions(tau_tasks, tau_retail_db):
    for task in tau_tasks:
        text = opening(scripted(task, tau_retail_db))
        assert text.strip(), task.id
        assert_natural(text)
        assert not re.search(r"\b(outgoing|pessimistic|rigid|insecure)\b", text), text


def test_replies_stay_natural_over_a_whole_conversation(templated, tau_tasks, tau_retail_db):
    agent_turns = [
        "Sure, I can help. Could you tell me your email address, please?",
        "Thanks. And what is your name and zip code?",
        "Which order is this about? Please give me the order id.",
        "Which items would you like?",
        "How would you like to pay or be refunded?",
        "Here are the details. Do you want me to proceed? (yes/no)",
        "Okay, that's done. Is there anything else I can help you with?",
        "Hmm.",
        "Is there anything else?",
    ]
    database = RETAIL.database()
    cases = [(t, database) for t in templated] + [(t, tau_retail_db) for t in tau_tasks]
    for task, db in cases:
        user = scripted(task, db)
        spoken = [opening(user)]
        for turn in agent_turns:
            reply = say(user, turn)
            spoken.append(reply.content)
            if reply.stop is not None:
                break
        for text in spoken:
            assert_natural(text)
        # never the same long message twice in a row (no reading the instruction again and again)
        for a, b in zip(spoken, spoken[1:], strict=False):
            assert a != b or len(a) < 40, (task.id, a)


def test_answers_identification_order_item_and_payment_from_the_task(templated):
    database = RETAIL.database()
    task = next(t for t in templated if t.scenario == "item_return")
    user = scripted(task, database)
    facts = user.facts
    order_id = next(a.arguments["order_id"] for a in task.actions if "order_id" in a.arguments)
    text = opening(user)
    assert text.startswith("I want to return"), text
    reply = say(user, "I can help with that. First, can I have your email address?")
    assert facts.identities and any(i.text in reply.content for i in facts.identities), reply.content
    email = next(i for i in facts.identities if "email" in i.values)
    if re.search(r"(not remember|cannot recall) (your|which) email", task.instruction):
        # the instruction says the user does not know it: says so, and identifies the way it can
        assert email.text not in reply.content and re.search(r"remember|recall", reply.content)
    else:
        assert reply.content == email.text
    reply = say(user, "Thanks! Could you please give me your name and zip code instead?")
    assert reply.content == next(i.text for i in facts.identities if "zip" in i.values)
    if order_id in task.instruction:
        reply = say(user, "What is the order id of the order?")
        assert order_id in reply.content and reply.stop is None
    reply = say(user, "Which items do you want to return?")
    assert "return" in reply.content and reply.stop is None
    reply = say(user, "And which payment method should the refund go to?")
    instruction = task.instruction.lower()
    refund = instruction.split("refund to ")[1].split(".")[0].replace("your ", "my ")
    assert refund in reply.content.lower(), (refund, reply.content)
    assert say(user, "I will return the items. Shall I proceed? (yes/no)").content.lower().startswith("yes")


def test_a_scripted_user_asks_for_its_next_request_when_one_is_done(templated):
    database = RETAIL.database()
    task = next(t for t in templated if isinstance(t.scenario, list) and len(t.scenario) >= 2)
    user = scripted(task, database)
    first = opening(user)
    assert first.startswith("First, I want") or first.startswith("I want"), first
    reply = say(user, "Done! Is there anything else I can help you with?")
    assert reply.stop is None and re.search(r"\bI (want|would like|'d like)", reply.content), reply.content
    assert reply.content not in first
    # with nothing left, it ends the conversation
    while True:
        reply = say(user, "Done! Is there anything else I can help you with?")
        if reply.stop is not None:
            break
    assert reply.stop == Termination.USER_STOP and reply.abnormal is None


def test_a_question_the_task_cannot_answer_gets_a_plain_no(tau_tasks, tau_retail_db):
    task = next(t for t in tau_tasks if "#W" not in t.instruction)
    user = scripted(task, tau_retail_db)
    opening(user)
    reply = say(user, "Could you give me the order id, please?")
    assert reply.stop is None and "don't" in reply.content.lower(), reply.content
    assert_natural(reply.content)


def test_a_user_that_gives_up_says_so_as_an_abnormal_end(templated):
    user = scripted(templated[0], RETAIL.database())
    opening(user)
    replies = [say(user, "Hmm.") for _ in range(4)]
    assert replies[-1].stop == Termination.USER_STOP and replies[-1].abnormal
    assert replies[0].stop is None and replies[0].abnormal is None


def test_persona_flavour_is_wording_not_grammar(templated):
    database = RETAIL.database()
    for task in templated[:20]:
        user = ScriptedUser()
        user.bind_domain(RETAIL)
        user.reset(
            task, RETAIL.users.facts_for(database.fork(), task.user_id), "You are angry.", lambda: False
        )
        text = opening(user)
        assert_natural(text)
        assert_natural(say(user, "Shall I proceed? (yes/no)").content)


def test_ids_in_answers_are_exact(tau_tasks, tau_retail_db):
    task = next(
        t for t in tau_tasks if "#W5442520" in t.instruction and "cancel" in json.dumps(t.model_dump())
    )
    user = scripted(task, tau_retail_db)
    opening(user)
    assert "#W5442520" in say(user, "What's the order number?").content


def test_the_oracle_solves_templated_tasks_with_the_scripted_user(templated, tmp_path, conversation_judge):
    from casework.runs.runner import RunConfig, Runner
    from casework.runs.store import read_results
    from casework.tasks import save_tasks

    tasks_file = tmp_path / "tasks.json"
    save_tasks(templated, tasks_file)
    out = tmp_path / "run"
    config = RunConfig(tasks=tasks_file, out=out, agent="oracle", concurrency=4)
    asyncio.run(Runner(config, judge_llm=conversation_judge()).run())  # judges the grounded refusals
    results = read_results(out)
    assert len(results) == len(templated)
    for r in results:
        assert r["reward"] == 1.0, (r["task_id"], r["termination_reason"], r.get("error_detail"))
        assert r["termination_reason"] in ("user_stop", "transfer"), r["termination_reason"]
        for message in r["messages"]:
            if message["role"] == "user":
                assert_natural(message["content"])


def test_structured_instructions_and_conditional_answers(tau_retail_db):
    """tau2-style sections (known/unknown info, task instructions) and 'If the agent asks ..., ...'."""
    task = Task(
        id="sections",
        user_id="noah_brown_6181",
        instruction=(
            "Reason for call:\nYou want to return the desk lamp from order #W7678072 because it flickers.\n\n"
            "Known info:\nYou are Noah Brown and your zip code is 80279.\n\nUnknown info:\n"
            "You do not remember your email address.\n\nTask instructions:\nYou are calm. If the agent asks "
            "for the payment method, you prefer the original credit card. Do not give up."
        ),
        actions=[],
    )
    user = scripted(task, tau_retail_db)
    text = opening(user)
    assert text == "I want to return the desk lamp from order #W7678072 because it flickers.", text
    reply = say(user, "Sure! What is your email address?")
    assert "do not remember my email address" in reply.content and "80279" in reply.content, reply.content
    reply = say(user, "Which payment method should the refund go to?")
    assert reply.content == "I prefer the original credit card.", reply.content
    for turn in ["Please confirm (yes/no).", "Hmm?"]:
        assert_natural(say(user, turn).content)


def test_asides_in_a_story_section_are_dropped_and_the_agent_is_addressed():
    from casework.sim.users import read_instruction

    plan = read_instruction(
        "Reason for call:\nYou want to exchange the hose. The correct item id is 5206946487 (do not share this "
        "with the agent). You wonder if the agent can help split the payment.\n\nTask instructions:\n"
        "Ask the agent about the total."
    )
    said = " ".join(plan.requests)
    assert "5206946487." in said and "share" not in said, said
    assert "I wonder if you can help split the payment." in said, said
    assert_natural(said)


def test_whole_tau3_retail_set_never_reads_out_instructions(tau_retail_dir):
    from casework.sim.users import read_instruction
    from casework.tasks import load_tasks

    path = tau_retail_dir.parents[1] / "tau3" / "retail" / "tasks_train.json"
    if not path.exists():
        pytest.skip(f"{path} not found")
    for task in load_tasks(path):
        for request in read_instruction(task.instruction).requests:
            assert_natural(request)


def test_identifies_when_asked_to_verify_and_tells_listed_facts_when_asked(tau_retail_db):
    task = Task(
        id="known",
        user_id="noah_brown_6181",
        instruction=(
            "Reason for call:\nYou want to cancel order #W7678072 because you ordered it by mistake.\n\n"
            "Known info:\nYou are Noah Brown and your zip code is 80279.\nYour user id is noah_brown_6181.\n\n"
            "Task instructions:\nYou are calm."
        ),
        actions=[],
    )
    user = scripted(task, tau_retail_db)
    opening(user)
    reply = say(user, "Sure. First I need to verify your identity.")
    assert reply.content == "My name is Noah Brown and my zip code is 80279.", reply.content
    reply = say(user, "Thanks. What is your user id?")
    assert reply.content == "My user id is noah_brown_6181.", reply.content
