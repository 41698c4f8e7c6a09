"""The generation methods and what each needs from a domain.

- ``templated``: the domain's scenario library (``Domain.scenarios``), no model;
- ``direct`` and ``agentflow``: the domain's LLM-generation hooks (``Domain.llm_generation``) and a
  model endpoint;
- ``safety``: the domain's safety probes (``Domain.safety``, :mod:`casework.generate.safety`), no model.

:func:`method_weights` parses ``--scenarios`` against the keys the method can sample, and says
clearly (naming the domain) when the domain does not support the method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casework.domains import Database, Domain

METHODS: tuple[str, ...] = ("templated", "direct", "agentflow", "safety")
LLM_METHODS: tuple[str, ...] = ("direct", "agentflow")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown --method {method!r}; use {', '.join(METHODS)}")


def supports(domain: Domain, method: str) -> bool:
    """Whether ``domain`` has what ``method`` needs."""
    if method == "templated":
        return domain.scenarios is not None
    if method == "safety":
        return domain.safety is not None
    return domain.llm_generation is not None


def scenario_keys(domain: Domain, method: str) -> tuple[str, ...]:
    """The scenario keys ``method`` can sample for ``domain`` (ValueError naming the domain if none)."""
    check_method(method)
    if method == "templated":
        from casework.generate.templated import scenario_library

        return tuple(scenario_library(domain).keys)
    if method == "safety":
        from casework.generate.safety import categories

        return tuple(categories(domain))
    from casework.generate.context import llm_hooks

    return tuple(llm_hooks(domain, method).keys)


def method_weights(domain: Domain, method: str, text: str | None) -> dict[str, float]:
    """``--scenarios k=w,...`` for ``method`` on ``domain`` (equal weights when ``text`` is empty)."""
    from casework.generate.templated import parse_weights

    return parse_weights(text, scenario_keys(domain, method))


def comparable_methods(domain: Domain, *, model_available: bool) -> list[str]:
    """The methods ``generate compare`` runs by default: every method the domain supports, the LLM
    ones only when a model is available."""
    return [
        m for m in METHODS if m != "safety" and supports(domain, m) and (m == "templated" or model_available)
    ]


def compare_plan(
    domain: Domain,
    methods: str | None,
    seeds: str | None,
    seed: int,
    *,
    model_available: bool,
) -> tuple[list[tuple[str, int]], str | None]:
    """The (method, seed) runs of ``generate compare`` and a note on what was chosen.

    ``methods`` None: every method the domain supports (:func:`comparable_methods`); ``seeds``
    compares seeds of the first method. With a single method and no seeds, two seeds of it are
    compared (a method against itself on one seed would show nothing).
    """
    note = None
    if methods is None:
        names = comparable_methods(domain, model_available=model_available)
        if not names:
            raise ValueError(f"domain {domain.name!r} supports no generation method")
        note = f"comparing {', '.join(names)}" + (
            "" if model_available else " (direct and agentflow need --model, --base-url or --models)"
        )
    else:
        names = [m.strip() for m in methods.split(",") if m.strip()]
    for name in names:
        check_method(name)
    if seeds:
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--seeds must be integers separated by commas, got {seeds!r}") from None
        return [(names[0], s) for s in seed_list], note
    if len(set(names)) == 1:
        single = f"one method ({names[0]}): comparing seeds {seed} and {seed + 1}"
        note = f"{note}; {single}" if note else single
        return [(names[0], seed), (names[0], seed + 1)], note
    return [(m, seed) for m in names], note


def make_generator(
    method: str,
    domain: Domain,
    database: Database,
    client: Any = None,
    *,
    seed: int = 0,
    weights: dict[str, float] | None = None,
    multi_intent: float = 0.2,
    min_actions: int | None = None,
    max_actions: int | None = None,
    agentflow_turns: int = 6,
    intents: int | None = None,
    refusals: str = "grounded",
) -> Any:
    """The pipeline generator of ``method`` (``client``: the model of the LLM methods; ``intents``:
    long-horizon templated tasks with that many requests each)."""
    check_method(method)
    if method == "safety":
        from casework.generate.safety import SafetyGenerator

        return SafetyGenerator(domain, database, seed=seed)
    if method == "direct":
        from casework.generate.direct import DirectGenerator

        return DirectGenerator(domain, database, client, seed=seed, weights=weights)
    if method == "agentflow":
        from casework.generate.agentflow import AgentFlowGenerator

        return AgentFlowGenerator(
            domain, database, client, seed=seed, weights=weights, max_turns=agentflow_turns
        )
    from casework.generate.pipeline import TemplatedGenerator

    return TemplatedGenerator(
        domain,
        database,
        seed=seed,
        weights=weights,
        multi_intent=multi_intent,
        min_actions=min_actions,
        max_actions=max_actions,
        intents=intents,
        refusals=refusals,
    )


def worker_pipeline(client: Any, reviewers: list[Any], *, settings: dict[str, Any]) -> Any:
    """The pipeline a remote worker builds for itself: the domain by name, its own database.

    ``settings``: domain, data, method, scenarios, pipeline (PipelineConfig fields) and the keyword
    arguments of :func:`make_generator` (plain data: it travels to the workers)."""
    from casework.domains import get_domain
    from casework.generate.pipeline import Pipeline, PipelineConfig

    settings = dict(settings)
    domain = get_domain(settings.pop("domain"))
    data = settings.pop("data")
    database = domain.database(Path(data) if data else None)
    method = settings.pop("method")
    weights = method_weights(domain, method, settings.pop("scenarios"))
    config = PipelineConfig(**settings.pop("pipeline"))
    generator = make_generator(method, domain, database, client, weights=weights, **settings)
    return Pipeline(domain, database, generator, config, reviewers=reviewers)
