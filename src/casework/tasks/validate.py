"""Kept for imports: validation lives in :mod:`casework.validation` (stages 1-4 in
:mod:`casework.validation.replay`)."""

from casework.validation.replay import (
    STAGES,
    PolicyCheck,
    Problem,
    TaskValidation,
    validate_task,
    validate_tasks,
)

__all__ = ["STAGES", "PolicyCheck", "Problem", "TaskValidation", "validate_task", "validate_tasks"]
