"""Reading and writing task files in casework's own format and in the formats it interoperates with.

Formats (each as a JSON list, or as JSONL with one record a line):

- ``casework``: :class:`~casework.tasks.model.Task` dicts (a JSON file may also be ``{"tasks": [...]}``).
- ``blueprint`` (APIGen-MT): ``{success, task: {q, agt: [{name, arguments}], ogt: [...]}, metadata,
  validation_report}``. casework also writes ``id``, ``domain``, ``user_id``, ``persona`` and
  ``scenario`` inside ``task`` and reads them back when present; otherwise the id is the position
  and the user id comes from the first action argument named ``user_id``.
- ``tau-bench-v1``: ``{user_id, instruction, actions: [{name, kwargs}], outputs}`` (``id`` kept when
  present, else the position).
- ``tau2``: tau2-bench ``tasks.json``: ``{id, user_scenario: {persona, instructions}, evaluation_criteria:
  {actions, communicate_info, ...}, ...}``. Structured instructions are rendered into one labelled
  text; the parts that a casework task has no field for are kept in ``metadata["tau2"]`` so that
  exporting the task again restores them. Conversely, :func:`export_tau2` writes what tau2 has no
  field for (``user_id`` when no action names it, ``scenario``, ``metadata``, ``validation_report``)
  under a top-level ``"casework"`` key, which tau2 ignores and :func:`load_tasks` reads back.

:func:`load_tasks` detects the format; a malformed file raises :class:`TaskFormatError`, whose
message names the file, the task (index and id) and the field, and says what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from casework.tasks.model import (
    DEFAULT_REWARD_BASIS,
    GROUND_TRUTH_KEY,
    MISSING,
    Action,
    Description,
    EnvAssertion,
    InitialState,
    RewardType,
    StructuredInstructions,
    Task,
    UserScenario,
    ValidationReport,
)

FORMATS = ("casework", "blueprint", "tau-bench-v1", "tau2")

#: ``reward_basis`` written by :func:`export_tau2` when the task does not carry its own.
TAU2_DEFAULT_REWARD_BASIS = ["DB", "COMMUNICATE"]

_CASEWORK_ONLY_KEYS = {"domain", "persona", "scenario", "metadata", "validation_report"}
_V1_KEYS = {"id", "user_id", "instruction", "actions", "outputs", "annotator"}
_TAU2_CASEWORK_KEYS = ("user_id", "domain", "scenario", "metadata", "validation_report")
_TAU2_INSTRUCTION_LABELS = (
    ("reason_for_call", "Reason for call"),
    ("known_info", "Known info"),
    ("unknown_info", "Unknown info"),
    ("task_instructions", "Task instructions"),
)


class TaskFormatError(ValueError):
    """A task file that cannot be read: the message names the file, task, field and expectation."""


# ----------------------------------------------------------------------------------------------
# error helpers


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


_ARTICLE = {
    "object": "an object",
    "list": "a list",
    "string": "a string",
    "number": "a number",
    "boolean": "a boolean",
}


class _Where:
    """Where a record came from, for error messages."""

    def __init__(self, source: str, index: int, line: int | None = None, task_id: Any = None) -> None:
        self.source = source
        self.index = index
        self.line = line
        self.task_id = task_id

    def prefix(self) -> str:
        parts = [f"task {self.index}"]
        if self.task_id is not None:
            parts.append(f"(id {str(self.task_id)!r})")
        if self.line is not None:
            parts.append(f"(line {self.line})")
        return f"{self.source}: {' '.join(parts)}"

    def error(self, field: str, message: str) -> TaskFormatError:
        return TaskFormatError(f"{self.prefix()}: field {field!r}: {message}")

    def expected(self, field: str, expected: str, value: Any) -> TaskFormatError:
        return self.error(field, f"expected {_ARTICLE.get(expected, expected)}, got {_json_type(value)}")

    def missing(self, field: str, expected: str) -> TaskFormatError:
        return self.error(field, f"required field is missing (expected {_ARTICLE.get(expected, expected)})")


def _loc_to_field(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<task>"


_PYDANTIC_EXPECTED = {
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "list",
    "string_type": "string",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "int_type": "number",
    "float_type": "number",
}


def _from_validation_error(
    where: _Where, exc: ValidationError, rename: Callable[[str], str] | None = None
) -> TaskFormatError:
    messages = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # union members add their type name to the location (e.g. scenario.str); drop it
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in ("str", "list[str]", "none")))
        field = _loc_to_field(loc)
        if rename is not None:
            field = rename(field)
        kind = err["type"]
        if kind == "missing":
            text = "required field is missing"
        elif kind == "extra_forbidden":
            text = "unknown field (a typo?)"
        elif kind in _PYDANTIC_EXPECTED:
            expected = _PYDANTIC_EXPECTED[kind]
            text = f"expected {_ARTICLE.get(expected, expected)}, got {_json_type(err.get('input'))}"
        else:
            text = err["msg"]
        messages.append(f"field {field!r}: {text}")
    return TaskFormatError(f"{where.prefix()}: " + "; ".join(messages))


# ----------------------------------------------------------------------------------------------
# field readers with path-aware errors


def _get(
    where: _Where,
    record: Mapping[str, Any],
    key: str,
    expected: str,
    *,
    prefix: str = "",
    required: bool = True,
    default: Any = None,
    nullable: bool = True,
) -> Any:
    """``record[key]`` checked against ``expected``; a missing (or, if ``nullable``, null) optional
    field gives ``default``."""
    field = f"{prefix}{key}"
    if key not in record or (record[key] is None and not required and nullable):
        if required:
            raise where.missing(field, expected)
        return default
    value = record[key]
    checks = {
        "object": lambda v: isinstance(v, Mapping),
        "list": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
    }
    if not checks[expected](value):
        raise where.expected(field, expected, value)
    return value


def _get_id(where: _Where, record: Mapping[str, Any], key: str = "id", prefix: str = "") -> str | None:
    if record.get(key) is None:
        return None
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise where.expected(f"{prefix}{key}", "a string or a number", value)
    return str(value)


def _string_list(where: _Where, record: Mapping[str, Any], key: str, *, prefix: str = "") -> list[str]:
    values = _get(where, record, key, "list", prefix=prefix, required=False, default=[])
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise where.expected(f"{prefix}{key}[{i}]", "string", value)
    return list(values)


def _actions(
    where: _Where,
    record: Mapping[str, Any],
    key: str,
    args_keys: tuple[str, ...],
    *,
    prefix: str = "",
    required: bool = False,
) -> list[Action]:
    """Read a list of ``{name, <args_key>}``; ``args_keys[0]`` is the format's own key."""
    items = _get(where, record, key, "list", prefix=prefix, required=required, default=[])
    actions = []
    for i, item in enumerate(items):
        field = f"{prefix}{key}[{i}]"
        if not isinstance(item, Mapping):
            raise where.expected(field, "object", item)
        name = _get(where, item, "name", "string", prefix=f"{field}.")
        args_key = next((k for k in args_keys if k in item), args_keys[0])
        arguments = _get(
            where, item, args_key, "object", prefix=f"{field}.", required=False, default={}, nullable=False
        )
        actions.append(Action(name=name, arguments=dict(arguments)))
    return actions


