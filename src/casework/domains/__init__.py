"""Domains: worlds of data, tools and policy that agents act in."""

from __future__ import annotations

from casework.domains.domain import DataError, Domain
from casework.domains.state import Change, Database, State
from casework.domains.tools import Tool, Toolbox, ToolError, ToolKind, tool

__all__ = [
    "Change",
    "DataError",
    "Database",
    "Domain",
    "State",
    "Tool",
    "ToolError",
    "ToolKind",
    "Toolbox",
    "get_domain",
    "tool",
]

_DOMAINS = ("retail", "airline")


def get_domain(name: str) -> Domain:
    """The domain called ``name`` (``retail``, ``airline``)."""
    if name == "retail":
        from casework.domains.retail import RETAIL

        return RETAIL
    if name == "airline":
        from casework.domains.airline import AIRLINE

        return AIRLINE
    raise ValueError(f"unknown domain {name!r}; available: {', '.join(_DOMAINS)}")
