"""Why did it fail? ``casework review RUN_DIR``: attribute each failed simulation of a run.

Categories:

- ``infrastructure``: the endpoint failed (``infrastructure_error``), or the judge could not give a
  verdict (``judge_error``): the failure says nothing about the agent;
- ``task``: the ground truth does not replay (a golden action errors that the task does not expect to
  error), or the review found the instruction ambiguous;
- ``user_simulator``: the simulated user ended abnormally (``user_abnormal_end``); **contradicted**
  its facts (said a value of the same form as a fact it knows - an id, zip, email, phone number, an id
  of its instruction - that differs from it and that nobody said before, or "my name is X" with
  another name); revealed a fact (an id-like token) that neither its instruction nor the
  conversation before gave it; **ignored the agent** (the agent asked, twice in a row, for a fact
  the user knows - an identity, or an askable fact of the domain's user model that its instruction
  holds - and the user's reply neither gave it nor said they do not know); **stopped early** (the
  user ended the conversation while golden writes or the hand-over were still undone, and the
  agent's last message neither refused, nor said it was done, nor asked whether there was anything
  else); or (the review says) one of these in a way the checks cannot see;
- ``agent``: none of the above.

Deterministic checks run first, in that order; the first category with a finding wins (the check
that found it is the verdict's ``check``). When none
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

from casework.domains import Database, Domain
from casework.scoring.errors import is_infrastructure_error
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
    #: the deterministic check that found the cause (None: the judge's or the default verdict)
    check: str | None = None
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


_REFUSES = re.compile(
    r"\b(cannot|can't|can not|unable|not able|not allowed|not possible|unfortunately|not eligible|"
    r"policy|transfer\w*|human agent)\b",
    re.I,
)
_SAYS_DONE = re.compile(
    r"\b(has been|have been|is now|are now|successfully|completed?|all set|anything else)\b", re.I
)
_DONT_KNOW = re.compile(
    r"\b(?:don't|do not|dont|can't|cannot) (?:know|remember|recall|find|have)\b|\bnot sure\b|\bno idea\b|"
    r"\bforgot\b",
    re.I,
)
_SAID_NAME = re.compile(r"\b(?i:my (?:full )?name is) ([A-Z][\w'-]*(?: [A-Z][\w'-]*){0,3})")


def _shape(token: str) -> str:
    """The form of a fact's value: ``99999`` for a zip, ``999-999-9999`` for a phone, ``email``."""
    text = _norm(token)
    if "@" in text:
        return "email"
    return re.sub(r"[a-z]", "a", re.sub(r"\d", "9", text))


def _known_facts(domain: Domain, state: Any, task: Task) -> dict[str, str]:
    """label -> value of every fact the user knows: its identities and details (the domain's user
    model, from the database record of the task's user) and the ids of its instruction."""
    facts = domain.users.facts_for(state, task.user_id)
    known: dict[str, str] = {}
    for identity in facts.identities:
        for field_name, value in identity.values.items():
            known.setdefault(field_name.replace("_", " "), str(value))
    for key, value in facts.details.items():
        known.setdefault(key.replace("_", " "), str(value))
    for token in _tokens(task.instruction):
        known.setdefault(f"id {token.strip()}", token.strip())
    return known