def _user_id_from_actions(actions: Iterable[Action]) -> str | None:
    for action in actions:
        value = action.arguments.get("user_id")
        if isinstance(value, str) and value:
            return value
    return None


def _build(where: _Where, rename: Callable[[str], str] | None = None, **fields: Any) -> Task:
    try:
        return Task(**fields)
    except ValidationError as exc:
        raise _from_validation_error(where, exc, rename) from None


# ----------------------------------------------------------------------------------------------
# readers, one per format


def _read_casework(where: _Where, record: Mapping[str, Any], domain: str) -> Task:
    data = dict(record)
    data.setdefault("domain", domain)
    if "actions" not in data:
        data["metadata"] = {**(data.get("metadata") or {}), GROUND_TRUTH_KEY: MISSING}
    if "id" not in data:
        data["id"] = str(where.index)
    elif isinstance(data["id"], int) and not isinstance(data["id"], bool):
        data["id"] = str(data["id"])
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(where, exc) from None


def _read_tau_bench_v1(where: _Where, record: Mapping[str, Any], domain: str) -> Task:
    task_id = _get_id(where, record, "id")
    user_id = _get(where, record, "user_id", "string", required=False)
    instruction = _get(where, record, "instruction", "string")
    actions = _actions(where, record, "actions", ("kwargs", "arguments"), required=True)
    outputs = _string_list(where, record, "outputs")
    if user_id is None:
        user_id = _user_id_from_actions(actions)
    extra = {k: v for k, v in record.items() if k not in _V1_KEYS - {"annotator"}}
    metadata = {"tau-bench-v1": extra} if extra else {}
    return _build(
        where,
        id=task_id if task_id is not None else str(where.index),
        domain=domain,
        user_id=user_id,
        instruction=instruction,
        actions=actions,
        outputs=outputs,
        metadata=metadata,
    )


