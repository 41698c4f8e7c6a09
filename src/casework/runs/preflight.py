"""Checks made before a run creates anything: options, files, domain, tasks and their ground truth.

Everything here runs before the run directory is created and before any model is started, so a
mistake costs nothing and leaves nothing behind. Each problem is a :class:`~casework.errors.UserError`
with one line naming the flag or file, the value and what was expected.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from casework.errors import UserError
from casework.tasks.model import Task

#: RunConfig fields whose command-line flag is not ``--`` + the field name with dashes.
_FLAGS = {"simulation_timeout_s": "--timeout", "tasks": "--tasks", "out": "--out"}
#: How many problem lines a refusal shows before "... and N more".
SHOWN_PROBLEMS = 5


def flag_of(field_name: str) -> str:
    return _FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def make_run_config(**options: Any):
    """A :class:`~casework.runs.runner.RunConfig`, with a bad value reported as one line per flag."""
    from casework.runs.runner import RunConfig

    try:
        return RunConfig(**options)
    except ValidationError as exc:
        raise UserError(config_error_line(exc)) from None


def config_error_line(exc: ValidationError) -> str:
    """``--user: 'bogus' is not one of scripted, llm`` for each error of a RunConfig validation."""
    parts = []
    for error in exc.errors():
        loc = error.get("loc") or ("?",)
        flag = flag_of(str(loc[0]))
        value = error.get("input")
        expected = error.get("ctx", {}).get("expected")
        if error["type"] == "literal_error" and expected:
            choices = expected.replace("'", "").replace(" or ", ", ")
            parts.append(f"{flag}: {value!r} is not one of {choices}")
        else:
            parts.append(f"{flag}: {value!r}: {error['msg']}")
    return "; ".join(parts)


@dataclass
class Checked:
    """What the checks found: the run's domain (maybe taken from the task file) and its tasks."""

    domain: str
    tasks: list[Task]
    notes: list[str] = field(default_factory=list)


def check_options(config) -> None:
    """The files and names the options point at: policy file, agent class, persona, domain."""
    from casework.domains import get_domain
    from casework.sim.agents import agent_class
    from casework.sim.personas import resolve_persona

    if config.policy is not None:
        policy = Path(config.policy)
        if not policy.is_file():
            raise UserError(f"--policy {policy}: no such file (expected a text file with the agent policy)")
        try:
            policy.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--policy {policy}: cannot read it as UTF-8 text ({exc})") from None
    if not Path(config.tasks).is_file():
        raise UserError(f"--tasks {config.tasks}: no such file (expected a task file)")
    try:
        agent_class(config.agent)
    except ValueError as exc:
        raise UserError(f"--agent {config.agent}: {exc}") from None
    if config.persona not in (None, "all"):
        try:
            resolve_persona(config.persona)
        except (ValueError, OSError) as exc:
            raise UserError(f"--persona: {exc}") from None
    get_domain(config.domain)


def check_run_directory(config) -> None:
    """``--out``: a new directory, or (with ``--resume``) a run directory whose files can be read."""
    from casework.runs.store import RunDirError, read_manifest, scan_results

    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; expected a run directory (new or, with --resume, existing)")
    manifest = read_manifest(out) if out.is_dir() else None
    if manifest is not None and not config.resume:
        raise RunDirError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    if manifest is not None:
        scan_results(out)  # a results file with nothing readable (binary data) is an error naming it


def check_task_domains(tasks: list[Task], domain: str, source: Any) -> None:
    """Refuse tasks that belong to another domain than the run's, naming them."""
    other: dict[str, list[str]] = defaultdict(list)
    base = domain.partition("@")[0]  # NAME@PROFILE: the tasks name the domain, not the profile
    for task in tasks:
        if task.domain != base and task.domain != domain:
            other[task.domain].append(task.id)
    if other:
        listed = "; ".join(f"{_ids(ids)} are {name} tasks" for name, ids in sorted(other.items()))
        raise UserError(
            f"{source}: the run's domain is {domain!r} but {listed}: pass --domain for their domain "
            "or choose tasks of this one"
        )


def check_ground_truth(tasks: list[Task], source: Any) -> None:
    """Refuse tasks without ground truth: they cannot be graded (never a free reward)."""
    missing = [t.id for t in tasks if not t.has_ground_truth]
    if missing:
        raise UserError(
            f"{source}: {len(missing)} task(s) have no ground truth ({_ids(missing)}): they cannot be "
            "graded; give them actions (an empty list for a task that should change nothing) or leave them out"
        )