def contradicted_facts(
    domain: Domain, state: Any, task: Task, messages: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Values the user said that take the form of a fact it knows but differ from every such fact
    (and that nobody said before), and "my name is X" with another name than its own."""
    known = _known_facts(domain, state, task)
    values = {_norm(v) for v in known.values()}
    shapes: dict[str, list[tuple[str, str]]] = {}
    for label, value in known.items():
        if _tokens(value) or "@" in value:  # only id-like facts have a form to compare
            shapes.setdefault(_shape(value), []).append((label, value))
    names = [v for k, v in known.items() if k in ("name", "full name")]
    seen_text = task.instruction.lower()
    found: list[str] = []
    for message in messages:
        content = str(message.get("content") or "")
        if message.get("role") == "user":
            for token in _tokens(content):
                norm = _norm(token)
                if norm in values or norm in seen_text:
                    continue
                same_form = shapes.get(_shape(token))
                if same_form:
                    label, value = same_form[0]
                    found.append(
                        f"the user said {token.strip()} where its {label.removeprefix('id ')} is {value}"
                    )
            for said in _SAID_NAME.findall(content):
                if names and not any(said.lower() in n.lower() or n.lower() in said.lower() for n in names):
                    found.append(f"the user said its name is {said} where it is {names[0]}")
        seen_text += "\n" + content.lower()
        for call in message.get("tool_calls") or []:
            seen_text += "\n" + json.dumps(call).lower()
    return list(dict.fromkeys(found))


def _question(text: str) -> bool:
    return (
        "?" in text
        or re.search(r"\b(please|could you|can you|tell me|provide|share)\b", text, re.I) is not None
    )


def ignored_agent(
    domain: Domain, state: Any, task: Task, messages: Sequence[Mapping[str, Any]], *, turns: int = 2
) -> list[str]:
    """The agent asked ``turns`` times in a row for a fact the user knows (an identity; an askable
    fact of the domain's user model whose value or mention its instruction holds) and each reply
    neither gave it nor said the user does not know."""
    facts = domain.users.facts_for(state, task.user_id)
    identity_values = [str(v).lower() for i in facts.identities for v in i.values.values()]
    instruction = task.instruction
    instruction_ids = _tokens(instruction)

    def asked(text: str) -> list[tuple[str, Any]]:
        wanted: list[tuple[str, Any]] = []
        for identity in facts.identities:
            if identity.asked_in(text):
                wanted.append(("identity", identity))
        for askable in domain.users.askable:
            if not askable.asked_in(text):
                continue
            prefixes = [domain.arguments.id_prefixes.get(f, "") for f in askable.fields]
            if any(p and any(t.strip().startswith(p) for t in instruction_ids) for p in prefixes):
                wanted.append(("id", askable))
            elif askable.mentions and re.search(askable.mentions, instruction, re.I):
                wanted.append(("mention", askable))
        return wanted

    def answered(kind: str, what: Any, reply: str) -> bool:
        if kind == "identity":
            return any(v and v in reply.lower() for v in identity_values)
        if kind == "id":
            return bool(_tokens(reply))
        return re.search(what.mentions, reply, re.I) is not None

    streak: list[str] = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or not message.get("content"):
            continue
        text = str(message["content"])
        reply = next((m for m in messages[index + 1 :] if m.get("role") in ("user", "assistant")), None)
        if reply is None or reply.get("role") != "user":
            continue
        wanted = asked(text) if _question(text) else []
        if not wanted:
            streak = []
            continue
        said = str(reply.get("content") or "")
        if _DONT_KNOW.search(said) or any(answered(kind, what, said) for kind, what in wanted):
            streak = []
            continue
        labels = sorted({what.label if kind != "identity" else "identification" for kind, what in wanted})
        streak.append(f"asked for the {', '.join(labels)} (message {index}); the user replied {said[:80]!r}")
        if len(streak) >= turns:
            return streak
    return []


def stopped_early(domain: Domain, task: Task, result: Mapping[str, Any]) -> list[str]:
    """The user ended the conversation (``user_stop``) while golden writes or the hand-over were not
    done, and the agent's last message asked the user something (a question, a confirmation) without
    refusing, saying it was done or asking whether there was anything else: the agent was still at
    work and waiting for the user. (An agent that reported an error and stopped is not waiting.)"""
    from casework.domains import ToolKind
    from casework.scoring.tau3 import action_matches
    from casework.sim.types import Termination

    if result.get("termination_reason") != Termination.USER_STOP:
        return []
    transfer = domain.arguments.transfer_tool
    calls = [
        (str(c.get("name")), c.get("arguments") if isinstance(c.get("arguments"), Mapping) else {})
        for c in result.get("tool_calls") or []
        if isinstance(c, Mapping) and c.get("requestor", "assistant") == "assistant"
    ]
    if transfer is not None and any(name == transfer for name, _ in calls):
        return []
    undone = [
        a
        for a in task.actions
        if a.requestor == "assistant"
        and (domain.tool_kind(a.name) == ToolKind.WRITE or a.name == transfer)
        and not any(action_matches(a.name, a.arguments, a.compare_args, n, args) for n, args in calls)
    ]
    if not undone:
        return []
    said = [
        str(m.get("content") or "")
        for m in result.get("messages") or []
        if isinstance(m, Mapping) and m.get("role") == "assistant" and m.get("content")
    ]
    last = said[-1] if said else ""
    if not _question(last) or _REFUSES.search(last) or _SAYS_DONE.search(last):
        return []  # the agent was not waiting for the user's answer (it reported, refused, or was done)
    names = ", ".join(a.name for a in undone)
    return [
        f"the user ended the conversation with {len(undone)} expected action(s) not done ({names}) "
        f"while the agent was still at work: {last[:100]!r}"
    ]


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
    start = fresh_state(domain, database, task)
    contradicted = contradicted_facts(domain, start, task, messages)
    if contradicted:
        return "user_simulator", [f"contradicted the instruction: {c}" for c in contradicted[:5]]
    revealed = revealed_facts(task.instruction, messages)
    if revealed:
        return "user_simulator", [
            f"the user said {', '.join(revealed[:5])}, which its instruction does not hold"
        ]
    ignored = ignored_agent(domain, start, task, messages)
    if ignored:
        return "user_simulator", [f"ignored the agent: {i}" for i in ignored]
    early = stopped_early(domain, task, result)
    if early:
        return "user_simulator", [f"stopped early: {e}" for e in early]
    return None


#: the deterministic check a reason comes from (by its opening words)
CHECKS = (
    ("termination", "infrastructure_error"),
    ("the judge gave no verdict", "judge_error"),
    ("golden action", "golden_replay"),
    ("the task's initial state", "initial_state"),
    ("the run's task file", "task_missing"),
    ("the user simulator ended abnormally", "abnormal_end"),
    ("contradicted the instruction", "contradicted_instruction"),
    ("the user said", "revealed_fact"),
    ("ignored the agent", "ignored_agent"),
    ("stopped early", "stopped_early"),
)


def check_name(reasons: Sequence[str]) -> str | None:
    first = reasons[0] if reasons else ""
    return next((name for prefix, name in CHECKS if first.startswith(prefix)), None)


async def review_run(
    run_dir: Path, *, judge_llm: Any = None, tasks_path: Path | None = None
) -> tuple[list[Attribution], dict[str, Any]]:
    """Attribute every failed simulation of ``run_dir``; writes ``review.jsonl`` and ``review.json``."""
    from casework.jsontext import extract_json
    from casework.runs.judge import render_conversation
    from casework.runs.records import read_records
    from casework.runs.regrade import open_finished_run

    run_dir = Path(run_dir)
    finished = open_finished_run(run_dir, tasks_path)
    domain, database, tasks = finished.domain, finished.database, finished.tasks
    records = [r.to_line() for r in read_records(run_dir)]
    verdicts: list[Attribution] = []
    for result in records:
        if result.get("success"):
            continue
        task = tasks.get(str(result.get("task_id")))
        found = deterministic(domain, database, task, result)
        base = {"task_id": str(result.get("task_id")), "trial": int(result.get("trial", 0))}
        if found is not None:
            verdicts.append(
                Attribution(
                    **base,
                    category=found[0],
                    source="deterministic",
                    check=check_name(found[1]),
                    reasons=found[1],
                )
            )
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
        "by_check": dict(Counter(v.check for v in verdicts if v.check)),
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
