"""Perturbed variants of tasks, to measure whether an agent's verdict survives rephrasing.

Each variant keeps its base task's golden actions and outputs and changes only the user's
instruction, in one way (a *kind*):

- ``typos``: letters swapped, dropped or doubled in a few words (``rate`` of the eligible words);
- ``shuffle``: the instruction's sentences in another order;
- ``verbosity``: a longer opener or closing with background that changes nothing, or a terser text
  without the sentences that carry no fact;
- ``politeness``: the user is told to be very polite, or curt;
- ``distractor``: one irrelevant sentence inserted;
- ``id-format``: ids written differently (without the domain's id prefix, lower case, or spelled
  "number X"), from the domain's ``ArgumentRules.id_prefixes``;
- ``paraphrase``: a model rewrites the whole instruction (the ``user`` or a ``perturber`` role).

The *facts* of an instruction (every id, name, number and golden argument value it states, and the
user's identification values from the domain) are never touched by the deterministic kinds, and a
paraphrase is kept only when every fact is still present (else it is retried, then dropped with a
reason). A variant is linked to its base with ``metadata.base_task_id`` and
``metadata.perturbation``; its id is ``BASE~KIND~N``. The same seed gives the same variants.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.domains import Database, Domain
from casework.tasks.model import Task

KINDS = ("paraphrase", "typos", "shuffle", "verbosity", "politeness", "distractor", "id-format")
DETERMINISTIC = tuple(k for k in KINDS if k != "paraphrase")

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_NUMBER = re.compile(r"\d[\d,.:%/-]*\d|\d")
_WORD = re.compile(r"[A-Za-z]{4,}")
#: a sentence that asks for something (kept by the terse ``verbosity`` variant)
_REQUEST = re.compile(r"\b(want|would like|need|ask|request|prefer|if\b)", re.I)

VERBOSE_OPENERS = (
    "You have been a loyal customer for several years and usually everything works fine.",
    "You are writing during a short break at work, so you want to sort this out today.",
    "A friend recommended contacting support directly instead of waiting.",
)
VERBOSE_CLOSINGS = (
    "You mention that you appreciate the help, since this has been on your mind all week.",
    "You add that you have always found the service helpful in the past.",
    "You explain that you would rather solve this now than have to call back later.",
)
POLITE = (
    "You are extremely polite: you greet the agent warmly, say please and thank them at every step.",
    "You apologise for the trouble and thank the agent for their patience.",
)
CURT = (
    "You are curt and impatient: you use as few words as possible and skip greetings.",
    "You are irritated and a little rude, but you still answer the agent's questions.",
)
DISTRACTORS = (
    "The weather where you live has been unusually rainy this week.",
    "You are also thinking about repainting your kitchen next month.",
    "Your neighbour just adopted a very loud puppy.",
    "You recently started learning to play the guitar.",
    "You had pancakes for breakfast this morning.",
)
PARAPHRASE_PROMPT = """Rewrite the following instructions for a simulated customer in different words.
Keep the second person ("You ..."). Keep every fact exactly as written, character for character:
these must all appear unchanged in your text: {facts}.
Do not add or remove requests, conditions or facts. Reply with the rewritten instructions only.

