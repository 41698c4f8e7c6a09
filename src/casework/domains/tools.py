"""Tools declared once, as typed Python functions with Google-style docstrings.

    @tool(ToolKind.READ)
    def get_ticket(db: State, ticket_id: str) -> str:
        '''Get the status and details of a support ticket.

        Args:
            ticket_id: The ticket id, such as 'TK-1001'.
        '''

The first parameter receives the state the tool acts on. The OpenAI function schema (name,
description, JSON-schema parameters with ``required`` and ``enum``) is derived from the signature
and the docstring; the same signature validates arguments before the call. :meth:`Toolbox.call`
never raises: unknown tools, bad arguments and exceptions inside a tool become ``Error: ...``
observations, as an agent would see them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from casework.domains.state import State


class ToolKind(StrEnum):
    READ = "read"  # looks, never changes the state
    WRITE = "write"  # may change the state
    GENERIC = "generic"  # needs no state (calculate, think, transfer)


class ToolError(Exception):
    """Raised inside a tool for an expected failure; becomes the observation ``Error: <message>``."""


@dataclass(frozen=True)
class Tool:
    name: str
    kind: ToolKind
    description: str
    function: Callable[..., Any]
    parameters: dict[str, Any]  # JSON schema of the arguments
    arguments_model: type[BaseModel] = field(repr=False)
    ends_conversation: bool = False

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def tool(
    kind: ToolKind | str, *, ends_conversation: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function as a tool of the given kind. The function is returned unchanged."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__casework_tool__ = (ToolKind(kind), ends_conversation)  # type: ignore[attr-defined]
        return function

    return mark


def _clean_schema(schema: Any) -> Any:
    """Drop pydantic's ``title`` keys: they add tokens and nothing for the model."""
    if isinstance(schema, dict):
        return {k: _clean_schema(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def build_tool(function: Callable[..., Any]) -> Tool:
    """Derive a :class:`Tool` from a function marked with :func:`tool`."""
    marker = getattr(function, "__casework_tool__", None)
    if marker is None:
        raise TypeError(f"{function.__qualname__} is not marked with @tool")
    kind, ends = marker
    doc = docstring_parser.parse(inspect.getdoc(function) or "")
    if not doc.short_description:
        raise TypeError(f"tool {function.__name__} needs a docstring: it becomes the tool's description")
    description = doc.short_description
    if doc.long_description:
        description += "\n\n" + doc.long_description
    param_docs = {p.arg_name: (p.description or "") for p in doc.params}
    hints = get_type_hints(function, include_extras=True)
    params = list(inspect.signature(function).parameters.values())[1:]  # first one is the state
    fields: dict[str, Any] = {}
    for p in params:
        if p.name not in hints:
            raise TypeError(f"tool {function.__name__}: parameter {p.name} needs a type hint")
        if p.name not in param_docs:
            raise TypeError(f"tool {function.__name__}: parameter {p.name} is not described in 'Args:'")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], Field(default, description=param_docs[p.name]))
    model = create_model(  # type: ignore[call-overload]
        f"{function.__name__}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    schema = _clean_schema(model.model_json_schema())
    schema.setdefault("required", [])
    schema.pop("additionalProperties", None)
    return Tool(
        name=function.__name__,
        kind=kind,
        description=description,
        function=function,
        parameters=schema,
        arguments_model=model,
        ends_conversation=ends,
    )


def _format_validation_error(tool_name: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        if item["type"] == "missing":
            problems.append(f"missing required argument '{where}'")
        elif item["type"] == "extra_forbidden":
            problems.append(f"unexpected argument '{where}'")
        else:
            problems.append(
                f"argument '{where}': {item['msg']} (got {json.dumps(item.get('input'), default=str)})"
            )
    return f"Error: invalid arguments for {tool_name}: " + "; ".join(problems)


class Toolbox:
    """The tools of a domain, by name."""

    def __init__(self, functions: Iterable[Callable[..., Any]]):
        self.tools: dict[str, Tool] = {}
        for function in functions:
            built = build_tool(function)
            if built.name in self.tools:
                raise ValueError(f"duplicate tool name {built.name}")
            self.tools[built.name] = built
        self._schemas = tuple(t.openai_schema() for t in self.tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __getitem__(self, name: str) -> Tool:
        return self.tools[name]

    def names(self, kind: ToolKind | None = None) -> list[str]:
        return [t.name for t in self.tools.values() if kind is None or t.kind == kind]

    def openai_schemas(self) -> list[dict[str, Any]]:
        """The OpenAI function schemas (read-only: the same dicts on every call, so a client can
        keep their JSON encoding)."""
        return list(self._schemas)

    def validate_arguments(self, name: str, arguments: Any) -> tuple[dict[str, Any] | None, str | None]:
        """Check a call without running it: ``(validated_kwargs, None)`` or ``(None, "Error: ...")``."""
        found = self.tools.get(name)
        if found is None:
            return None, f"Error: unknown tool '{name}'; available tools: {', '.join(self.tools)}"
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                return None, f"Error: arguments for {name} are not valid JSON: {exc}"
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            return None, f"Error: arguments for {name} must be a JSON object, got {type(arguments).__name__}"
        try:
            validated = found.arguments_model.model_validate(dict(arguments))
        except ValidationError as exc:
            return None, _format_validation_error(name, exc)
        return {k: getattr(validated, k) for k in type(validated).model_fields}, None

    def call(self, state: State, name: str, arguments: Any) -> str:
        """Run a tool on ``state`` and return its observation; never raises."""
        kwargs, error = self.validate_arguments(name, arguments)
        if error is not None:
            return error
        return self.run(state, name, kwargs)  # type: ignore[arg-type]

    def run(self, state: State, name: str, kwargs: dict[str, Any]) -> str:
        """Run a known tool with arguments already returned by :meth:`validate_arguments`; never raises."""
        try:
            result = self.tools[name].function(state, **kwargs)  # type: ignore[arg-type]
        except ToolError as exc:
            return f"Error: {exc}"
        except Exception as exc:  # a bug or unexpected input inside the tool: report, don't crash
            return f"Error: {exc}"
        if isinstance(result, str):
            return result
        return json.dumps(result)
