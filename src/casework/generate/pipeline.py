"""The generation pipeline: generate -> validate (stages 1-6) -> feedback and regenerate -> write.

For each task slot ``index`` the generator proposes a task; stages 1-4 run on one replay, then the
review committee (when reviewers are given) and de-duplication. A failed attempt gets a feedback
summary (the problem lines) and the slot is regenerated, up to ``max_iterations`` attempts; a slot
that never passes is recorded as rejected with its reasons. Optionally, validated single-intent
tasks of the same user are merged into multi-intent tasks ("reverse recombination") and
re-validated. Statistics (:mod:`casework.generate.stats`) cover the kept tasks plus the pipeline's
counters.

Resumable: accepted and rejected slots are appended to ``OUT.progress.jsonl`` as they finish; a
rerun with the same ``out`` skips finished slots. Generators seed each slot from
``(seed, index, iteration)``, so a resumed run writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from casework import aio
from casework.domains import Database, Domain
from casework.generate.stats import task_stats
from casework.tasks.model import Task
from casework.tasks.refusal import REFUSALS_KEY, merged_evidence
from casework.validation.committee import ChatEndpoint, review
from casework.validation.stages import REPLAY_STAGES, attach_report, dedup_key, validate_stages


class GenerationError(Exception):
    """A generator could not produce a task; ``raw`` keeps the model output, when there was one."""

    def __init__(self, message: str, raw: str | None = None):
        super().__init__(message)
        self.raw = raw


class Generator(Protocol):
    name: str

    async def generate(self, index: int, iteration: int, feedback: str | None) -> Task:
        """Task for slot ``index``; ``iteration`` > 0 with ``feedback`` on earlier failures."""
        ...


@dataclass
class TemplatedGenerator:
    """:func:`casework.generate.templated.build_templated_task` as a pipeline generator."""

    domain: Domain
    database: Database
    seed: int = 0
    weights: dict[str, float] | None = None
    multi_intent: float = 0.2
    min_actions: int | None = None
    max_actions: int | None = None
    intents: int | None = None
    refusals: str = "grounded"
    name: str = "templated"

    def __post_init__(self) -> None:
        from casework.generate.templated import scenario_library

        scenario_library(self.domain)  # a domain without scenarios is refused here, by name

    async def generate(self, index: int, iteration: int, feedback: str | None) -> Task:
        return self.build(index, iteration)

    def build(self, index: int, iteration: int) -> Task:
        from casework.generate.templated import build_templated_task

        try:
            return build_templated_task(
                self.domain,
                self.database,
                index,
                self.seed,
                weights=self.weights,
                multi_intent=self.multi_intent,
                min_actions=self.min_actions,
                max_actions=self.max_actions,
                iteration=iteration,
                intents=self.intents,
                refusals=self.refusals,
            )
        except RuntimeError as exc:
            raise GenerationError(str(exc)) from None


@dataclass
class PipelineConfig:
    num_tasks: int
    max_iterations: int = 3
    committee_rule: str = "core"
    check_user_id: bool = True
    recombine: int = 0
    concurrency: int = 1
    store_diff: bool = True


@dataclass
class SlotOutcome:
    index: int
    task: Task | None
    iterations: int
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PipelineResult:
    tasks: list[Task]
    rejected: list[SlotOutcome]
    stats: dict[str, Any]


@dataclass
class Attempt:
    """One attempt at a slot before de-duplication: the generated ``candidate`` (None when none could
    be built), the ``task`` with its report when it passed every stage so far, else the failures."""

    candidate: Task | None
    task: Task | None
    failures: list[dict[str, Any]] = field(default_factory=list)


def new_counters() -> dict[str, Any]:
    return {"generated": 0, "passed": Counter(), "failures": Counter(), "iterations": Counter()}


def add_counters(into: dict[str, Any], more: dict[str, Any]) -> None:
    into["generated"] += more["generated"]
    for key in ("passed", "failures", "iterations"):
        into[key].update(more[key])


def _reason_key(stage: str, message: str) -> str:
    """Group failure messages: drop ids and numbers so that the same reason counts together."""
    import re

    text = re.sub(r"'[^']*'|#\w+|\b\w*\d[\w.]*\b", "…", message)
    return f"{stage}: {text[:90]}"


class Pipeline:
    def __init__(
        self,
        domain: Domain,
        database: Database,
        generator: Generator,
        config: PipelineConfig,
        *,
        reviewers: list[ChatEndpoint] | None = None,
        progress: Callable[[int], None] | None = None,
    ):
        self.domain = domain
        self.database = database
        self.generator = generator
        self.config = config
        self.reviewers = reviewers or []
        self.progress = progress
        # ``slots_runner(pipeline, todo, record)`` runs the slots elsewhere, recording each outcome in
        # slot order through ``record`` (the one writer of the progress file)
        self.slots_runner: Callable[..., Any] | None = None
        self.seen: set[Any] = set()
        self.rejected_file: Any = None
        self.counters: dict[str, Any] = new_counters()

    async def _attempt(
        self, index: int, iteration: int, feedback: str | None
    ) -> tuple[Task | None, list[dict[str, Any]]]:
        """(the accepted task, []) or (None, the failures); a rejected candidate is recorded."""
        candidate: dict[str, Task] = {}
        task, failures = await self._check(index, iteration, feedback, candidate)
        if task is None:
            self._reject(index, iteration, candidate.get("task"), failures)
        return task, failures

    async def _check(
        self, index: int, iteration: int, feedback: str | None, candidate: dict[str, Task]
    ) -> tuple[Task | None, list[dict[str, Any]]]:
        attempt = await self.propose(index, iteration, feedback, self.counters)
        if attempt.candidate is not None:
            candidate["task"] = attempt.candidate
        return self.decide(attempt)

    async def propose(
        self, index: int, iteration: int, feedback: str | None, counters: dict[str, Any]
    ) -> Attempt:
        """One attempt at slot ``index`` up to (not including) de-duplication, which needs every
        earlier slot (:meth:`decide`); counts into ``counters``. Needs no shared state, so any
        worker can run it (the Ray backend of ``casework generate``)."""
        try:
            task = await self.generator.generate(index, iteration, feedback)
        except GenerationError as exc:
            counters["failures"][_reason_key("generation", str(exc))] += 1
            failure: dict[str, Any] = {"stage": "generation", "message": str(exc)}
            if exc.raw is not None:
                failure["raw"] = exc.raw[:2000]
            return Attempt(None, None, [failure])
        counters["generated"] += 1
        validation = validate_stages(
            self.domain, self.database, task, check_user_id=self.config.check_user_id
        )
        failed_stages = {p.stage for p in validation.problems}
        for stage in REPLAY_STAGES:
            if stage not in failed_stages:
                counters["passed"][stage] += 1
        failures = [
            {"stage": p.stage, "message": p.message, "action_index": p.action_index}
            for p in validation.problems
        ]
        for p in validation.problems:
            counters["failures"][_reason_key(p.stage, p.message)] += 1
        if failures:
            return Attempt(task, None, failures)
        extra: dict[str, dict[str, Any]] = {}
        if self.reviewers:
            result = await review(
                self.reviewers,
                task,
                self.domain.policy,
                validation.replay.observations,
                rule=self.config.committee_rule,
            )
            extra["committee"] = result.to_stage()
            if not result.passed:
                message = f"committee rejected: {', '.join(result.failed_criteria())}"
                counters["failures"][_reason_key("committee", message)] += 1
                reasons = [v.reason or v.error or "" for v in result.votes]
                return Attempt(
                    task,
                    None,
                    [{"stage": "committee", "message": message, "reviews": [r for r in reasons if r]}],
                )
            counters["passed"]["committee"] += 1
        extra["dedup"] = {"passed": True}  # as it will be if :meth:`decide` finds no duplicate
        return Attempt(task, attach_report(task, validation, extra, diff=self.config.store_diff), [])

    def decide(self, attempt: Attempt) -> tuple[Task | None, list[dict[str, Any]]]:
        """De-duplicate an attempt that passed every other stage against the tasks kept so far."""
        if attempt.task is None:
            return None, attempt.failures
        counters = self.counters
        key = dedup_key(attempt.task, self.domain.arguments)
        if key in self.seen:
            counters["failures"]["dedup: same user and actions as an earlier task"] += 1
            return None, [{"stage": "dedup", "message": "same user and actions as an earlier task"}]
        self.seen.add(key)
        counters["passed"]["dedup"] += 1
        return attempt.task, []

    def _reject(
        self, index: int, iteration: int, candidate: Task | None, failures: list[dict[str, Any]]
    ) -> None:
        """One line in ``OUT.rejected.jsonl``: the slot, the attempt, why, and the candidate (or the
        raw model output when no candidate could be built)."""
        if self.rejected_file is None:
            return
        record: dict[str, Any] = {
            "index": index,
            "iteration": iteration,
            "method": getattr(self.generator, "name", "unknown"),
            "failures": [{k: v for k, v in f.items() if k != "raw"} for f in failures],
        }
        raw = next((f["raw"] for f in failures if f.get("raw")), None)
        if raw is not None:
            record["raw"] = raw
        if candidate is not None:
            record["task"] = candidate.model_dump(mode="json", exclude_none=True)
        self.rejected_file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.rejected_file.flush()

    async def run_slot(self, index: int) -> SlotOutcome:
        feedback: str | None = None
        all_failures: list[dict[str, Any]] = []
        for iteration in range(max(1, self.config.max_iterations)):
            task, failures = await self._attempt(index, iteration, feedback)
            if task is not None:
                return self.accepted(index, iteration, task, all_failures)
            all_failures += [dict(f, iteration=iteration) for f in failures]
            feedback = feedback_for(failures)
        return SlotOutcome(index, None, self.config.max_iterations, all_failures)

    def accepted(
        self, index: int, iteration: int, task: Task, all_failures: list[dict[str, Any]]
    ) -> SlotOutcome:
        task.metadata["iterations"] = iteration + 1
        if all_failures:
            task.metadata["earlier_failures"] = [f["message"] for f in all_failures][:10]
        self.counters["iterations"][iteration + 1] += 1
        return SlotOutcome(index, task, iteration + 1, all_failures)

    async def run(self, out: Path | None = None) -> PipelineResult:
        done: dict[int, SlotOutcome] = {}
        progress_file = None
        if out is not None:
            progress_path = Path(str(out) + ".progress.jsonl")
            done = _read_progress(progress_path)
            for outcome in sorted(done.values(), key=lambda o: o.index):
                if outcome.task is not None:
                    self.seen.add(dedup_key(outcome.task, self.domain.arguments))
            progress_path.parent.mkdir(parents=True, exist_ok=True)
            # a fresh run starts a fresh rejected file; a resumed one keeps adding to it
            self.rejected_file = rejected_path(out).open("a" if done else "w", encoding="utf-8")
            progress_file = progress_path.open("a", encoding="utf-8")
        todo = [i for i in range(self.config.num_tasks) if i not in done]
        if self.progress and done:
            self.progress(len(done))
        semaphore = asyncio.Semaphore(max(1, self.config.concurrency))
        lock = asyncio.Lock()

        async def one(index: int) -> None:
            async with semaphore:
                outcome = await self.run_slot(index)
            async with lock:
                done[index] = outcome
                if progress_file is not None:
                    progress_file.write(json.dumps(_outcome_record(outcome), ensure_ascii=False) + "\n")
                    progress_file.flush()
                if self.progress:
                    self.progress(1)

        def record(outcome: SlotOutcome) -> None:
            done[outcome.index] = outcome
            if progress_file is not None:
                progress_file.write(json.dumps(_outcome_record(outcome), ensure_ascii=False) + "\n")
                progress_file.flush()
            if self.progress:
                self.progress(1)

        try:
            if self.slots_runner is not None:  # another backend runs the slots (e.g. Ray)
                await self.slots_runner(self, todo, record)
            elif self.config.concurrency <= 1:
                for index in todo:
                    await one(index)
            else:
                await asyncio.gather(*(one(i) for i in todo))
        finally:
            if progress_file is not None:
                progress_file.close()
            if self.rejected_file is not None:
                self.rejected_file.close()
                self.rejected_file = None
        outcomes = [done[i] for i in sorted(done) if i < self.config.num_tasks]
        tasks = [o.task for o in outcomes if o.task is not None]
        recombined = self.recombine(tasks) if self.config.recombine else []
        tasks += recombined
        rejected = [o for o in outcomes if o.task is None]
        stats = task_stats(tasks, self.domain)
        counters = self.counters
        stats["pipeline"] = {
            "method": getattr(self.generator, "name", "unknown"),
            "slots": self.config.num_tasks,
            "generated": counters["generated"],
            "accepted": len(tasks) - len(recombined),
            "rejected": len(rejected),
            "passed_per_stage": dict(counters["passed"]),
            "iterations_used": {
                str(k): v for k, v in sorted(Counter(o.iterations for o in outcomes if o.task).items())
            },
            "failure_reasons": dict(counters["failures"].most_common()),
            "recombined": len(recombined),
            "resumed_slots": self.config.num_tasks - len(todo),
        }
        return PipelineResult(tasks, rejected, stats)

    def recombine(self, tasks: list[Task]) -> list[Task]:
        """Merge pairs of validated single-intent tasks of the same user; keep the merges that validate."""
        solo = self.domain.scenarios.solo_keys if self.domain.scenarios is not None else frozenset()
        by_user: dict[str, list[Task]] = {}
        for task in tasks:
            keys = [task.scenario] if isinstance(task.scenario, str) else (task.scenario or [])
            if task.user_id and len(keys) == 1 and keys[0] not in solo:
                by_user.setdefault(task.user_id, []).append(task)
        merged: list[Task] = []
        for user_id in sorted(by_user):
            group = by_user[user_id]
            for first, second in zip(group[::2], group[1::2], strict=False):
                if len(merged) >= self.config.recombine:
                    return merged
                candidate = merge_tasks(first, second, self.domain)
                validation = validate_stages(
                    self.domain, self.database, candidate, check_user_id=self.config.check_user_id
                )
                key = dedup_key(candidate, self.domain.arguments)
                if validation.valid and key not in self.seen:
                    self.seen.add(key)
                    merged.append(
                        attach_report(
                            candidate, validation, {"dedup": {"passed": True}}, diff=self.config.store_diff
                        )
                    )
        return merged


def merge_tasks(first: Task, second: Task, domain: Domain) -> Task:
    """One conversation with both requests: the second task's identification (the domain's
    identification tools) and repeated profile lookups are dropped, its instruction follows the first's."""
    names = {a.name for a in first.actions}
    identification = domain.users.identification
    profile = domain.users.profile_tool
    tail = [
        a
        for a in second.actions
        if a.name not in identification and not (a.name == profile and a.name in names)
    ]
    metadata = {
        "generation_method": "recombined",
        "sources": [first.id, second.id],
        "multi_intent": True,
        "num_actions": len(first.actions) + len(tail),
    }
    merged = domain.scenarios.merged_metadata if domain.scenarios is not None else ()
    for key in (*merged, REFUSALS_KEY):
        values = list(first.metadata.get(key, [])) + list(second.metadata.get(key, []))
        if values:
            metadata[key] = values
    keys = [first.scenario, second.scenario]
    return Task(
        id=f"recombined-{first.id}+{second.id}",
        domain=first.domain,
        user_id=first.user_id,
        instruction=f"{first.instruction} In the same conversation you have a second request. {second.instruction}",
        actions=[*first.actions, *tail],
        outputs=[*first.outputs, *second.outputs],
        persona=first.persona,
        scenario=[k for k in keys if isinstance(k, str)],
        metadata=metadata,
        **merged_evidence(first, second),
    )


