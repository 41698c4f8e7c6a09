"""Why did it fail? ``casework review RUN_DIR``: attribute each failed simulation of a run.

Categories:

- ``infrastructure``: the endpoint failed (``infrastructure_error``), or the judge could not give a
  verdict (``judge_error``): the failure says nothing about the agent;
- ``task``: the ground truth does not replay (a golden action errors that the task does not expect to
  error), or the review found the instruction ambiguous;
- ``user_simulator``: the simulated user ended abnormally (``user_abnormal_end``), revealed a fact
  (an id-like token) that neither its instruction nor the conversation before gave it, or (the
  review says) contradicted its instruction, stopped early or ignored the agent;
- ``agent``: none of the above.

Deterministic checks run first, in that order; the first category with a finding wins. When none
finds anything and a judge is given, the judge reads the instruction, the conversation and the
grading and names the category (``source: judge``); without a judge the failure is the agent's
(``source: default``). The verdicts go to ``RUN_DIR/review.jsonl`` (one line per failed simulation)
and ``RUN_DIR/review.json`` (counts, and the pass rate with user-simulator failures removed).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from casework.domains import Database, Domain, get_domain
from casework.domains.registry import DEFAULT_DOMAIN
from casework.scoring.errors import is_infrastructure_error
from casework.tasks import load_tasks
from casework.tasks.model import Task
from casework.tasks.replay import is_error

REVIEW_FILE = "review.jsonl"
REVIEW_SUMMARY = "review.json"
CATEGORIES = ("agent", "user_simulator", "task", "infrastructure")

REVIEW_PROMPT = """A customer-service simulation failed. A simulated customer (the user) followed an \
instruction; an agent served them. Decide who caused the failure:
- "agent": the agent made a mistake (wrong action, missing action, wrong answer, broke the policy);
- "user_simulator": the simulated user did not follow its instruction (said facts it was not given, \
contradicted the instruction, stopped early, ignored the agent's questions);
- "task": the instruction is ambiguous or its expected outcome is wrong.

Instruction given to the user:
{instruction}

Expected actions: {expected}

Conversation:
{conversation}

Grading: {grading}

Answer with one JSON object and nothing else:
{{"category": "agent" or "user_simulator" or "task", "reasoning": "<one sentence>"}}"""

#: an id-like token: an email, or a word of 4+ characters with a digit (with the punctuation that
#: may lead an id, e.g. a ``#``)
_ID_TOKEN = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b|[^\s\w,.;:!?()'\"]?\b\w*\d[\w-]*\b")


class Attribution(BaseModel):
    task_id: str
    trial: int = 0
    category: str
    source: str  # deterministic | judge | default
    reasons: list[str] = Field(default_factory=list)
    judge_reasoning: str | None = None


def _tokens(text: str) -> list[str]:
    return [t for t in _ID_TOKEN.findall(text) if len(t.strip("#$%&*+-/=@^_~")) >= 4]


def _norm(text: str) -> str:
    return re.sub(r"^\W+", "", text.lower())


def revealed_facts(instruction: str, messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """Id-like tokens the user said that neither its instruction nor an earlier message held
    (compared without a leading prefix such as ``#``, so ``A123`` and ``#A123`` are the same)."""
    known = {_norm(t) for t in _tokens(instruction)}
    seen_text = instruction.lower()
    found: list[str] = []
    for message in messages:
        content = str(message.get("content") or "")
        if message.get("role") == "user":
            for token in _tokens(content):
                if _norm(token) not in known and _norm(token) not in seen_text and token not in found:
                    found.append(token)
        seen_text += "\n" + content.lower()
        for call in message.get("tool_calls") or []:
            seen_text += "\n" + json.dumps(call).lower()
    return found


def deterministic(
    domain: Domain, database: Database, task: Task | None, result: Mapping[str, Any]
) -> tuple[str, list[str]] | None:
    """(category, reasons) from the checks that need no model, or None when none found a cause."""
    reason = result.get("termination_reason")
    if is_infrastructure_error(reason):
        return "infrastructure", [f"termination {reason}: {str(result.get('error') or '')[:200]}"]
    components = result.get("components") or {}
    judged = [n for n, c in components.items() if isinstance(c, Mapping) and c.get("status") == "judge_error"]
    if judged:
        return "infrastructure", [f"the judge gave no verdict for {', '.join(judged)}"]
    if task is None:
        return "task", ["the run's task file no longer holds this task"]
    from casework.runs.grading import call_tool, fresh_state

    expected_errors = set(task.metadata.get("expected_errors") or [])
    try:
        state = fresh_state(domain, database, task)
    except Exception as exc:  # an initial state that does not apply is the task's fault
        return "task", [f"the task's initial state does not apply: {exc}"]
    replay_errors = []
    for i, action in enumerate(task.actions):
        observation = call_tool(domain, state, action.name, action.arguments, action.requestor)
        if is_error(observation) and i not in expected_errors:
            replay_errors.append(f"golden action {i} {action.name} errors: {observation[:120]}")
    if replay_errors:
        return "task", replay_errors
    messages = [m for m in result.get("messages") or [] if isinstance(m, Mapping)]
    if result.get("user_abnormal_end"):
        return "user_simulator", [f"the user simulator ended abnormally: {result['user_abnormal_end']}"]
    revealed = revealed_facts(task.instruction, messages)
    if revealed:
        return "user_simulator", [
            f"the user said {', '.join(revealed[:5])}, which its instruction does not hold"
        ]
    return None


async def review_run(
    run_dir: Path, *, judge_llm: Any = None, tasks_path: Path | None = None
) -> tuple[list[Attribution], dict[str, Any]]:
    """Attribute every failed simulation of ``run_dir``; writes ``review.jsonl`` and ``review.json``."""
    from casework.jsontext import extract_json
    from casework.runs.judge import render_conversation
    from casework.runs.records import read_records
    from casework.runs.store import RunDirError, read_manifest

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise RunDirError(f"{run_dir}: no manifest.json: pass a directory written by `casework run`")
    config = manifest.get("config") or {}
    domain = get_domain(config.get("domain") or DEFAULT_DOMAIN)
    database = domain.database(Path(config["data"]) if config.get("data") else None)
    source = Path(tasks_path) if tasks_path is not None else Path(config["tasks"])
    if not source.exists():
        raise RunDirError(f"{source}: task file not found (pass --tasks FILE)")
    tasks = {t.id: t for t in load_tasks(source, domain=config.get("domain"))}
    records = [r.to_line() for r in read_records(run_dir)]
    verdicts: list[Attribution] = []
    for result in records:
        if result.get("success"):
            continue
        task = tasks.get(str(result.get("task_id")))
        found = deterministic(domain, database, task, result)
        base = {"task_id": str(result.get("task_id")), "trial": int(result.get("trial", 0))}
        if found is not None:
            verdicts.append(Attribution(**base, category=found[0], source="deterministic", reasons=found[1]))
            continue
        if judge_llm is None or task is None:
            verdicts.append(
                Attribution(**base, category="agent", source="default", reasons=["no other cause found"])
            )
            continue
        grading = {
            k: (v.get("reward"), v.get("note")) if isinstance(v, Mapping) else v
            for k, v in (result.get("components") or {}).items()
            if k in ("DB", "COMMUNICATE", "ACTION", "NL_ASSERTION", "ENV_ASSERTION")
        }
        prompt = REVIEW_PROMPT.format(
            instruction=task.instruction,
            expected="; ".join(str(a) for a in task.actions) or "none",
            conversation=render_conversation(list(result.get("messages") or []))[-6000:],
            grading=json.dumps(grading, default=str)[:800],
        )
        category, reasoning = "agent", None
        try:
            reply = await judge_llm.chat(
                [{"role": "user", "content": prompt}], role="judge", max_tokens=160, temperature=0.0
            )
            data = extract_json(reply.content)
            if isinstance(data, Mapping) and data.get("category") in ("agent", "user_simulator", "task"):
                category, reasoning = str(data["category"]), str(data.get("reasoning") or "")
                source = "judge"
            else:
                source, reasoning = (
                    "default",
                    f"the judge's answer named no category: {str(reply.content)[:200]}",
                )
        except Exception as exc:  # the judge failing leaves the deterministic default
            source, reasoning = "default", f"the judge failed: {exc}"[:300]
        verdicts.append(
            Attribution(**base, category=category, source=source, reasons=[], judge_reasoning=reasoning)
        )
    summary = review_summary(records, verdicts)
    with (run_dir / REVIEW_FILE).open("w", encoding="utf-8") as handle:
        for verdict in verdicts:
            handle.write(verdict.model_dump_json() + "\n")
    (run_dir / REVIEW_SUMMARY).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return verdicts, summary


def review_summary(records: Sequence[Mapping[str, Any]], verdicts: Sequence[Attribution]) -> dict[str, Any]:
    """Counts by category and source, and the pass rate with the user simulator's failures (and
    also the infrastructure's) removed from the denominator."""
    counts = Counter(v.category for v in verdicts)
    total = len(records)
    passed = sum(1 for r in records if r.get("success"))
    kept = total - counts["user_simulator"]
    clean = kept - counts["infrastructure"]
    return {
        "simulations": total,
        "failures": len(verdicts),
        "by_category": {c: counts[c] for c in CATEGORIES},
        "by_source": dict(Counter(v.source for v in verdicts)),
        "pass_rate": passed / total if total else None,
        "pass_rate_without_user_simulator_errors": passed / kept if kept else None,
        "pass_rate_without_user_simulator_or_infrastructure_errors": passed / clean if clean else None,
    }


def read_review(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The saved review of a run (empty when it has none)."""
    path = Path(run_dir) / REVIEW_FILE
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    summary_path = Path(run_dir) / REVIEW_SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else None
    return rows, summary
