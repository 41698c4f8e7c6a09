from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.tasks import (
    Action,
    Task,
    TaskFormatError,
    ValidationReport,
    detect_format,
    export_tau2,
    load_tasks,
    save_blueprints,
    save_tasks,
)

CANCEL = {
    "name": "cancel_pending_order",
    "arguments": {"order_id": "#W5442520", "reason": "no longer needed"},
}
FIND = {
    "name": "find_user_id_by_name_zip",
    "arguments": {"first_name": "Olivia", "last_name": "Ito", "zip": "80218"},
}
DETAILS = {"name": "get_user_details", "arguments": {"user_id": "olivia_ito_3591"}}


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def sample_tasks() -> list[Task]:
    return [
        Task(
            id="a-1",
            user_id="olivia_ito_3591",
            instruction="You are Olivia Ito (zip 80218). Cancel order #W5442520.",
            actions=[Action(**FIND), Action(**CANCEL)],
            outputs=["138.04"],
            persona="pessimistic, organized",
            scenario=["travel", "refund"],
            metadata={"generation_method": "blueprint", "turns": 6, "confidence": 0.75},
            validation_report=ValidationReport(valid=True, stages={"format": True, "execution": True}),
        ),
        Task(id="b-2", domain="retail", instruction="Just ask about products.", metadata={"note": "ünïcode"}),
    ]


# ---------------------------------------------------------------------------------------------- casework


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_casework_round_trip(tmp_path, suffix):
    tasks = sample_tasks()
    path = tmp_path / f"tasks{suffix}"
    save_tasks(tasks, path)
    assert load_tasks(path) == tasks
    if suffix == ".json":
        assert isinstance(json.loads(path.read_text()), list)
        assert path.read_text().startswith("[\n  {")
    else:
        assert len(path.read_text().splitlines()) == 2


def test_casework_tasks_wrapper_and_default_domain(tmp_path):
    path = write(tmp_path / "w.json", {"tasks": [{"id": "x", "instruction": "hi", "actions": [CANCEL]}]})
    (task,) = load_tasks(path, domain="airline")
    assert task.domain == "airline" and task.actions[0].name == "cancel_pending_order"
    assert detect_format(json.loads(path.read_text())) == "casework"


def test_casework_minimal_record_without_id(tmp_path):
    path = write(tmp_path / "m.json", [{"instruction": "hi", "persona": "calm"}])
    (task,) = load_tasks(path)
    assert task.id == "0" and task.persona == "calm"


def test_empty_list_loads(tmp_path):
    assert load_tasks(write(tmp_path / "e.json", [])) == []
    assert detect_format([]) == "casework"


# ---------------------------------------------------------------------------------------------- blueprint


def blueprint(q="Cancel my order", agt=(DETAILS, CANCEL), ogt=(), **extra):
    return {
        "success": True,
        "task": {"q": q, "agt": list(agt), "ogt": list(ogt)},
        "metadata": {"m": 1},
        **extra,
    }


def test_blueprint_read(tmp_path):
    records = [
        blueprint(
            validation_report={"valid": True, "missing": [], "suggestions": ["ok"], "stages": {"a": 1}}
        ),
        {"success": False, "task": {"q": "Q2", "agt": [CANCEL], "ogt": ["x"]}},
    ]
    path = write(tmp_path / "bp.json", records)
    assert detect_format(records) == "blueprint"
    first, second = load_tasks(path)
    assert first.id == "0" and second.id == "1"
    assert first.user_id == "olivia_ito_3591"  # from the first user_id argument
    assert first.instruction == "Cancel my order"
    assert [a.name for a in first.actions] == ["get_user_details", "cancel_pending_order"]
    assert first.metadata == {"m": 1}
    assert first.validation_report.suggestions == ["ok"]
    assert second.user_id is None and second.outputs == ["x"]
    assert second.validation_report == ValidationReport(valid=False)


def test_blueprint_explicit_user_id_wins(tmp_path):
    record = blueprint()
    record["task"]["user_id"] = "someone_else_1"
    (task,) = load_tasks(write(tmp_path / "bp.json", [record]))
    assert task.user_id == "someone_else_1"


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_blueprint_round_trip(tmp_path, suffix):
    tasks = sample_tasks()
    tasks[1] = tasks[1].model_copy(
        update={"validation_report": ValidationReport(valid=False, missing=["zip"])}
    )
    path = tmp_path / f"bp{suffix}"
    save_blueprints(tasks, path)
    records = (
        [json.loads(line) for line in path.read_text().splitlines()]
        if suffix == ".jsonl"
        else json.loads(path.read_text())
    )
    assert [r["success"] for r in records] == [True, False]
    assert records[0]["task"]["q"] == tasks[0].instruction
    assert records[0]["task"]["agt"][1] == CANCEL
    assert load_tasks(path) == tasks


