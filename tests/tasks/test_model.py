from __future__ import annotations

import pytest
from pydantic import ValidationError

from casework.tasks import Action, Task, ValidationReport


def test_task_defaults():
    task = Task(id="t1", instruction="Cancel my order.")
    assert task.domain is None  # runs in the run's domain
    assert task.user_id is None
    assert task.actions == [] and task.outputs == []
    assert task.metadata == {} and task.validation_report is None
    assert task.valid is None


def test_task_forbids_unknown_fields():
    with pytest.raises(ValidationError) as info:
        Task(id="t1", instrution="typo", instruction="x")  # type: ignore[call-arg]
    assert "instrution" in str(info.value)


def test_action_forbids_kwargs_key():
    with pytest.raises(ValidationError):
        Action.model_validate({"name": "cancel_pending_order", "kwargs": {"order_id": "#W1"}})


def test_task_from_dict_and_helpers():
    task = Task.model_validate(
        {
            "id": "t2",
            "user_id": "u1",
            "instruction": "Return the kettle.",
            "actions": [
                {"name": "return_delivered_order_items", "arguments": {"order_id": "#W1", "item_ids": ["1"]}}
            ],
            "outputs": ["10.5"],
            "scenario": ["step one", "step two"],
            "metadata": {"generation_method": "blueprint", "turns": 4, "confidence": 0.9},
            "validation_report": {"valid": True, "stages": {"format": True}},
        }
    )
    assert task.actions[0].arguments["item_ids"] == ["1"]
    assert task.action_names == ["return_delivered_order_items"]
    assert task.valid is True
    assert task.validation_report == ValidationReport(valid=True, stages={"format": True})
    assert str(task.actions[0]) == "return_delivered_order_items(order_id='#W1', item_ids=['1'])"
    assert Task.model_validate(task.model_dump(mode="json")) == task


def test_validation_report_keeps_unknown_keys():
    report = ValidationReport.model_validate({"valid": False, "missing": ["zip"], "score": 3})
    assert report.model_dump()["score"] == 3
    assert report.suggestions == []