Instructions: {instruction}"""


@dataclass
class PerturbationResult:
    tasks: list[Task]  # base tasks, then their variants
    variants: int = 0
    #: (base task id, kind) -> why no (or fewer) variants were made
    skipped: dict[str, str] = field(default_factory=dict)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float | str):
        text = str(value).strip()
        if len(text) >= 2:
            yield text


def facts_of(task: Task, domain: Domain | None = None, database: Database | None = None) -> list[str]:
    """The facts an instruction states: golden argument values, outputs, the user's identification
    values and details (from the domain), and every number, that appear in it (longest first)."""
    text = task.instruction
    lower = text.lower()
    found: set[str] = set()
    candidates: list[str] = [v for a in task.actions for v in _leaves(a.arguments)]
    candidates += [str(o) for o in task.outputs]
    if domain is not None and database is not None and task.user_id is not None:
        facts = domain.users.facts_for(database.fork(), task.user_id)
        for identity in facts.identities:
            candidates += [str(v) for v in identity.values.values()]
        candidates += [str(v) for v in facts.details.values()]
    for value in candidates:
        start = lower.find(value.lower())
        if value and start >= 0:
            found.add(text[start : start + len(value)])
    found.update(m.group(0) for m in _NUMBER.finditer(text))
    for prefix in set(domain.arguments.id_prefixes.values()) if domain is not None else ():
        found.update(m.group(0) for m in re.finditer(re.escape(prefix) + r"\w+", text))
    return sorted(found, key=lambda f: (-len(f), f))


def missing_facts(text: str, facts: Sequence[str]) -> list[str]:
    lower = text.lower()
    return [f for f in facts if f.lower() not in lower]


def _protected_spans(text: str, facts: Sequence[str]) -> list[tuple[int, int]]:
    spans = []
    lower = text.lower()
    for fact in facts:
        start = lower.find(fact.lower())
        while start >= 0:
            spans.append((start, start + len(fact)))
            start = lower.find(fact.lower(), start + 1)
    return spans


def typos(text: str, facts: Sequence[str], rng: random.Random, rate: float = 0.08) -> str:
    """Misspell about ``rate`` of the words of 4+ letters that are not part of a fact (at least one)."""
    spans = _protected_spans(text, facts)
    words = [
        m
        for m in _WORD.finditer(text)
        if not any(m.start() < end and start < m.end() for start, end in spans)
    ]
    if not words:
        return text
    count = max(1, round(rate * len(words)))
    chosen = sorted(rng.sample(words, min(count, len(words))), key=lambda m: m.start(), reverse=True)
    for m in chosen:
        word = m.group(0)
        i = rng.randrange(1, len(word) - 2)
        edit = rng.choice(("swap", "drop", "double"))
        if edit == "swap" and word[i] != word[i + 1]:
            new = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif edit == "drop":
            new = word[:i] + word[i + 1 :]
        else:
            new = word[:i] + word[i] + word[i:]
        text = text[: m.start()] + new + text[m.end() :]
    return text


def shuffle(text: str, rng: random.Random) -> str | None:
    parts = sentences(text)
    if len(parts) < 2:
        return None
    for _ in range(10):
        order = parts[:]
        rng.shuffle(order)
        if order != parts:
            return " ".join(order)
    return None


def verbosity(text: str, facts: Sequence[str], rng: random.Random, variant: int) -> str | None:
    mode = variant % 3
    if mode == 0:
        return f"{rng.choice(VERBOSE_OPENERS)} {text}"
    if mode == 1:
        return f"{text} {rng.choice(VERBOSE_CLOSINGS)}"
    parts = sentences(text)
    kept = [s for s in parts if _protected_spans(s, facts) or _REQUEST.search(s)]
    if not kept or len(kept) == len(parts):
        return None
    return " ".join(kept)


def politeness(text: str, rng: random.Random, variant: int) -> str:
    style = (POLITE if variant % 2 == 0 else CURT)[(variant // 2) % 2]
    return f"{text} {style}"


def distractor(text: str, rng: random.Random) -> str:
    parts = sentences(text)
    parts.insert(rng.randrange(1, len(parts) + 1) if parts else 0, rng.choice(DISTRACTORS))
    return " ".join(parts)


def id_format(text: str, domain: Domain, variant: int) -> str | None:
    """Ids written without the domain's prefix (``#T1`` -> ``T1``), lower-cased, or as "number T1"."""
    prefixes = sorted(set(domain.arguments.id_prefixes.values()), key=len, reverse=True)
    changed = text
    for prefix in prefixes:
        pattern = re.compile(re.escape(prefix) + r"(\w+)")
        if variant % 3 == 0:
            changed = pattern.sub(lambda m: m.group(1), changed)
        elif variant % 3 == 1:
            changed = pattern.sub(lambda m: m.group(1).lower(), changed)
        else:
            changed = pattern.sub(lambda m: f"number {m.group(1)}", changed)
    return changed if changed != text else None


def _variant(base: Task, kind: str, number: int, instruction: str) -> Task:
    metadata = {
        **base.metadata,
        "base_task_id": base.id,
        "perturbation": kind,
        "perturbation_variant": number,
    }
    return base.model_copy(
        update={"id": f"{base.id}~{kind}~{number}", "instruction": instruction, "metadata": metadata},
        deep=True,
    )


