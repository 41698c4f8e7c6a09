"""Templated task generation (no LLM): the generic sampling loop over a domain's scenario library.

The scenarios themselves live in the domain (``domain.scenarios``, a
:class:`~casework.domains.domain.ScenarioLibrary`, e.g. ``casework.domains.<name>.scenarios``);
this loop owns the randomness:

- each task is built from its own ``random.Random`` seeded by ``(seed, index, iteration)``, so the
  same seed gives the same bytes, a resumed run gives the same tasks as an uninterrupted one, and
  regenerating task ``index`` (``iteration`` > 0) gives a different sample;
- the scenario keys are drawn by weight (:func:`parse_weights`); with probability ``multi_intent``
  a task has two (rarely three) requests, never combining a key the library marks as solo (one
  that ends the conversation, which always goes last);
- a user is drawn from those the library says fit the first key, the library builds the ground
  truth on a fresh fork (raising :class:`~casework.domains.ScenarioSkip` to resample), and a
  draft outside ``[min_actions, max_actions]`` is resampled too.

A multi-intent task lists several keys in ``Task.scenario`` and carries
``metadata["multi_intent"] = True``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from casework.domains import Database, Domain, ScenarioDraft, ScenarioLibrary, ScenarioSkip, ToolKind
from casework.tasks.model import Action, Task
from casework.tasks.refusal import REFUSALS_KEY, Refusal, check_mode, ground

DEFAULT_MULTI_INTENT = 0.2
_MAX_ATTEMPTS = 200
_TRIES_PER_DRAW = 20


def scenario_library(domain: Domain) -> ScenarioLibrary:
    """The domain's scenario library; a clear :class:`ValueError` naming the domain when it has none."""
    if domain.scenarios is None:
        raise ValueError(
            f"domain {domain.name!r} has no templated scenarios (Domain.scenarios); "
            "use a generation method it supports or add a scenario library to the domain"
        )
    return domain.scenarios


def parse_weights(text: str | None, keys: Sequence[str]) -> dict[str, float]:
    """``"a=2,b=1"`` -> weights over ``keys``; keys not named get 0. None/"" -> equal weights."""
    if not text:
        return dict.fromkeys(keys, 1.0)
    weights = dict.fromkeys(keys, 0.0)
    for part in text.split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in weights:
            raise ValueError(f"unknown scenario {key!r}; known: {', '.join(keys)}")
        try:
            weights[key] = float(value) if value.strip() else 1.0
        except ValueError:
            raise ValueError(f"weight for {key!r} must be a number, got {value!r}") from None
        if weights[key] < 0:
            raise ValueError(f"weight for {key!r} must be >= 0")
    if not any(weights.values()):
        raise ValueError("at least one scenario needs a positive weight")
    return weights


def weighted_order(rng: random.Random, weights: Mapping[str, float]) -> list[str]:
    """All keys with positive weight, in a random order biased by weight (Efraimidis-Spirakis)."""
    keyed = [(rng.random() ** (1.0 / w), k) for k, w in weights.items() if w > 0]
    return [k for _, k in sorted(keyed, reverse=True)]


def rw_mix(domain: Domain, actions: Sequence[Action]) -> str:
    """``r2_w1`` (reads, writes), with ``_g1`` appended when generic tools (no state: a calculator, a hand-over) are used."""
    counts = {ToolKind.READ: 0, ToolKind.WRITE: 0, ToolKind.GENERIC: 0}
    for action in actions:
        kind = domain.tool_kind(action.name)  # the agent's tools, or the user's device tools
        if kind is not None:
            counts[kind] += 1
    mix = f"r{counts[ToolKind.READ]}_w{counts[ToolKind.WRITE]}"
    return mix + (f"_g{counts[ToolKind.GENERIC]}" if counts[ToolKind.GENERIC] else "")


def _draw_keys(
    rng: random.Random,
    weights: Mapping[str, float],
    multi_intent: float,
    solo: frozenset[str],
    intents: int | None = None,
) -> list[str]:
    order = weighted_order(rng, weights)
    if intents is not None and intents > 1:
        # a long-horizon task: distinct keys first, then repeats drawn by weight (never a solo key)
        pool = [k for k in order if k not in solo]
        if not pool:
            return order[:1]
        keys = pool[:intents]
        while len(keys) < intents:
            keys.append(rng.choices(pool, weights=[weights[k] for k in pool])[0])
        return keys
    count = 1
    if len(order) > 1 and rng.random() < multi_intent:
        count = 3 if len(order) > 2 and rng.random() < 0.2 else 2
    return order[:1] if count == 1 else [k for k in order if k not in solo][:count]