def test_blueprint_success_defaults_true(tmp_path):
    path = tmp_path / "bp.json"
    save_blueprints([Task(id="z", instruction="q")], path)
    assert json.loads(path.read_text())[0]["success"] is True


# ---------------------------------------------------------------------------------------------- tau-bench v1


def v1(**overrides):
    record = {
        "user_id": "olivia_ito_3591",
        "instruction": "You are Olivia.",
        "actions": [
            {
                "name": "cancel_pending_order",
                "kwargs": {"order_id": "#W5442520", "reason": "no longer needed"},
            }
        ],
        "outputs": [],
    }
    record.update(overrides)
    return record


def test_tau_bench_v1_read(tmp_path):
    records = [v1(), v1(id="keep-me", outputs=["10"])]
    assert detect_format(records) == "tau-bench-v1"
    first, second = load_tasks(write(tmp_path / "v1.json", records), domain="retail")
    assert first.id == "0" and second.id == "keep-me"
    assert first.user_id == "olivia_ito_3591"
    assert first.actions == [Action(**CANCEL)]
    assert second.outputs == ["10"]


def test_tau_bench_v1_jsonl(tmp_path):
    tasks = load_tasks(write_jsonl(tmp_path / "v1.jsonl", [v1(), v1(actions=[])]))
    assert len(tasks) == 2 and tasks[1].actions == []


def test_tau_bench_v1_keeps_annotator(tmp_path):
    (task,) = load_tasks(write(tmp_path / "v1.json", [v1(annotator="0")]))
    assert task.metadata == {"tau-bench-v1": {"annotator": "0"}}


def test_real_tau_bench_retail(tau_retail_dir):
    dev = load_tasks(tau_retail_dir / "tasks_dev.json")
    train = load_tasks(tau_retail_dir / "tasks_train.json")
    assert len(dev) == 20 and len(train) == 500
    assert dev[0].id == "tau-bench-v1/retail/dev/0"
    assert train[499].id == "tau-bench-v1/retail/train/499"
    raw = json.loads((tau_retail_dir / "tasks_dev.json").read_text())
    for task, record in zip(dev, raw, strict=True):
        assert task.user_id == record["user_id"]
        assert task.instruction == record["instruction"]
        assert [(a.name, a.arguments) for a in task.actions] == [
            (a["name"], a["kwargs"]) for a in record["actions"]
        ]
        assert task.outputs == record["outputs"]
    # a tau-bench v1 file does not name its domain: the tasks take the one the caller gives
    assert all(t.domain is None for t in train)
    assert all(t.domain == "retail" for t in load_tasks(tau_retail_dir / "tasks_dev.json", domain="retail"))


def test_real_tau_bench_round_trips(tau_retail_dir, tmp_path):
    dev = load_tasks(tau_retail_dir / "tasks_dev.json")
    export_tau2(dev, tmp_path / "tasks.json")
    assert load_tasks(tmp_path / "tasks.json") == dev
    save_blueprints(dev, tmp_path / "bp.jsonl")
    assert load_tasks(tmp_path / "bp.jsonl") == dev
    save_tasks(dev, tmp_path / "cw.json")
    assert load_tasks(tmp_path / "cw.json") == dev


# ---------------------------------------------------------------------------------------------- tau2


def tau2_record(**overrides):
    record = {
        "id": "7",
        "description": {"purpose": "cancel", "relevant_policies": None, "notes": None},
        "user_scenario": {
            "persona": "Busy and terse.",
            "instructions": {
                "domain": "retail",
                "reason_for_call": "You want to cancel order #W5442520.",
                "known_info": "You are Olivia Ito, zip 80218.",
                "unknown_info": None,
                "task_instructions": "Only cancel if the refund is full.",
            },
        },
        "initial_state": None,
        "evaluation_criteria": {
            "actions": [
                {
                    "action_id": "7_0",
                    "name": DETAILS["name"],
                    "arguments": DETAILS["arguments"],
                    "info": None,
                },
                {
                    "action_id": "7_1",
                    "name": CANCEL["name"],
                    "arguments": CANCEL["arguments"],
                    "requestor": "assistant",
                },
            ],
            "communicate_info": ["138.04"],
            "nl_assertions": ["The agent cancels the order."],
            "reward_basis": ["DB", "COMMUNICATE"],
        },
    }
    record.update(overrides)
    return record