def perturb_task(
    task: Task,
    kind: str,
    variants: int,
    *,
    seed: int,
    domain: Domain,
    database: Database | None = None,
    typo_rate: float = 0.08,
) -> tuple[list[Task], str | None]:
    """Up to ``variants`` deterministic variants of one kind; (variants, why fewer when fewer)."""
    if kind not in DETERMINISTIC:
        raise ValueError(
            f"unknown deterministic perturbation {kind!r}; expected one of {', '.join(DETERMINISTIC)}"
        )
    facts = facts_of(task, domain, database)
    made: list[Task] = []
    seen = {task.instruction}
    for number in range(variants * 3):
        if len(made) == variants:
            break
        rng = random.Random(f"casework/perturb/{seed}/{task.id}/{kind}/{number}")
        text = task.instruction
        if kind == "typos":
            new = typos(text, facts, rng, typo_rate)
        elif kind == "shuffle":
            new = shuffle(text, rng)
        elif kind == "verbosity":
            new = verbosity(text, facts, rng, number)
        elif kind == "politeness":
            new = politeness(text, rng, number)
        elif kind == "distractor":
            new = distractor(text, rng)
        else:
            new = id_format(text, domain, number)
        if new is None or new in seen:
            continue
        if kind != "id-format" and missing_facts(new, facts):
            continue  # never drop a fact (id-format rewrites ids on purpose)
        seen.add(new)
        made.append(_variant(task, kind, len(made) + 1, new))
    reason = None if len(made) == variants else f"{kind}: only {len(made)} distinct variant(s) possible"
    return made, reason


async def paraphrase_task(
    task: Task,
    variants: int,
    llm: Any,
    *,
    domain: Domain,
    database: Database | None = None,
    attempts: int = 3,
) -> tuple[list[Task], str | None]:
    """Up to ``variants`` model paraphrases that keep every fact; (variants, why fewer)."""
    facts = facts_of(task, domain, database)
    made: list[Task] = []
    seen = {task.instruction}
    last = "no attempt"
    for number in range(variants * attempts):
        if len(made) == variants:
            break
        prompt = PARAPHRASE_PROMPT.format(facts="; ".join(facts) or "(none)", instruction=task.instruction)
        completion = await llm.chat([{"role": "user", "content": prompt}], temperature=0.7, seed=number)
        text = (completion.content or "").strip().strip('"')
        if not text or text in seen:
            last = "the model repeated itself"
            continue
        lost = missing_facts(text, facts)
        if lost:
            last = f"the paraphrase lost {', '.join(lost[:3])}"
            continue
        seen.add(text)
        made.append(_variant(task, "paraphrase", len(made) + 1, text))
    return made, None if len(made) == variants else f"paraphrase: {len(made)}/{variants} kept ({last})"


def perturb_tasks(
    tasks: Sequence[Task],
    kinds: Sequence[str],
    variants: int,
    *,
    seed: int,
    domain: Domain,
    database: Database | None = None,
    paraphrases: dict[str, tuple[list[Task], str | None]] | None = None,
    typo_rate: float = 0.08,
) -> PerturbationResult:
    """Base tasks followed by each base task's variants, kind by kind (in ``kinds`` order).

    ``paraphrases`` holds the already-made paraphrase variants by base task id (they need a model:
    see :func:`paraphrase_task`)."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown perturbation kind(s) {', '.join(unknown)}; expected: {', '.join(KINDS)}")
    bases = [t for t in tasks if "base_task_id" not in t.metadata]
    result = PerturbationResult(tasks=list(bases))
    for task in bases:
        for kind in kinds:
            if kind == "paraphrase":
                made, reason = (paraphrases or {}).get(task.id, ([], "paraphrase: no model"))
            else:
                made, reason = perturb_task(
                    task, kind, variants, seed=seed, domain=domain, database=database, typo_rate=typo_rate
                )
            result.tasks.extend(made)
            result.variants += len(made)
            if reason:
                result.skipped[f"{task.id} {kind}"] = reason
    return result
