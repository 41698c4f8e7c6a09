"""``casework domain check``: does a domain keep the contract, end to end?

Each check is independent and says what it found:

- ``schemas``: every tool (agent and user side) has a derived JSON schema with a description;
- ``tools``: every tool runs on a fork with placeholder arguments built from its schema, and either
  answers or refuses with a :class:`~casework.domains.ToolError` (any other exception is a bug);
- ``data``: the synthetic generator is deterministic and its data round-trips through the writer and
  the loader with the same canonical hash;
- ``sample tasks``: the domain's sample tasks pass validation (format, grounding, execution, policy);
- ``oracle``: the oracle agent with the scripted user earns reward 1 on every sample task;
- ``templated``: tasks from the domain's scenario library pass validation.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from casework.domains import Database, Domain, Tool, Toolbox, ToolError


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def _placeholder(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "array":
        return [_placeholder(schema.get("items") or {"type": "string"})]
    if kind == "object" or "properties" in schema:
        return {name: _placeholder(prop) for name, prop in (schema.get("properties") or {}).items()}
    if "anyOf" in schema:
        return _placeholder(schema["anyOf"][0])
    return "x"


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref``s to ``$defs`` so placeholders can be built for nested objects."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolve(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
        return {k: _resolve(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve(v, defs) for v in schema]
    return schema


def _try_tool(tool: Tool, database: Database, arguments: dict[str, Any]) -> str | None:
    """None when the tool answered or refused cleanly; else what went wrong."""
    state = database.fork()
    try:
        validated = tool.arguments_model.model_validate(arguments)
    except ValidationError as exc:
        return f"{tool.name}: placeholder arguments {arguments} do not fit its own schema ({exc.error_count()} errors)"
    kwargs = {k: getattr(validated, k) for k in type(validated).model_fields}
    try:
        result = tool.function(state, **kwargs)
    except ToolError:
        return None
    except Exception as exc:  # a bug in the tool
        return f"{tool.name}({arguments}) raised {type(exc).__name__}: {exc}"
    if not isinstance(result, str | dict | list):
        return f"{tool.name} returned a {type(result).__name__}, expected a string (or JSON data)"
    return None


def _toolboxes(domain: Domain) -> list[Toolbox]:
    return [domain.toolbox, *([domain.user_toolbox] if domain.user_toolbox else [])]


def check_schemas(domain: Domain) -> Check:
    count = 0
    for toolbox in _toolboxes(domain):
        for schema in toolbox.openai_schemas():
            function = schema["function"]
            if not function.get("description"):
                return Check("schemas", False, f"tool {function['name']} has no description")
            count += 1
    return Check(
        "schemas", count > 0, f"{count} tool schemas derived" if count else "the domain has no tools"
    )


def check_tools(domain: Domain, database: Database, samples: list[Any]) -> Check:
    problems = []
    seen: dict[str, list[dict[str, Any]]] = {}
    for task in samples:
        for action in task.actions:
            seen.setdefault(action.name, []).append(action.arguments)
    count = 0
    for toolbox in _toolboxes(domain):
        for tool in toolbox.tools.values():
            schema = _resolve(tool.parameters, tool.parameters.get("$defs", {}))
            placeholder = {name: _placeholder(prop) for name, prop in schema.get("properties", {}).items()}
            for arguments in [placeholder, *seen.get(tool.name, [])]:
                problem = _try_tool(tool, database, arguments)
                if problem:
                    problems.append(problem)
            count += 1
    if problems:
        return Check("tools", False, "; ".join(problems[:3]))
    return Check("tools", True, f"{count} tools run with placeholder and sample arguments")


def check_data(domain: Domain) -> Check:
    if domain.generate_data is None:
        return Check("data", True, "no synthetic generator (skipped)")
    first, second = domain.generate_data(1), domain.generate_data(1)
    if first.canonical_hash() != second.canonical_hash():
        return Check("data", False, "generate_data(seed=1) gave different data twice")
    if domain.write_data is None:
        return Check("data", True, "generator deterministic; no writer to round-trip")
    with tempfile.TemporaryDirectory() as tmp:
        domain.write_data(first, Path(tmp))
        loaded = domain.load_data(Path(tmp))
    if loaded.canonical_hash() != first.canonical_hash():
        return Check("data", False, "written and re-loaded data hash differently")
    return Check("data", True, "generator deterministic; write -> load keeps the canonical hash")


def _validate(domain: Domain, database: Database, tasks: list[Any]) -> list[str]:
    from casework.tasks.validate import validate_task

    lines = []
    for task in tasks:
        rules = domain.policy_rules() if domain.policy_rules else None
        lines.extend(p.line() for p in validate_task(domain, database, task, policy=rules).problems)
    return lines


def check_samples(domain: Domain, database: Database, samples: list[Any]) -> Check:
    if not samples:
        return Check("sample tasks", False, "the domain ships no sample tasks (Domain.sample_tasks)")
    problems = _validate(domain, database, samples)
    if problems:
        return Check("sample tasks", False, "; ".join(problems[:3]))
    return Check("sample tasks", True, f"{len(samples)} sample tasks validate")


def check_oracle(domain_ref: str, samples: list[Any]) -> Check:
    if not samples:
        return Check("oracle", False, "no sample tasks to run")
    from casework import aio
    from casework.runs.runner import RunConfig, Runner
    from casework.tasks import save_tasks

    name = domain_ref.partition("@")[0]
    with tempfile.TemporaryDirectory() as tmp:
        tasks = Path(tmp) / "samples.json"
        save_tasks([t.model_copy(update={"domain": name}) for t in samples], tasks)
        config = RunConfig(
            tasks=tasks, out=Path(tmp) / "run", domain=domain_ref, agent="oracle", user="scripted"
        )
        summary = aio.run(Runner(config).run())
    total, ok = summary.get("total_tasks", 0), summary.get("successful", 0)
    return Check("oracle", total > 0 and ok == total, f"oracle + scripted user: {ok}/{total} reward 1")


def check_templated(domain: Domain, database: Database, n: int = 20) -> Check:
    if domain.scenarios is None:
        return Check("templated", True, "no scenario library (skipped)")
    from casework.generate.templated import build_templated_task

    tasks = []
    try:
        for index in range(n):
            tasks.append(build_templated_task(domain, database, index, seed=0))
    except Exception as exc:
        return Check("templated", False, f"task {len(tasks)}: {type(exc).__name__}: {exc}")
    problems = _validate(domain, database, tasks)
    if problems:
        return Check("templated", False, f"{len(problems)} problems, e.g. {problems[0]}")
    keys = sorted(
        {k for t in tasks for k in ([t.scenario] if isinstance(t.scenario, str) else t.scenario or [])}
    )
    return Check("templated", True, f"{n} tasks validate; scenarios: {', '.join(keys)}")


def check_domain(domain: Domain, domain_ref: str | None = None) -> list[Check]:
    """Run every check; ``domain_ref`` is how a fresh process finds the domain (its name or path)."""
    from casework.domains import DomainError, get_domain, register
    from casework.tasks import load_tasks

    if domain_ref is None:
        try:
            known = get_domain(domain.name)
        except DomainError:
            known = None
        if known is not domain:  # the oracle run finds its domain by name
            register(domain)
    database = domain.database()
    samples = load_tasks(domain.sample_tasks, domain=domain.name) if domain.sample_tasks else []
    return [
        check_schemas(domain),
        check_tools(domain, database, samples),
        check_data(domain),
        check_samples(domain, database, samples),
        check_oracle(domain_ref or domain.name, samples),
        check_templated(domain, database),
    ]
