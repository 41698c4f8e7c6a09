"""τ³ task files read completely (typed fields) and write back unchanged; splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.tasks import export_tau2, load_tasks, save_tasks
from casework.tasks.model import RewardType
from casework.tasks.splits import SplitError, load_split_tasks, select_split


@pytest.fixture
def tau3_file(tau3_dir: Path):
    return lambda domain: tau3_dir / domain / "tasks_train.json"


def _without_defaults(value):
    """Drop nulls and the default requestor, which τ³ writes or omits freely."""
    if isinstance(value, dict):
        return {
            k: _without_defaults(v)
            for k, v in value.items()
            if v is not None and not (k == "requestor" and v == "assistant")
        }
    if isinstance(value, list):
        return [_without_defaults(v) for v in value]
    return value


@pytest.mark.parametrize("domain", ["retail", "airline", "telecom"])
def test_tau3_train_files_round_trip(domain: str, tmp_path: Path, tau3_file):
    path = tau3_file(domain)
    tasks = load_tasks(path)
    export_tau2(tasks, tmp_path / "out.json")
    original, written = json.loads(path.read_text()), json.loads((tmp_path / "out.json").read_text())
    for before, after in zip(original, written, strict=True):
        if domain == "telecom":  # τ³ writes communicate_info null there; an empty list is written back
            assert before["evaluation_criteria"]["communicate_info"] in (None, [])
            before["evaluation_criteria"]["communicate_info"] = []
        assert _without_defaults(after) == _without_defaults(before), before["id"]
    assert load_tasks(tmp_path / "out.json") == tasks
    save_tasks(tasks, tmp_path / "cw.json")  # and through casework's own format
    assert load_tasks(tmp_path / "cw.json") == tasks


def test_tau3_fields_are_typed(tau3_file):
    retail = {t.id: t for t in load_tasks(tau3_file("retail"))}
    task = retail["0"]
    assert task.reward_basis == [RewardType.DB, RewardType.NL_ASSERTION]
    assert task.user_scenario.instructions.known_info == "You are Yusuf Rossi in zip code 19122."
    assert task.actions[0].action_id is None  # "0_0" is the default id and is written back as such
    assert task.description is not None and task.description.purpose is None
    assert sum(bool(t.nl_assertions) for t in retail.values()) == 29
    compare = [a for t in retail.values() for a in t.actions if a.compare_args is not None]
    assert len(compare) == 2
    telecom = load_tasks(tau3_file("telecom"))
    with_state = [t for t in telecom if t.initial_state is not None]
    assert with_state and with_state[0].initial_state.initialization_actions
    assert all(t.ticket and t.env_assertions and t.initial_state for t in telecom)
    assert telecom[0].reward_basis == [RewardType.ENV_ASSERTION]
    user_actions = [a for t in telecom for a in t.actions if a.requestor == "user"]
    assert user_actions and user_actions[0].action_id
    env = telecom[0].env_assertions[0]
    assert env.env_type in ("user", "assistant") and env.func_name.startswith("assert_")


def test_new_fields_stay_out_of_casework_files_that_do_not_use_them(tmp_path: Path):
    from casework.tasks.model import Action, Task

    task = Task(id="1", instruction="x", actions=[Action(name="a", arguments={"b": 1})])
    save_tasks([task], tmp_path / "t.json")
    (record,) = json.loads((tmp_path / "t.json").read_text())
    assert set(record) == {
        "id",
        "domain",
        "user_id",
        "instruction",
        "actions",
        "outputs",
        "persona",
        "scenario",
        "metadata",
        "validation_report",
    }
    assert record["actions"] == [{"name": "a", "arguments": {"b": 1}}]


def test_unknown_reward_component_is_a_clear_error(tmp_path: Path):
    from casework.tasks import TaskFormatError

    record = {
        "id": "9",
        "user_scenario": {"instructions": "x"},
        "evaluation_criteria": {"actions": [], "reward_basis": ["DB", "VIBES"]},
    }
    (tmp_path / "t.json").write_text(json.dumps([record]))
    with pytest.raises(
        TaskFormatError, match=r"field 'evaluation_criteria\.reward_basis\[1\]': unknown component"
    ):
        load_tasks(tmp_path / "t.json")


def test_split_selects_the_train_tasks(tmp_path: Path, tau3_file):
    path = tau3_file("retail")
    splits = json.loads((path.parent / "split_tasks.json").read_text())
    train = load_split_tasks(path, split="train")
    assert [t.id for t in train] == [t.id for t in load_tasks(path) if t.id in set(splits["train"])]
    assert len(train) == 74
    tasks, missing = select_split(load_tasks(path), path, "base")
    assert missing == [i for i in splits["base"] if i not in {t.id for t in load_tasks(path)}]
    assert {t.id for t in tasks} <= set(splits["base"])
    with pytest.raises(SplitError, match="none of the .* tasks of split 'test'"):
        load_split_tasks(path, split="test")  # test bodies are held back
    with pytest.raises(SplitError, match="no split 'dev'"):
        load_split_tasks(path, split="dev")
    lone = tmp_path / "tasks.json"
    lone.write_text(path.read_text())
    with pytest.raises(SplitError, match="split file not found"):
        load_split_tasks(lone, split="train")