def test_tau2_read(tmp_path):
    records = [tau2_record()]
    assert detect_format(records) == "tau2"
    (task,) = load_tasks(write(tmp_path / "tasks.json", records))
    assert task.id == "7"
    assert task.persona == "Busy and terse."
    assert task.user_id == "olivia_ito_3591"
    assert task.instruction == (
        "Reason for call:\nYou want to cancel order #W5442520.\n\n"
        "Known info:\nYou are Olivia Ito, zip 80218.\n\n"
        "Task instructions:\nOnly cancel if the refund is full."
    )
    assert task.actions == [Action(**DETAILS), Action(**CANCEL)]
    assert task.outputs == ["138.04"]


def test_tau2_string_instructions_and_domain(tmp_path):
    record = tau2_record(id=3)
    record["user_scenario"] = {"instructions": "Plain text."}
    record["evaluation_criteria"] = None
    (task,) = load_tasks(write_jsonl(tmp_path / "tasks.jsonl", [record]), domain="airline")
    assert task.id == "3" and task.instruction == "Plain text." and task.domain == "airline"
    assert task.actions == [] and task.outputs == []


def test_tau2_round_trip_is_lossless(tmp_path):
    records = [tau2_record()]
    (task,) = load_tasks(write(tmp_path / "in.json", records))
    export_tau2([task], tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert out[0]["user_scenario"] == records[0]["user_scenario"]
    assert out[0]["description"] == records[0]["description"]
    criteria = out[0]["evaluation_criteria"]
    assert criteria["nl_assertions"] == ["The agent cancels the order."]
    assert [(a["name"], a["arguments"], a["action_id"]) for a in criteria["actions"]] == [
        (a["name"], a["arguments"], a["action_id"]) for a in records[0]["evaluation_criteria"]["actions"]
    ]
    assert load_tasks(tmp_path / "out.json") == [task]


def test_casework_to_tau2_to_casework(tmp_path):
    tasks = sample_tasks()
    export_tau2(tasks, tmp_path / "tasks.json")
    out = json.loads((tmp_path / "tasks.json").read_text())
    first = out[0]
    assert first["user_scenario"]["instructions"]["task_instructions"] == tasks[0].instruction
    assert first["evaluation_criteria"]["actions"][1] == {
        "action_id": "a-1_1",
        "name": "cancel_pending_order",
        "arguments": CANCEL["arguments"],
        "requestor": "assistant",
    }
    assert first["evaluation_criteria"]["communicate_info"] == ["138.04"]
    assert first["evaluation_criteria"]["reward_basis"] == ["DB", "COMMUNICATE"]
    # what tau2 has no field for travels under "casework" (tau2 ignores unknown keys)
    assert first["casework"]["user_id"] == "olivia_ito_3591"
    assert first["casework"]["validation_report"]["valid"] is True
    assert "casework" not in out[1] or set(out[1]["casework"]) == {"metadata"}
    back = load_tasks(tmp_path / "tasks.json")
    assert [t.id for t in back] == ["a-1", "b-2"]
    assert back == tasks


def test_casework_to_tau2_user_id_from_actions_not_duplicated(tmp_path):
    task = Task(id="u", user_id="olivia_ito_3591", instruction="x", actions=[Action(**DETAILS)])
    export_tau2([task], tmp_path / "tasks.json")
    assert "casework" not in json.loads((tmp_path / "tasks.json").read_text())[0]
    assert load_tasks(tmp_path / "tasks.json") == [task]


def test_tau2_string_instructions_round_trip(tmp_path):
    record = tau2_record()
    record["user_scenario"]["instructions"] = "Plain text instructions."
    (task,) = load_tasks(write(tmp_path / "in.json", [record]), domain="airline")
    export_tau2([task], tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())[0]
    assert out["user_scenario"]["instructions"] == "Plain text instructions."
    assert load_tasks(tmp_path / "out.json") == [task]


def test_tau2_extra_action_fields_round_trip(tmp_path):
    record = tau2_record()
    record["evaluation_criteria"]["actions"][0].update(
        action_id="lookup", requestor="user", compare_args=["user_id"]
    )
    (task,) = load_tasks(write(tmp_path / "in.json", [record]))
    export_tau2([task], tmp_path / "out.json")
    actions = json.loads((tmp_path / "out.json").read_text())[0]["evaluation_criteria"]["actions"]
    assert actions[0] == {
        "action_id": "lookup",
        "name": DETAILS["name"],
        "arguments": DETAILS["arguments"],
        "requestor": "user",
        "compare_args": ["user_id"],
    }
    assert actions[1]["action_id"] == "7_1" and actions[1]["requestor"] == "assistant"


def test_tau2_unknown_casework_key(tmp_path):
    with pytest.raises(
        TaskFormatError, match=r"tasks\.json: task 0 \(id '7'\): field 'casework\.instruction': unknown field"
    ):
        load_tasks(write(tmp_path / "tasks.json", [tau2_record(casework={"instruction": "x"})]))


# ---------------------------------------------------------------------------------------------- detection


def test_detect_format_each():
    assert detect_format([{"id": "1", "instruction": "x", "actions": [CANCEL]}]) == "casework"
    assert detect_format({"tasks": [{"id": "1", "instruction": "x", "domain": "retail"}]}) == "casework"
    assert detect_format([blueprint()]) == "blueprint"
    assert detect_format([{"q": "x", "agt": []}]) == "blueprint"
    assert detect_format([v1()]) == "tau-bench-v1"
    assert detect_format([tau2_record()]) == "tau2"


def test_detect_unknown_format_names_tried_formats_and_keys(tmp_path):
    path = write(tmp_path / "odd.json", [{"foo": 1, "bar": 2}])
    with pytest.raises(TaskFormatError) as info:
        load_tasks(path)
    message = str(info.value)
    assert "odd.json" in message and "unknown task format" in message
    for name in ("casework", "blueprint", "tau-bench-v1", "tau2", "'bar'", "'foo'"):
        assert name in message
    with pytest.raises(TaskFormatError, match="unknown task format"):
        detect_format([{"foo": 1}])


def test_top_level_not_a_list(tmp_path):
    with pytest.raises(TaskFormatError, match=r"top\.json: expected a list of tasks.*got object"):
        load_tasks(write(tmp_path / "top.json", {"id": "x"}))
    with pytest.raises(TaskFormatError, match=r"field 'tasks': expected a list, got string"):
        load_tasks(write(tmp_path / "top2.json", {"tasks": "nope"}))


# ---------------------------------------------------------------------------------------------- errors


def test_bad_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"id": "x",\n   "instruction": }\n]\n')
    with pytest.raises(TaskFormatError) as info:
        load_tasks(path)
    assert "bad.json" in str(info.value) and "line 3" in str(info.value) and "column 19" in str(info.value)