#: τ³ task fields a blueprint's ``task`` object may carry beside q/agt/ogt
_BLUEPRINT_TAU3 = (
    "user_scenario",
    "initial_state",
    "ticket",
    "description",
    "env_assertions",
    "nl_assertions",
    "reward_basis",
)


def _blueprint_action_fields(
    where: _Where, body: Mapping[str, Any], actions: list[Action], prefix: str
) -> None:
    """Put the τ³ fields of ``agt`` entries (``requestor``, ``action_id``, ...) on ``actions``."""
    for i, item in enumerate(body.get("agt") or []):
        if not isinstance(item, Mapping) or i >= len(actions):
            continue
        typed = {
            k: item[k] for k in ("action_id", "requestor", "compare_args", "info") if item.get(k) is not None
        }
        if typed:
            try:
                actions[i] = Action(name=actions[i].name, arguments=actions[i].arguments, **typed)
            except ValidationError as exc:
                raise _from_validation_error(where, exc, lambda f, i=i: f"{prefix}agt[{i}].{f}") from None


def _read_blueprint(where: _Where, record: Mapping[str, Any], domain: str) -> Task:
    if "task" in record:
        body = _get(where, record, "task", "object")
        prefix = "task."
    else:  # flattened blueprint: q/agt/ogt at the top level
        body, prefix = record, ""
    task_id = _get_id(where, body, "id", prefix) or _get_id(where, record, "id") or str(where.index)
    where.task_id = task_id
    instruction = _get(where, body, "q", "string", prefix=prefix)
    actions = _actions(where, body, "agt", ("arguments", "kwargs"), prefix=prefix)
    _blueprint_action_fields(where, body, actions, prefix)
    tau3 = {k: body[k] for k in _BLUEPRINT_TAU3 if body.get(k) is not None}
    outputs = _string_list(where, body, "ogt", prefix=prefix)
    user_id = _get(where, body, "user_id", "string", prefix=prefix, required=False) or _get(
        where, record, "user_id", "string", required=False
    )
    if user_id is None:
        user_id = _user_id_from_actions(actions)
    metadata = dict(_get(where, record, "metadata", "object", required=False, default={}))
    if "agt" not in body:
        metadata[GROUND_TRUTH_KEY] = MISSING
    success = _get(where, record, "success", "boolean", required=False)
    report_data = _get(where, record, "validation_report", "object", required=False)
    report = None
    if report_data is not None:
        data = dict(report_data)
        if "valid" not in data:
            data["valid"] = True if success is None else success
        try:
            report = ValidationReport.model_validate(data)
        except ValidationError as exc:
            raise _from_validation_error(where, exc, lambda f: f"validation_report.{f}") from None
    elif success is False:
        report = ValidationReport(valid=False)
    return _build(
        where,
        lambda field: (
            f"{prefix}{field}"
            if field.split(".")[0] in ("domain", "persona", "scenario", *_BLUEPRINT_TAU3)
            else field
        ),
        id=task_id,
        domain=body.get("domain") or domain,
        user_id=user_id,
        instruction=instruction,
        actions=actions,
        outputs=outputs,
        persona=body.get("persona"),
        scenario=body.get("scenario"),
        metadata=dict(metadata),
        validation_report=report,
        **tau3,
    )


def render_tau2_instructions(instructions: Mapping[str, Any]) -> str:
    """One text from tau2's structured user instructions, each non-empty part labelled.

    When ``task_instructions`` is the only non-empty part it is returned as is (no label), so a
    casework task exported with :func:`export_tau2` reads back with the same instruction.
    """
    parts = [(label, instructions.get(key)) for key, label in _TAU2_INSTRUCTION_LABELS]
    parts = [(label, str(text).strip("\n")) for label, text in parts if text not in (None, "")]
    if len(parts) == 1 and parts[0][0] == "Task instructions":
        return parts[0][1]
    return "\n\n".join(f"{label}:\n{text}" for label, text in parts)