def feedback_for(failures: list[dict[str, Any]]) -> str:
    """What the generator hears about a failed attempt before it tries the slot again."""
    return "The previous attempt failed validation:\n" + "\n".join(
        f"- [{f['stage']}] {f['message']}" for f in failures
    )


def _outcome_record(outcome: SlotOutcome) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": outcome.index,
        "iterations": outcome.iterations,
        "failures": outcome.failures,
    }
    if outcome.task is not None:
        record["task"] = outcome.task.model_dump(mode="json")
    return record


def _read_progress(path: Path) -> dict[int, SlotOutcome]:
    done: dict[int, SlotOutcome] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            task = Task.model_validate(record["task"]) if record.get("task") else None
            done[int(record["index"])] = SlotOutcome(
                record["index"], task, record["iterations"], record.get("failures", [])
            )
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line (killed mid-write): that slot is redone
    return done


def rejected_path(out: Path) -> Path:
    """``OUT.rejected.jsonl``: every rejected candidate with its reasons, one JSON line each."""
    return Path(str(out) + ".rejected.jsonl")


def shortfall(result: PipelineResult, asked: int, out: Path | None = None) -> str | None:
    """None when every slot produced a task; else one line: how many, and why the rest failed."""
    made = int(result.stats.get("pipeline", {}).get("accepted", len(result.tasks)))
    if made >= asked:
        return None
    reasons = result.stats.get("pipeline", {}).get("failure_reasons", {})
    top = "; ".join(f"{reason} ({count})" for reason, count in list(reasons.items())[:3])
    where = f"; rejected candidates and their reasons are in {rejected_path(out)}" if out is not None else ""
    return (
        f"produced {made} of {asked} tasks: {len(result.rejected)} slots failed every attempt"
        + (f"; most common reasons: {top}" if top else "")
        + where
    )


def write_outputs(result: PipelineResult, out: Path, fmt: str = "blueprint") -> Path:
    """The task file (blueprint or casework format) and ``OUT.stats.json`` beside it."""
    from casework.tasks import save_blueprints, save_tasks

    (save_blueprints if fmt == "blueprint" else save_tasks)(result.tasks, out)
    stats_path = out.with_name(out.name + ".stats.json")
    payload = dict(result.stats)
    payload["rejected_slots"] = [
        {"index": o.index, "failures": [{k: v for k, v in f.items() if k != "raw"} for f in o.failures]}
        for o in result.rejected
    ]
    stats_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats_path


def run_pipeline(
    domain: Domain,
    database: Database,
    generator: Generator,
    config: PipelineConfig,
    *,
    reviewers: list[ChatEndpoint] | None = None,
    out: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> PipelineResult:
    """Synchronous entry point (runs the event loop)."""
    pipeline = Pipeline(domain, database, generator, config, reviewers=reviewers, progress=progress)
    return aio.run(pipeline.run(out))