def _ids(ids: list[str], shown: int = 8) -> str:
    head = ", ".join(repr(i) for i in ids[:shown])
    return f"tasks {head}" + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def resolve_domain(config, *, domain_given: bool, profile: str | None = None) -> Checked:
    """Load the tasks and settle the run's domain.

    With ``--domain`` given, tasks of another domain are refused. Without it, a task file whose
    tasks all name one domain runs in that domain (and a note says so); tasks naming several
    domains are refused. The tool profile is ``profile`` (``--profile``), else the one named in
    ``--domain``, else the one the task file's format implies (:func:`casework.tasks.profiles.domain_spec`).
    """
    from casework.tasks import load_tasks

    tasks = load_tasks(config.tasks, domain=config.domain)
    notes: list[str] = []
    domain = config.domain
    named = {t.domain for t in tasks}
    if not domain_given and len(named) == 1 and domain not in named and domain.partition("@")[0] not in named:
        (domain,) = named
        from casework.domains import get_domain

        try:
            get_domain(domain)
        except UserError as exc:
            raise UserError(f"{config.tasks}: the tasks are {domain} tasks, but {exc}") from None
        notes.append(f"the tasks in {config.tasks} are {domain} tasks: running in the {domain} domain")
    check_task_domains(tasks, domain, config.tasks)
    from casework.tasks.profiles import domain_spec

    spec = domain_spec(domain, profile, Path(config.tasks))
    if profile is None and spec != domain and "@" not in domain:
        notes.append(
            f"tool profile {spec.partition('@')[2]} (from the task file's format; --profile changes it)"
        )
    return Checked(spec, tasks, notes)


def select(tasks: list[Task], task_ids: list[str] | None, source: Any) -> list[Task]:
    """The tasks named by ``--task-ids`` (all when None); unknown ids are an error."""
    if not task_ids:
        return tasks
    wanted = set(task_ids)
    unknown = sorted(wanted - {t.id for t in tasks})
    if unknown:
        raise UserError(f"--task-ids: no task with id {', '.join(map(repr, unknown))} in {source}")
    return [t for t in tasks if t.id in wanted]


def ground_truth_problems(domain, database, tasks: list[Task]) -> list[str]:
    """Problem lines of the ``format`` and ``grounding`` stages that make a task's grading meaningless.

    Unknown tools and arguments that do not fit a tool's schema are always problems; a grounding
    problem (an id that does not exist or is not the user's) is not counted for an action that the
    ground truth itself expects to fail (it errors when replayed, and the grader replays the same).
    The instruction-wording checks of ``casework tasks validate`` are left out (a quality matter).
    """
    from casework.tasks.validate import validate_task

    lines = []
    for task in tasks:
        result = validate_task(domain, database, task, instruction_checks=False)
        erroring = {e.action_index for e in result.replay.errors}
        for problem in result.problems:
            expected_failure = problem.stage == "grounding" and problem.action_index in erroring
            if problem.stage in ("format", "grounding") and not expected_failure:
                lines.append(problem.line())
    return lines


def refuse_invalid(lines: list[str], source: Any) -> None:
    if not lines:
        return
    # the toolbox's list of available tools is worth reading once, not once per problem
    marker = "; available tools:"
    trimmed = [line if i == 0 else line.split(marker)[0] for i, line in enumerate(lines[:SHOWN_PROBLEMS])]
    shown = "; ".join(trimmed)
    more = f"; and {len(lines) - SHOWN_PROBLEMS} more" if len(lines) > SHOWN_PROBLEMS else ""
    raise UserError(
        f"{source}: {len(lines)} problem(s) with the tasks' ground truth: {shown}{more} "
        "(see `casework tasks validate`; --no-validate runs them anyway)"
    )


def preflight(
    config, *, domain_given: bool = True, validate: bool = True, profile: str | None = None
) -> Checked:
    """Every check a run makes before it creates its directory or starts a model.

    Returns the run's domain and selected tasks; raises :class:`UserError` on the first problem.
    """
    from casework.domains import DataError, get_domain

    check_options(config)
    check_run_directory(config)
    checked = resolve_domain(config, domain_given=domain_given, profile=profile)
    from casework.tasks.splits import SplitError, select_split

    try:
        checked.tasks, _ = select_split(checked.tasks, Path(config.tasks), getattr(config, "split", None))
    except SplitError as exc:
        raise UserError(str(exc)) from None
    checked.tasks = select(checked.tasks, config.task_ids, config.tasks)
    check_ground_truth(checked.tasks, config.tasks)
    if validate:
        dom = get_domain(checked.domain)
        try:
            database = dom.database(config.data)
        except (DataError, OSError) as exc:
            raise UserError(f"--data: {exc}") from None
        refuse_invalid(ground_truth_problems(dom, database, checked.tasks), config.tasks)
    return checked
