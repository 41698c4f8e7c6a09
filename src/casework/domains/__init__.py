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

_DOMAINS = ("retail",)


def get_domain(name: str) -> Domain:
    """The domain called ``name`` (``retail``)."""
    if name == "retail":
        from casework.domains.retail import RETAIL

        return RETAIL
    from casework.errors import UserError

    raise UserError(f"unknown domain {name!r}; available: {', '.join(_DOMAINS)}")