def test_bad_jsonl_names_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(v1()) + "\n\n{not json}\n")
    with pytest.raises(TaskFormatError, match=r"bad\.jsonl: invalid JSON on line 3, column 2"):
        load_tasks(path)


def test_json_list_in_jsonl_file(tmp_path):
    assert [t.id for t in load_tasks(write(tmp_path / "list.jsonl", [v1(), v1()]))] == ["0", "1"]
    pretty = tmp_path / "pretty.jsonl"
    pretty.write_text(json.dumps([v1(), v1()], indent=2))
    assert len(load_tasks(pretty)) == 2


def test_trailing_garbage_reports_json_position(tmp_path):
    path = tmp_path / "trail.json"
    path.write_text(json.dumps([v1()], indent=2) + "\n]\n")
    with pytest.raises(TaskFormatError, match=r"trail\.json: invalid JSON at line \d+, column 1: Extra data"):
        load_tasks(path)


def test_concatenated_json_values_read_as_jsonl(tmp_path):
    path = tmp_path / "multi.json"
    path.write_text(json.dumps(v1()) + "\n" + json.dumps(v1(id="b")) + "\n")
    assert [t.id for t in load_tasks(path)] == ["0", "b"]


def test_v1_kwargs_wrong_type(tmp_path):
    records = [
        v1(),
        v1(),
        v1(),
        v1(id="x", actions=[v1()["actions"][0], {"name": "cancel_pending_order", "kwargs": []}]),
    ]
    with pytest.raises(TaskFormatError) as info:
        load_tasks(write(tmp_path / "tasks.json", records))
    assert str(info.value).endswith(
        "tasks.json: task 3 (id 'x'): field 'actions[1].kwargs': expected an object, got list"
    )


@pytest.mark.parametrize(
    ("record", "field", "expected"),
    [
        (v1(instruction=None), "instruction", "expected a string, got null"),
        ({k: v for k, v in v1().items() if k != "instruction"}, "instruction", "required field is missing"),
        (v1(actions={"a": 1}), "actions", "expected a list, got object"),
        (v1(actions=["x"]), "actions[0]", "expected an object, got string"),
        (v1(actions=[{"kwargs": {}}]), "actions[0].name", "required field is missing"),
        (v1(outputs=[1]), "outputs[0]", "expected a string, got number"),
        (v1(user_id=5), "user_id", "expected a string, got number"),
        (v1(id=[1]), "id", "expected a string or a number, got list"),
    ],
)
def test_v1_field_errors(tmp_path, record, field, expected):
    with pytest.raises(TaskFormatError) as info:
        load_tasks(write(tmp_path / "v1.json", [v1(), record]))
    message = str(info.value)
    assert "v1.json: task 1" in message and f"field '{field}'" in message and expected in message