def build_templated_task(
    domain: Domain,
    database: Database,
    index: int,
    seed: int = 0,
    *,
    weights: Mapping[str, float] | None = None,
    multi_intent: float = DEFAULT_MULTI_INTENT,
    min_actions: int | None = None,
    max_actions: int | None = None,
    iteration: int = 0,
    scenario: str | list[str] | None = None,
    intents: int | None = None,
    refusals: str = "grounded",
) -> Task:
    """Task number ``index`` of the templated set for ``seed`` (``iteration`` > 0: a fresh resample).

    ``scenario`` forces the scenario key(s) instead of drawing them from ``weights``; ``intents``
    (long-horizon tasks) draws that many requests for every task (repeating keys when the library
    has fewer), and each task records its per-intent golden slices in ``metadata["intents"]``.
    Raises :class:`ValueError` when the domain has no scenario library and :class:`RuntimeError`
    when no fitting task can be sampled. ``refusals`` (:data:`casework.tasks.refusal.REFUSAL_MODES`):
    ``grounded`` makes a request the policy forbids need a refusal the judge can see (and a hand-over
    the transfer call), ``state-only`` only the unchanged state (τ-bench v1).
    """
    check_mode(refusals)
    library = scenario_library(domain)
    weights = dict(weights) if weights is not None else dict.fromkeys(library.keys, 1.0)
    solo = frozenset(library.solo_keys)
    rng = random.Random(f"casework/templated/{seed}/{index}/{iteration}")
    last_reason = "no attempt"
    keys: list[str] = []
    for attempt in range(_MAX_ATTEMPTS):
        if scenario is not None:
            keys = [scenario] if isinstance(scenario, str) else list(scenario)
        elif attempt % _TRIES_PER_DRAW == 0:
            # keep the drawn scenarios for a few users before redrawing, so that scenarios that
            # fit fewer users are not under-represented
            keys = _draw_keys(rng, weights, multi_intent, solo, intents)
        keys = sorted(keys, key=lambda k: k in solo)  # when forced: the solo key goes last
        eligible = library.users_for(database, keys[0])
        if not eligible:
            last_reason = f"no user fits {keys[0]}"
            continue
        user_id = rng.choice(eligible)
        try:
            draft = library.draft(domain, database.fork(), rng, user_id, keys)
        except ScenarioSkip as exc:
            last_reason = str(exc)
            continue
        n_actions = len(draft.actions)
        if (min_actions is not None and n_actions < min_actions) or (
            max_actions is not None and n_actions > max_actions
        ):
            last_reason = f"{n_actions} actions outside [{min_actions}, {max_actions}]"
            continue
        task = _assemble(domain, library, draft, rng, keys, index, seed, iteration)
        return ground(task, domain.arguments.transfer_tool, refusals)
    raise RuntimeError(f"could not sample templated task {index} (seed {seed}): {last_reason}")


def _assemble(
    domain: Domain,
    library: ScenarioLibrary,
    draft: ScenarioDraft,
    rng: random.Random,
    keys: list[str],
    index: int,
    seed: int,
    iteration: int,
) -> Task:
    instruction, persona = library.instruction(draft, rng)
    metadata: dict[str, Any] = {
        "generation_method": "templated",
        "seed": seed,
        "index": index,
        "iteration": iteration,
        "num_actions": len(draft.actions),
        "rw_mix": rw_mix(domain, draft.actions),
        "variants": draft.variants,
        "multi_intent": len(keys) > 1,
        **draft.metadata,
    }
    if draft.refusals:
        metadata[REFUSALS_KEY] = [Refusal.model_validate(r).model_dump() for r in draft.refusals]
    if len(keys) > 1 and len(draft.intent_ends) == len(keys):
        starts = [0, *draft.intent_ends[:-1]]
        # which golden actions belong to which request: [start, end) into ``actions`` (the
        # identification before the first request belongs to it), graded slice by slice
        metadata["intents"] = [
            {"key": key, "actions": [start, end], "outputs": []}
            for key, start, end in zip(keys, starts, draft.intent_ends, strict=True)
        ]
        # outputs are added request by request: each goes to the first request, not before the
        # previous output's, whose own observations hold it
        at = 0
        for j, output in enumerate(draft.outputs):
            for k in range(at, len(keys)):
                start, end = metadata["intents"][k]["actions"]
                if any(str(output).lower() in o.lower() for o in draft.observations[start:end]):
                    metadata["intents"][k]["outputs"].append(j)
                    at = k
                    break
    return Task(
        id=f"templated-{seed}-{index}",
        domain=domain.name,
        user_id=draft.user_id,
        instruction=instruction,
        actions=draft.actions,
        outputs=draft.outputs,
        persona=persona,
        scenario=keys[0] if len(keys) == 1 else keys,
        metadata=metadata,
        **draft.task_fields,
    )


def generate_templated(
    domain: Domain,
    database: Database,
    n: int,
    seed: int = 0,
    *,
    weights: Mapping[str, float] | None = None,
    multi_intent: float = DEFAULT_MULTI_INTENT,
    min_actions: int | None = None,
    max_actions: int | None = None,
    start: int = 0,
    intents: int | None = None,
    refusals: str = "grounded",
) -> list[Task]:
    """Tasks ``start .. start+n-1`` of the templated set for ``seed`` (see :func:`build_templated_task`)."""
    return [
        build_templated_task(
            domain,
            database,
            index,
            seed,
            weights=weights,
            multi_intent=multi_intent,
            min_actions=min_actions,
            max_actions=max_actions,
            intents=intents,
            refusals=refusals,
        )
        for index in range(start, start + n)
    ]


def task_json(task: Task) -> str:
    """Stable JSON of one task (used to check byte-identical output)."""
    return json.dumps(task.model_dump(mode="json", exclude_none=True), sort_keys=True)