def _tau2_model(where: _Where, model: type[BaseModel], value: Any, field: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _from_validation_error(where, exc, lambda f: f"{field}.{f}") from None


def _read_tau2(where: _Where, record: Mapping[str, Any], domain: str) -> Task:
    task_id = _get_id(where, record, "id") or str(where.index)
    scenario = _get(where, record, "user_scenario", "object")
    persona = _get(where, scenario, "persona", "string", prefix="user_scenario.", required=False)
    raw = scenario.get("instructions")
    kept: dict[str, Any] = {}
    user_scenario: UserScenario | None = None
    extra_scenario = {
        k: v for k, v in scenario.items() if k not in ("persona", "instructions") and v is not None
    }
    if isinstance(raw, str):
        instruction = raw
        kept["instructions_format"] = "text"
    elif isinstance(raw, Mapping):
        for key, _ in _TAU2_INSTRUCTION_LABELS:
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                raise where.expected(f"user_scenario.instructions.{key}", "string", value)
        if raw.get("domain"):
            domain = str(raw["domain"])
        instruction = render_tau2_instructions(raw)
        if instruction != raw.get("task_instructions") or extra_scenario:
            user_scenario = UserScenario(
                instructions=_tau2_model(
                    where, StructuredInstructions, dict(raw), "user_scenario.instructions"
                ),
                **extra_scenario,
            )
            extra_scenario = {}
    elif raw is None:
        raise where.missing("user_scenario.instructions", "an object or a string")
    else:
        raise where.expected("user_scenario.instructions", "an object or a string", raw)
    if extra_scenario:
        user_scenario = UserScenario(**extra_scenario)

    criteria = _get(where, record, "evaluation_criteria", "object", required=False, default={})
    prefix = "evaluation_criteria."
    actions = _actions(where, criteria, "actions", ("arguments", "kwargs"), prefix=prefix)
    outputs = _string_list(where, criteria, "communicate_info", prefix=prefix)
    action_fields = []
    for i, item in enumerate(criteria.get("actions") or []):
        extra = {k: v for k, v in item.items() if k not in ("name", "arguments") and v is not None}
        if extra.get("action_id") == f"{task_id}_{i}":
            del extra["action_id"]
        typed = {k: extra.pop(k) for k in ("action_id", "requestor", "compare_args", "info") if k in extra}
        if typed:
            try:
                actions[i] = Action(name=actions[i].name, arguments=actions[i].arguments, **typed)
            except ValidationError as exc:
                raise _from_validation_error(where, exc, lambda f, i=i: f"{prefix}actions[{i}].{f}") from None
        action_fields.append(extra)
    if any(action_fields):
        kept["action_fields"] = action_fields
    fields: dict[str, Any] = {"domain": domain, "user_id": _user_id_from_actions(actions)}
    nl_assertions = criteria.get("nl_assertions")
    if nl_assertions is not None:
        fields["nl_assertions"] = _string_list(where, criteria, "nl_assertions", prefix=prefix)
    env_assertions = _get(where, criteria, "env_assertions", "list", prefix=prefix, required=False)
    if env_assertions is not None:
        fields["env_assertions"] = [
            _tau2_model(where, EnvAssertion, item, f"{prefix}env_assertions[{i}]")
            for i, item in enumerate(env_assertions)
        ]
    basis = _string_list(where, criteria, "reward_basis", prefix=prefix)
    for i, name in enumerate(basis):
        if name not in RewardType.__members__:
            raise where.error(
                f"{prefix}reward_basis[{i}]",
                f"unknown component {name!r} (expected one of {', '.join(RewardType)})",
            )
    if basis and tuple(basis) != DEFAULT_REWARD_BASIS:
        fields["reward_basis"] = basis
    extra_criteria = {
        k: v
        for k, v in criteria.items()
        if k not in ("actions", "communicate_info", "nl_assertions", "env_assertions", "reward_basis")
        and v is not None
    }
    if extra_criteria:
        kept["evaluation_criteria"] = extra_criteria
    if record.get("initial_state") is not None:
        fields["initial_state"] = _tau2_model(where, InitialState, record["initial_state"], "initial_state")
    if record.get("description") is not None:
        description = record["description"]
        if isinstance(description, str):  # some τ³ files give a plain text
            description = {"notes": description}
            kept["description_format"] = "text"
        fields["description"] = _tau2_model(where, Description, description, "description")
    if record.get("ticket") is not None:
        fields["ticket"] = _get(where, record, "ticket", "string")
    if user_scenario is not None:
        fields["user_scenario"] = user_scenario
    for key, value in record.items():
        if (
            key not in ("id", "user_scenario", "evaluation_criteria", "casework")
            and key not in ("initial_state", "description", "ticket")
            and value is not None
        ):
            kept[key] = value
    ours = _get(where, record, "casework", "object", required=False, default={})
    for key in ours:
        if key not in _TAU2_CASEWORK_KEYS:
            raise where.error(
                f"casework.{key}", f"unknown field (expected one of {', '.join(_TAU2_CASEWORK_KEYS)})"
            )
    fields.update(ours)
    metadata = dict(fields.pop("metadata", None) or {})
    if kept:
        metadata["tau2"] = kept
    if not record.get("evaluation_criteria"):
        metadata[GROUND_TRUTH_KEY] = MISSING
    return _build(
        where,
        id=task_id,
        instruction=instruction,
        actions=actions,
        outputs=outputs,
        persona=persona,
        metadata=metadata,
        **fields,
    )


def read_tau2_record(record: Mapping[str, Any], *, domain: str, source: str = "<tau2 record>") -> Task:
    """One tau2-bench task record (a ``tasks.json`` entry) as a :class:`Task`, as :func:`load_tasks` reads it."""
    return _read_tau2(_Where(source, 0, task_id=record.get("id")), record, domain)


_READERS: dict[str, Callable[[_Where, Mapping[str, Any], str], Task]] = {
    "casework": _read_casework,
    "blueprint": _read_blueprint,
    "tau-bench-v1": _read_tau_bench_v1,
    "tau2": _read_tau2,
}


# ----------------------------------------------------------------------------------------------
# detection


def _detect_record(record: Any) -> str | None:
    if not isinstance(record, Mapping):
        return None
    keys = set(record)
    if "evaluation_criteria" in keys or ("user_scenario" in keys and "instruction" not in keys):
        return "tau2"  # a casework task may carry a user_scenario too, beside its instruction
    if isinstance(record.get("task"), Mapping) or "success" in keys or {"q", "agt"} & keys:
        return "blueprint"
    actions = record.get("actions")
    if isinstance(actions, list):
        action_keys = set().union(*(set(a) for a in actions if isinstance(a, Mapping)))
        if "kwargs" in action_keys:
            return "tau-bench-v1"
        if "arguments" in action_keys:
            return "casework"
    if keys & _CASEWORK_ONLY_KEYS:
        return "casework"
    if "instruction" in keys:
        return "tau-bench-v1" if keys <= _V1_KEYS else "casework"
    return None


def _records(data: Any, source: str) -> list[Any]:
    if isinstance(data, Mapping) and "tasks" in data:
        data = data["tasks"]
        if not isinstance(data, list):
            raise TaskFormatError(f"{source}: field 'tasks': expected a list, got {_json_type(data)}")
    if not isinstance(data, list):
        raise TaskFormatError(
            f'{source}: expected a list of tasks (or {{"tasks": [...]}}), got {_json_type(data)}'
        )
    return data


def _detect(records: list[Any], source: str) -> str:
    if not records:
        return "casework"
    for record in records:
        found = _detect_record(record)
        if found is not None:
            return found
    first = records[0]
    if not isinstance(first, Mapping):
        raise TaskFormatError(f"{source}: task 0: expected an object, got {_json_type(first)}")
    raise TaskFormatError(
        f"{source}: unknown task format (tried {', '.join(FORMATS)}); task 0 has keys {sorted(first)}; "
        "expected e.g. instruction+actions (casework, tau-bench-v1), task.q/agt (blueprint) "
        "or user_scenario+evaluation_criteria (tau2)"
    )


def detect_format(data: Any, *, source: str = "<data>") -> str:
    """The format of parsed task data: one of ``casework``, ``blueprint``, ``tau-bench-v1``, ``tau2``.

    ``data`` is what a JSON file holds (a list of records or ``{"tasks": [...]}``) or the list of
    records of a JSONL file. An empty list is ``casework``. Raises :class:`TaskFormatError` when no
    format matches, naming the formats tried and the keys seen.
    """
    return _detect(_records(data, source), source)


# ----------------------------------------------------------------------------------------------
# reading files


class _LineError(Exception):
    def __init__(self, number: int, exc: json.JSONDecodeError) -> None:
        self.number, self.exc = number, exc


def _parse_lines(text: str) -> tuple[list[Any], list[int]]:
    records, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise _LineError(number, exc) from None
        lines.append(number)
    return records, lines


def _parse(path: Path) -> tuple[Any, list[int] | None]:
    """The parsed content and, for JSONL, the line number of each record.

    A ``.jsonl`` file is read line by line (falling back to whole-file JSON); any other file as
    JSON (falling back to JSONL when it holds several JSON values).
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TaskFormatError(f"{source}: not UTF-8 text ({exc})") from None
    if path.suffix.lower() != ".jsonl":
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            error = TaskFormatError(
                f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
            if not exc.msg.startswith("Extra data"):
                raise error from None
        try:  # several JSON values: JSONL under another name?
            records, lines = _parse_lines(text)
        except _LineError:
            raise error from None
    else:
        try:
            records, lines = _parse_lines(text)
        except _LineError as line_error:
            try:  # a (pretty-printed) JSON list in a .jsonl file
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
            if not isinstance(data, list):
                raise TaskFormatError(
                    f"{source}: invalid JSON on line {line_error.number}, column {line_error.exc.colno}: "
                    f"{line_error.exc.msg} (JSONL: one task per line)"
                ) from None
            return data, None
    if len(records) == 1 and isinstance(records[0], list):  # a JSON list on one line
        return records[0], None
    return records, lines


def load_tasks(path: str | Path, *, domain: str | None = None) -> list[Task]:
    """Read the tasks of a file in any supported format (detected), as JSON or JSONL.

    ``domain`` is used for the tasks of formats that do not name one.
    """
    path = Path(path)
    source = str(path)
    data, lines = _parse(path)
    records = _records(data, source)
    fmt = _detect(records, source)
    reader = _READERS[fmt]
    tasks = []
    for index, record in enumerate(records):
        line = lines[index] if lines else None
        task_id = record.get("id") if isinstance(record, Mapping) else None
        where = _Where(source, index, line, task_id if isinstance(task_id, str | int) else None)
        if not isinstance(record, Mapping):
            raise TaskFormatError(
                f"{where.prefix()}: expected an object ({fmt} task), got {_json_type(record)}"
            )
        tasks.append(reader(where, record, domain))
    check_unique_ids(tasks, source)
    return tasks


def check_unique_ids(tasks: Iterable[Task], source: str) -> None:
    """Refuse a task list in which two tasks share an id (they would be merged as if trials)."""
    seen: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        if task.id in seen:
            duplicates.setdefault(task.id, [seen[task.id]]).append(index)
        else:
            seen[task.id] = index
    if duplicates:
        listed = ", ".join(
            f"{task_id!r} (tasks {', '.join(map(str, positions))})"
            for task_id, positions in duplicates.items()
        )
        raise TaskFormatError(f"{source}: duplicate task ids: {listed}; every task needs its own id")


# ----------------------------------------------------------------------------------------------
# writing files


def _write_records(records: list[dict[str, Any]], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        text = json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def task_to_dict(task: Task) -> dict[str, Any]:
    """The casework record of a task (JSON-ready)."""
    return task.model_dump(mode="json")


def save_tasks(tasks: Iterable[Task], path: str | Path) -> None:
    """Write casework tasks: JSONL for a ``.jsonl`` path, else a JSON list (indent 2)."""
    _write_records([task_to_dict(t) for t in tasks], path)


def task_to_blueprint(task: Task) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        "domain": task.domain,
        "user_id": task.user_id,
        "q": task.instruction,
    }
    # τ³ fields (requestor on actions, initial state, assertions, ...) are written only when set
    body["agt"] = [a.model_dump(mode="json") for a in task.actions]
    body["ogt"] = list(task.outputs)
    if task.persona is not None:
        body["persona"] = task.persona
    if task.scenario is not None:
        body["scenario"] = task.scenario
    body.update(task.model_dump(mode="json", include=set(_BLUEPRINT_TAU3), exclude_none=True))
    report = task.validation_report
    dumped = task.model_dump(mode="json", include={"metadata", "validation_report"})
    dumped.setdefault("validation_report", None)
    return {
        "success": report.valid if report is not None else True,
        "task": body,
        "metadata": dumped["metadata"],
        "validation_report": dumped["validation_report"],
    }


def save_blueprints(tasks: Iterable[Task], path: str | Path) -> None:
    """Write tasks in the APIGen-MT blueprint format (JSON list, or JSONL for ``.jsonl``)."""
    _write_records([task_to_blueprint(t) for t in tasks], path)


def task_to_tau2(task: Task) -> dict[str, Any]:
    """The tau2-bench record of a task; the τ³ fields and the parts kept in ``metadata["tau2"]``
    are restored."""
    kept: Mapping[str, Any] = task.metadata.get("tau2") or {}
    structured = task.user_scenario.instructions if task.user_scenario is not None else None
    instructions: Any = structured.model_dump(mode="json") if structured is not None else None
    if kept.get("instructions_format") == "text":
        instructions = task.instruction
    elif not (
        isinstance(instructions, Mapping) and render_tau2_instructions(instructions) == task.instruction
    ):
        instructions = {
            "domain": task.domain,
            "reason_for_call": "",
            "known_info": None,
            "unknown_info": None,
            "task_instructions": task.instruction,
        }
    user_scenario = {"persona": task.persona, "instructions": instructions}
    if task.user_scenario is not None:
        user_scenario.update(task.user_scenario.model_dump(mode="json", exclude={"instructions"}))
    fields = kept.get("action_fields") or []
    actions = []
    for i, action in enumerate(task.actions):
        item = {
            "action_id": action.action_id or f"{task.id}_{i}",
            "name": action.name,
            "arguments": action.arguments,
            "requestor": action.requestor,
        }
        if action.compare_args is not None:
            item["compare_args"] = action.compare_args
        if action.info is not None:
            item["info"] = action.info
        if i < len(fields) and isinstance(fields[i], Mapping):
            item.update(fields[i])
        actions.append(item)
    criteria = {
        "actions": actions,
        "communicate_info": list(task.outputs),
        "nl_assertions": task.nl_assertions,
        "reward_basis": [str(b) for b in (task.reward_basis or TAU2_DEFAULT_REWARD_BASIS)],
        **(kept.get("evaluation_criteria") or {}),
    }
    if task.env_assertions is not None:
        criteria["env_assertions"] = [a.model_dump(mode="json") for a in task.env_assertions]
    description: Any = None
    if task.description is not None:
        description = task.description.model_dump(mode="json")
        if kept.get("description_format") == "text":
            description = task.description.notes
    record: dict[str, Any] = {
        "id": task.id,
        "description": description,
        "user_scenario": user_scenario,
        "initial_state": (
            task.initial_state.model_dump(mode="json") if task.initial_state is not None else None
        ),
    }
    if task.ticket is not None:
        record["ticket"] = task.ticket
    for key, value in kept.items():
        if key not in (
            "instructions",
            "instructions_format",
            "description_format",
            "user_scenario",
            "action_fields",
            "evaluation_criteria",
        ):
            record[key] = value
    record["evaluation_criteria"] = criteria
    ours: dict[str, Any] = {}
    if task.user_id is not None and task.user_id != _user_id_from_actions(task.actions):
        ours["user_id"] = task.user_id
    if not isinstance(instructions, Mapping) or instructions.get("domain") != task.domain:
        ours["domain"] = task.domain
    if task.scenario is not None:
        ours["scenario"] = task.scenario
    dumped = task.model_dump(mode="json", include={"metadata", "validation_report"})
    metadata = {k: v for k, v in dumped["metadata"].items() if k != "tau2"}
    if metadata:
        ours["metadata"] = metadata
    if dumped.get("validation_report") is not None:
        ours["validation_report"] = dumped["validation_report"]
    if ours:
        record["casework"] = ours
    return record


def export_tau2(tasks: Iterable[Task], path: str | Path) -> None:
    """Write tasks as a tau2-bench ``tasks.json`` (or JSONL for a ``.jsonl`` path)."""
    _write_records([task_to_tau2(t) for t in tasks], path)