@pytest.mark.parametrize(
    ("record", "field", "expected"),
    [
        (
            {"id": "t", "instruction": "x", "actions": [{"name": "a", "arguments": []}]},
            "actions[0].arguments",
            "expected an object, got list",
        ),
        ({"id": "t", "instruction": "x", "instrution": "typo"}, "instrution", "unknown field"),
        ({"id": "t", "domain": "retail"}, "instruction", "required field is missing"),
        ({"id": "t", "instruction": "x", "outputs": "y"}, "outputs", "expected a list, got string"),
        ({"id": "t", "instruction": "x", "scenario": 3}, "scenario", "got number"),
        (
            {"id": "t", "instruction": "x", "validation_report": {"missing": []}},
            "validation_report.valid",
            "required",
        ),
    ],
)
def test_casework_field_errors(tmp_path, record, field, expected):
    path = tmp_path / "cw.jsonl"
    write_jsonl(path, [{"id": "ok", "instruction": "fine", "domain": "retail"}, record])
    with pytest.raises(TaskFormatError) as info:
        load_tasks(path)
    message = str(info.value)
    assert "cw.jsonl: task 1 (id 't') (line 2)" in message
    assert f"field '{field}'" in message and expected in message


@pytest.mark.parametrize(
    ("record", "field", "expected"),
    [
        ({"success": True, "task": []}, "task", "expected an object, got list"),
        ({"success": True, "task": {"agt": []}}, "task.q", "required field is missing"),
        (
            {"success": True, "task": {"q": "x", "agt": [{"name": "a", "arguments": "no"}]}},
            "task.agt[0].arguments",
            "expected an object, got string",
        ),
        ({"success": "yes", "task": {"q": "x"}}, "success", "expected a boolean, got string"),
        ({"success": True, "task": {"q": "x", "ogt": [None]}}, "task.ogt[0]", "expected a string, got null"),
        (
            {"success": True, "task": {"q": "x", "persona": 1}},
            "task.persona",
            "expected a string, got number",
        ),
        (
            {"task": {"q": "x"}, "validation_report": {"valid": True, "missing": 3}},
            "validation_report.missing",
            "expected a list",
        ),
    ],
)
def test_blueprint_field_errors(tmp_path, record, field, expected):
    with pytest.raises(TaskFormatError) as info:
        load_tasks(write(tmp_path / "bp.json", [blueprint(), blueprint(), record]))
    message = str(info.value)
    assert "bp.json: task 2" in message and f"field '{field}'" in message and expected in message


@pytest.mark.parametrize(
    ("mutate", "field", "expected"),
    [
        (lambda r: r.pop("user_scenario"), "user_scenario", "required field is missing"),
        (
            lambda r: r["user_scenario"].update(instructions=5),
            "user_scenario.instructions",
            "expected an object or a string, got number",
        ),
        (
            lambda r: r["user_scenario"]["instructions"].update(known_info=["a"]),
            "user_scenario.instructions.known_info",
            "expected a string, got list",
        ),
        (
            lambda r: r["evaluation_criteria"]["actions"][1].update(arguments=None),
            "evaluation_criteria.actions[1].arguments",
            "expected an object, got null",
        ),
        (
            lambda r: r["evaluation_criteria"].update(communicate_info="x"),
            "evaluation_criteria.communicate_info",
            "expected a list, got string",
        ),
    ],
)
def test_tau2_field_errors(tmp_path, mutate, field, expected):
    record = tau2_record()
    mutate(record)
    with pytest.raises(TaskFormatError) as info:
        load_tasks(write(tmp_path / "tasks.json", [tau2_record(id="0"), record]))
    message = str(info.value)
    assert "tasks.json: task 1 (id '7')" in message and f"field '{field}'" in message and expected in message


def test_non_object_record(tmp_path):
    with pytest.raises(
        TaskFormatError, match=r"l\.json: task 1: expected an object \(tau-bench-v1 task\), got list"
    ):
        load_tasks(write(tmp_path / "l.json", [v1(), [1, 2]]))


def test_task_format_error_is_value_error():
    assert issubclass(TaskFormatError, ValueError)
