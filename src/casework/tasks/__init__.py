"""Tasks: the data model, file formats (casework, blueprint, tau-bench v1, tau2) and action normalisation."""

from casework.tasks.formats import (
    FORMATS,
    TaskFormatError,
    detect_format,
    export_tau2,
    load_tasks,
    read_tau2_record,
    render_tau2_instructions,
    save_blueprints,
    save_tasks,
    task_to_blueprint,
    task_to_dict,
    task_to_tau2,
)
from casework.tasks.model import Action, Task, ValidationReport
from casework.tasks.normalize import (
    actions_equal,
    normalize_action,
    normalize_arguments,
)

__all__ = [
    "FORMATS",
    "Action",
    "Task",
    "TaskFormatError",
    "ValidationReport",
    "actions_equal",
    "detect_format",
    "export_tau2",
    "read_tau2_record",
    "load_tasks",
    "normalize_action",
    "normalize_arguments",
    "render_tau2_instructions",
    "save_blueprints",
    "save_tasks",
    "task_to_blueprint",
    "task_to_dict",
    "task_to_tau2",
]
