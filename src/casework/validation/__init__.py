"""Task validation: one package, stages in a fixed order.

1. ``format``: the tool exists and the arguments fit its schema;
2. ``grounding``: the user and the ids an action names exist and are the user's; what the user
   must say themselves is in the instruction;
3. ``execution``: every action succeeds when replayed on a fresh fork; a write task changes the data;
4. ``policy``: the domain's policy rules (:class:`~casework.domains.PolicyCheck`) over the same
   replay;
5. ``committee``: model reviewers vote on correctness, completeness, satisfaction, creativity
   (generation only, when reviewers are given);
6. ``dedup``: a task with the same user and actions as an earlier one is dropped.

Stages 1-4 run in one replay (:mod:`casework.validation.replay`, :func:`validate_stages`); the
committee (:mod:`casework.validation.committee`) and de-duplication (:mod:`casework.validation.dedup`)
follow in the generation pipeline. :func:`attach_report` writes every stage's verdict on the task.
"""

from __future__ import annotations

from casework.validation.dedup import dedup_key, deduplicate
from casework.validation.replay import Problem, TaskValidation, validate_task, validate_tasks
from casework.validation.stages import (
    REPLAY_STAGES,
    STAGES,
    attach_report,
    stage_reasons,
    validate_all,
    validate_stages,
)

__all__ = [
    "REPLAY_STAGES",
    "STAGES",
    "Problem",
    "TaskValidation",
    "attach_report",
    "dedup_key",
    "deduplicate",
    "stage_reasons",
    "validate_all",
    "validate_stages",
    "validate_task",
    "validate_tasks",
]
