"""The generation methods and what each needs from a domain.

- ``templated``: the domain's scenario library (``Domain.scenarios``), no model;
- ``direct`` and ``agentflow``: the domain's LLM-generation hooks (``Domain.llm_generation``) and a
  model endpoint.

:func:`method_weights` parses ``--scenarios`` against the keys the method can sample, and says
clearly (naming the domain) when the domain does not support the method.
"""

from __future__ import annotations

from casework.domains import Domain

METHODS: tuple[str, ...] = ("templated", "direct", "agentflow")
LLM_METHODS: tuple[str, ...] = ("direct", "agentflow")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown --method {method!r}; use {', '.join(METHODS)}")


def supports(domain: Domain, method: str) -> bool:
    """Whether ``domain`` has what ``method`` needs."""
    if method == "templated":
        return domain.scenarios is not None
    return domain.llm_generation is not None


def scenario_keys(domain: Domain, method: str) -> tuple[str, ...]:
    """The scenario keys ``method`` can sample for ``domain`` (ValueError naming the domain if none)."""
    check_method(method)
    if method == "templated":
        from casework.generate.templated import scenario_library

        return tuple(scenario_library(domain).keys)
    from casework.generate.context import llm_hooks

    return tuple(llm_hooks(domain, method).keys)


def method_weights(domain: Domain, method: str, text: str | None) -> dict[str, float]:
    """``--scenarios k=w,...`` for ``method`` on ``domain`` (equal weights when ``text`` is empty)."""
    from casework.generate.templated import parse_weights

    return parse_weights(text, scenario_keys(domain, method))


def comparable_methods(domain: Domain, *, model_available: bool) -> list[str]:
    """The methods ``generate compare`` runs by default: every method the domain supports, the LLM
    ones only when a model is available."""
    return [m for m in METHODS if supports(domain, m) and (m == "templated" or model_available)]
