"""``casework tasks audit``: replay and validate every task of a file and write a report to file upstream.

Per task the audit records (:class:`TaskAudit`):

- what fails: every problem of validation stages 1-4 (:mod:`casework.validation.replay`), with the
  action it is about, the **observation** that action gave when the golden actions were replayed,
  and the rule broken (the grounding or policy rule's own message);
- whether the DB verdict depends on the **order of items** inside one call
  (:func:`~casework.validation.profiles.order_dependence`) or on a **reproduced defect** of the
  reference benchmark (:func:`~casework.validation.profiles.profile_divergence`, e.g. τ³'s
  last-variant defect under ``tau3-exact``);
- whether a **do-nothing agent** would pass it: the golden final state equals the initial state (no
  golden write changes anything), and the reward asks for nothing else an agent that does nothing
  cannot give: no expected outputs (``communicate_info``), no NL assertions, no ``ACTION`` component
  with golden actions, and the environment assertions hold on the untouched state. Such a task
  gives reward 1 for doing nothing: often an "impossible" request whose golden trajectory is only
  reads, which cannot tell a careful agent from an idle one.

The report (:func:`render_markdown`) is plain markdown: a summary with counts, a table, and one
section per task that has something to report. Generic: every domain-specific judgement comes from
the domain (its tools, grounding, policy rules, argument rules, profiles).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from casework.domains import Database, Domain
from casework.tasks.model import Task
from casework.validation.profiles import fresh_state, golden_replay, order_dependence, profile_divergence
from casework.validation.replay import validate_task

#: the reward components that an agent doing nothing cannot satisfy when the task lists evidence for them
_EVIDENCE = ("COMMUNICATE", "NL_ASSERTION", "ACTION")


class Finding(BaseModel):
    """One problem of one task."""

    stage: str
    message: str
    action_index: int | None = None
    action_name: str | None = None
    #: the action's arguments and the observation it gave in the golden replay
    arguments: dict | None = None
    observation: str | None = None


class TaskAudit(BaseModel):
    task_id: str
    actions: int
    findings: list[Finding] = Field(default_factory=list)
    #: golden actions whose item order changes the final state
    order_dependent: list[int] = Field(default_factory=list)
    #: the profiles whose golden final states differ (empty: none)
    profile_dependent: list[str] = Field(default_factory=list)
    profile_actions: list[int] = Field(default_factory=list)
    do_nothing_passes: bool = False
    do_nothing_reason: str = ""

    @property
    def clean(self) -> bool:
        return not self.findings


class AuditReport(BaseModel):
    source: str
    domain: str
    profile: str
    data: str
    tasks: list[TaskAudit] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        stages: Counter[str] = Counter()
        for task in self.tasks:
            for stage in {f.stage for f in task.findings}:
                stages[stage] += 1
        return {
            "tasks": len(self.tasks),
            "clean": sum(t.clean for t in self.tasks),
            "with_problems": sum(not t.clean for t in self.tasks),
            **{f"stage_{k}": v for k, v in sorted(stages.items())},
            "order_dependent": sum(bool(t.order_dependent) for t in self.tasks),
            "profile_dependent": sum(bool(t.profile_dependent) for t in self.tasks),
            "do_nothing_passes": sum(t.do_nothing_passes for t in self.tasks),
        }


def _do_nothing(domain: Domain, task: Task, initial_hash: str, final_hash: str, state) -> tuple[bool, str]:
    """Would an agent that calls no tool and says nothing get reward 1? (and why, in words)."""
    if final_hash != initial_hash:
        return False, "the golden actions change the state"
    basis = (
        [getattr(b, "value", b) for b in task.reward_basis] if task.reward_basis else ["DB", "COMMUNICATE"]
    )
    needs = []
    if "COMMUNICATE" in basis and task.outputs:
        needs.append(f"{len(task.outputs)} expected output(s)")
    if "NL_ASSERTION" in basis and task.nl_assertions:
        needs.append(f"{len(task.nl_assertions)} NL assertion(s)")
    if "ACTION" in basis and task.actions:
        needs.append(f"{len(task.actions)} golden action(s) to match")
    if "ENV_ASSERTION" in basis:
        for assertion in task.env_assertions or []:
            if not domain.env_assertion_holds(state, assertion)[0]:
                needs.append(f"environment assertion {assertion.func_name}")
    if needs:
        return False, "unchanged state, but the reward needs " + ", ".join(needs)
    return (
        True,
        f"the golden final state is the initial state and the reward ({' x '.join(basis)}) asks for no evidence",
    )


def audit_task(domain: Domain, database: Database, task: Task) -> TaskAudit:
    """Replay and validate one task (see the module docstring)."""
    checks = domain.policy_rules() if domain.policy_rules else None
    validation = validate_task(domain, database, task, policy=checks)
    try:
        golden = golden_replay(domain, database, task)
    except ValueError as exc:  # an initial state the domain cannot apply
        return TaskAudit(
            task_id=task.id,
            actions=len(task.actions),
            findings=[Finding(stage="initial_state", message=str(exc))],
        )
    findings = []
    for problem in validation.problems:
        index = problem.action_index
        finding = Finding(
            stage=problem.stage, message=problem.message, action_index=index, action_name=problem.action_name
        )
        if index is not None and 0 <= index < len(task.actions):
            arguments = task.actions[index].arguments
            finding.arguments = arguments if isinstance(arguments, dict) else None
            if index < len(golden.observations):
                finding.observation = golden.observations[index]
        findings.append(finding)
    findings.sort(key=lambda f: (f.action_index is None, f.action_index or 0))
    audit = TaskAudit(task_id=task.id, actions=len(task.actions), findings=findings)
    audit.order_dependent = order_dependence(domain, database, task, golden.final_hash)
    divergence = profile_divergence(domain, database, task)
    if divergence is not None:
        audit.profile_dependent = list(divergence.profiles)
        audit.profile_actions = divergence.actions
    # a do-nothing agent leaves the initial state: the environment assertions are checked there
    audit.do_nothing_passes, audit.do_nothing_reason = _do_nothing(
        domain, task, golden.initial_hash, golden.final_hash, fresh_state(domain, database, task)
    )
    return audit


def audit_tasks(
    domain: Domain, database: Database, tasks: Iterable[Task], *, source: str = "", data: str = ""
) -> AuditReport:
    report = AuditReport(source=source, domain=domain.name, profile=domain.profile, data=data)
    report.tasks = [audit_task(domain, database, task) for task in tasks]
    return report


# -- markdown ----------------------------------------------------------------------------------------


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def render_markdown(report: AuditReport) -> str:
    """The audit as a markdown report ready to paste into an upstream issue."""
    c = report.counts()
    lines = [
        f"# Task audit: {report.source}",
        "",
        f"Domain `{report.domain}`, tool profile `{report.profile}`, data `{report.data or 'embedded default'}`. "
        "Every task's golden actions were replayed on a fresh copy of the database (initial state "
        "applied) and checked in four stages: format (tool and argument schema), grounding (ids "
        "exist and belong to the task's user; what the user must say is in the instructions), "
        "execution (every golden action succeeds; a write task changes the data) and policy (the "
        "domain's policy rules).",
        "",
        "## Summary",
        "",
        f"- tasks: **{c['tasks']}**; replay and validate cleanly: **{c['clean']}**; with problems: **{c['with_problems']}**",
    ]
    for key, value in c.items():
        if key.startswith("stage_"):
            lines.append(f"  - tasks with `{key.removeprefix('stage_')}` problems: {value}")
    lines += [
        f"- DB verdict depends on the order of items inside one call: **{c['order_dependent']}**",
        f"- golden final state differs between profiles (a reproduced reference defect decides the verdict): "
        f"**{c['profile_dependent']}**",
        f"- a do-nothing agent (no tool call, no message) would get reward 1: **{c['do_nothing_passes']}**",
        "",
        "| task | actions | problems | first problem | item order | profile | do-nothing passes |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in report.tasks:
        first = t.findings[0] if t.findings else None
        first_text = "-" if first is None else _cell(f"[{first.stage}] {first.message}", 100)
        lines.append(
            f"| {t.task_id} | {t.actions} | {len(t.findings)} | {first_text} | "
            f"{', '.join(map(str, t.order_dependent)) or '-'} | {' / '.join(t.profile_dependent) or '-'} | "
            f"{'**yes**' if t.do_nothing_passes else 'no'} |"
        )
    lines.append("")
    noted = [
        t
        for t in report.tasks
        if t.findings or t.order_dependent or t.profile_dependent or t.do_nothing_passes
    ]
    if noted:
        lines += ["## Tasks", ""]
    for t in noted:
        lines += [f"### Task {t.task_id}", ""]
        for f in t.findings:
            where = f"action {f.action_index} (`{f.action_name}`)" if f.action_index is not None else "task"
            lines.append(f"- **{f.stage}**, {where}: {f.message}")
            if f.arguments is not None:
                lines.append(f"  - arguments: {_code(f.arguments)}")
            if f.observation is not None:
                lines.append(f"  - observation: {_code(f.observation)}")
        if t.order_dependent:
            lines.append(
                f"- **item order**: reversing the item lists of action(s) {', '.join(map(str, t.order_dependent))} "
                "changes the golden final state, so an agent that lists the same items in another order "
                "fails the DB check"
            )
        if t.profile_dependent:
            a, b = t.profile_dependent
            lines.append(
                f"- **profile**: the golden final state differs between `{a}` and `{b}` "
                f"(action(s) {', '.join(map(str, t.profile_actions)) or '-'}): the verdict depends on the "
                "reference's defect"
            )
        if t.do_nothing_passes:
            lines.append(f"- **do-nothing agent passes**: {t.do_nothing_reason}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["AuditReport", "Finding", "TaskAudit", "audit_task", "audit_tasks", "render_markdown"]
