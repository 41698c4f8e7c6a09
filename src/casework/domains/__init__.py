"""Domains: worlds of data, tools and policy that agents act in (see :mod:`casework.domains.domain`)."""

from __future__ import annotations

from casework.domains.domain import (
    SAFETY_CATEGORIES,
    ArgumentRules,
    Askable,
    ContextSections,
    DataError,
    Domain,
    DomainError,
    Identity,
    LLMGeneration,
    NoTarget,
    PolicyCheck,
    SafetyProbes,
    ScenarioDraft,
    ScenarioLibrary,
    ScenarioSkip,
    Target,
    UserFacts,
    UserModel,
)
from casework.domains.registry import available, get_domain, register
from casework.domains.state import Change, Database, State
from casework.domains.tools import Tool, Toolbox, ToolError, ToolKind, tool

__all__ = [
    "ArgumentRules",
    "Askable",
    "Change",
    "ContextSections",
    "DataError",
    "Database",
    "Domain",
    "DomainError",
    "Identity",
    "LLMGeneration",
    "NoTarget",
    "PolicyCheck",
    "ScenarioDraft",
    "ScenarioLibrary",
    "SafetyProbes",
    "ScenarioSkip",
    "SAFETY_CATEGORIES",
    "State",
    "Target",
    "Tool",
    "ToolError",
    "ToolKind",
    "Toolbox",
    "UserFacts",
    "UserModel",
    "available",
    "get_domain",
    "register",
    "tool",
]
