"""Multi-turn GRPO with tools: the Gymnasium environment as a TRL ``environment_factory`` environment.

TRL's ``GRPOTrainer(environment_factory=...)`` (TRL >= 1.1x; checked against the installed 1.16)
expects a zero-argument factory returning an object with

- ``reset(**row) -> str | None``: called once per rollout with the dataset row; a returned string is
  appended to the row's last user message;
- one public method per tool, with type hints and a Google-style docstring (TRL turns them into the
  tool schemas of the prompt with transformers' ``get_json_schema`` and calls them with the
  arguments the model wrote);
- optionally ``get_reward() -> float``, called once per finished rollout (the environment owns the
  reward).

:func:`environment_class` builds that class for a domain: each of the domain's agent tools becomes a
method whose call is one step of :class:`casework.train.env.CaseworkEnv` (the call runs on the
episode's fork of the database); ``reset`` starts the episode of the row's ``task_id`` and returns the
scripted user's opening message; ``get_reward`` is the seed's shaped reward (normalised to [0, 1]) of
the calls made so far against the task's expected actions. TRL's loop has one user turn (the model
calls tools until it answers in text), so the user simulator's later replies are not part of a
rollout; the task's final grade needs the whole conversation and is not used here.

:data:`RESPONSE_TEMPLATE` is the response template (transformers' ``response_template``) that lets
TRL parse the embedded model's tool calls (```json blocks, see ``casework/llm/templates``) out of a
completion.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from casework.domains import get_domain
from casework.sim.agents import AgentSetup, system_prompt
from casework.tasks import load_tasks
from casework.tasks.model import Task
from casework.train.env import CaseworkEnv

RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "```json",
            "close_pattern": r"```\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}
RESERVED = {"reset", "get_reward"}


class EnvironmentError_(ValueError):
    """A domain's tools cannot be offered as TRL environment methods."""


def _python_type(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    base = _JSON_TYPES.get(kind or "string", str)
    if base is list:
        item = _JSON_TYPES.get((schema.get("items") or {}).get("type") or "")
        return list[item] if item is not None else list
    return base


def _one_line(text: str) -> str:
    return " ".join(str(text or "").split())


def _tool_method(name: str, schema: dict[str, Any]) -> Callable[..., str]:
    """A method ``name(self, **arguments) -> str`` whose signature and docstring describe ``schema``."""
    parameters = schema.get("parameters") or {}
    properties: dict[str, Any] = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])

    def method(self: Any, **arguments: Any) -> str:
        return self._call(name, arguments)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    ordered = [p for p in properties if p in required] + [p for p in properties if p not in required]
    for pname in ordered:
        if not pname.isidentifier():
            raise EnvironmentError_(f"tool {name}: parameter {pname!r} is not a Python identifier")
        kind = _python_type(properties[pname])
        annotations[pname] = kind if pname in required else kind | None
        params.append(
            inspect.Parameter(
                pname,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotations[pname],
                default=inspect.Parameter.empty if pname in required else None,
            )
        )
    annotations["return"] = str
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    method.__name__ = method.__qualname__ = name
    args = "\n".join(
        f"    {p}: {_one_line(properties[p].get('description')) or p.replace('_', ' ')}" for p in ordered
    )
    description = _one_line(schema.get("description")) or name.replace("_", " ")
    method.__doc__ = f"{description}\n\nArgs:\n{args}\n" if ordered else description
    return method


class CaseworkToolEnv:
    """Base of the generated environment classes (see the module docstring)."""

    domain_name: str = ""

    def __init__(
        self, tasks: list[Task], *, data: Path | str | None = None, max_steps: int = 30, dense: bool = False
    ) -> None:
        self._env = CaseworkEnv(tasks, domain=self.domain_name, data=data, max_steps=max_steps, dense=dense)
        self._started = False

    def reset(self, **row: Any) -> str | None:
        """Start the episode of the row's ``task_id`` (a seeded pick without one); the user's opening."""
        task_id = row.get("task_id")
        _, info = self._env.reset(options={"task": task_id} if task_id else None)
        self._started = True
        return info["messages"][-1]["content"]

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        if not self._started:
            raise RuntimeError("reset() first")
        if self._env.done:
            raise RuntimeError("the episode has ended (step limit or the conversation was closed)")
        clean = {k: v for k, v in arguments.items() if v is not None}
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"type": "function", "function": {"name": name, "arguments": json.dumps(clean)}}],
        }
        _, _, _, _, info = self._env.step(message)
        results = [m["content"] for m in info["new_messages"] if m["role"] == "tool"]
        return results[0] if results else ""

    def get_reward(self) -> float:
        """The shaped reward of the calls made in this rollout, normalised to [0, 1]."""
        if not self._started:
            return 0.0
        return float(self._env._shaped())

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The calls made in this rollout (``{"name", "arguments"}``)."""
        return list(self._env.calls)


def environment_class(domain: str) -> type[CaseworkToolEnv]:
    """The environment class for ``domain``: :class:`CaseworkToolEnv` with one method per agent tool."""
    spec = get_domain(domain)
    methods: dict[str, Any] = {"domain_name": domain}
    for schema in spec.toolbox.openai_schemas():
        function = schema["function"]
        name = function["name"]
        if name in RESERVED or name.startswith("_") or not name.isidentifier():
            raise EnvironmentError_(
                f"tool {name!r} cannot be an environment method (reserved or not an identifier)"
            )
        methods[name] = _tool_method(name, function)
    return type(f"CaseworkToolEnv_{spec.name}", (CaseworkToolEnv,), methods)


def environment_factory(
    tasks: list[Task] | Path | str,
    *,
    domain: str,
    data: Path | str | None = None,
    max_steps: int = 30,
) -> Callable[[], CaseworkToolEnv]:
    """A zero-argument factory of environments over ``tasks`` (what ``environment_factory=`` takes)."""
    loaded = load_tasks(Path(tasks), domain=domain) if isinstance(tasks, str | Path) else list(tasks)
    cls = environment_class(domain)

    def factory() -> CaseworkToolEnv:
        return cls(loaded, data=data, max_steps=max_steps)

    return factory


def environment_rows(tasks: list[Task], domain: str) -> list[dict[str, Any]]:
    """One dataset row per task: the agent's system prompt and an empty user turn (``reset`` fills it
    with the user's opening), the ``task_id``, and the first expected call as ``reference_calls`` (for
    the similarity reward's dense signal)."""
    spec = get_domain(domain)
    tools = spec.toolbox.openai_schemas()
    rows = []
    for task in tasks:
        setup = AgentSetup(policy=spec.policy, tools=tools, task=task)
        first = [{"name": a.name, "arguments": a.arguments} for a in task.actions[:1]]
        rows.append(
            {
                "prompt": [
                    {"role": "system", "content": system_prompt(setup)},
                    {"role": "user", "content": ""},
                ],
                "task_id": task.id,
                "domain": domain,
                "reference_calls": json.dumps(first, ensure_ascii=False),
                "reference_text": "",
            }
        )
    return rows
