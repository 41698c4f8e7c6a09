"""``casework domain``: list, inspect, check and scaffold domains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from casework.cli._app import (
    DomainOpt,
    _fail,
    console,
    domain_app,
)
from casework.domains.registry import DEFAULT_DOMAIN


@domain_app.command("tools")
def domain_tools(
    domain: DomainOpt = DEFAULT_DOMAIN,
    as_json: Annotated[bool, typer.Option("--json", help="Print the OpenAI function schemas.")] = False,
) -> None:
    """List a domain's tools with their kind and arguments.

    Example: casework domain tools --json > tools.json
    """
    from casework.domains import get_domain

    try:
        toolbox = get_domain(domain).toolbox
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(toolbox.openai_schemas(), indent=2))
        return
    table = Table("tool", "kind", "arguments", title=f"{domain} tools")
    for t in toolbox.tools.values():
        required = set(t.parameters.get("required", []))
        args = ", ".join(a + ("" if a in required else "?") for a in t.parameters.get("properties", {}))
        table.add_row(t.name, t.kind.value, args)
    console.print(table)


@domain_app.command("policy")
def domain_policy(
    domain: DomainOpt = DEFAULT_DOMAIN,
    variant: Annotated[
        str, typer.Option(help="Policy variant: default, or solo where the domain has one.")
    ] = "default",
) -> None:
    """Print a domain's agent policy (replace it at run time with --policy FILE).

    Example: casework domain policy > policy.md  # edit, then: casework run --policy policy.md …
    """
    from casework.domains import get_domain

    try:
        print(get_domain(domain).policy_text(variant))
    except ValueError as exc:
        raise _fail(str(exc)) from None


@domain_app.command("list")
def domain_list() -> None:
    """List the domains casework can load: built-in, installed plugins (entry points), registered.

    Example: casework domain list
    """
    from casework.domains import available, get_domain

    table = Table("domain", "source", "tools", "profiles", "description", title="domains")
    for name, source in available().items():
        try:
            dom = get_domain(name)
        except ValueError as exc:
            table.add_row(name, source, "", "", f"[red]cannot load: {exc}[/]")
            continue
        tools = str(len(dom.toolbox.tools))
        if dom.user_toolbox is not None:
            tools += f" + {len(dom.user_toolbox.tools)} user"
        table.add_row(name, source, tools, ", ".join(dom.profile_names), dom.description)
    console.print(table)


@domain_app.command("check")
def domain_check(
    domain: Annotated[str, typer.Argument(help="A domain name or package.module:OBJECT.")],
) -> None:
    """Check a domain end to end: schemas, every tool, data, sample tasks, an oracle run, templated tasks.

    Exits 1 when a check fails.

    Example: casework domain check mock
    """
    from casework.domains import get_domain
    from casework.runs.domain_check import check_domain

    try:
        dom = get_domain(domain)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    checks = check_domain(dom, domain)
    table = Table("check", "result", "detail", title=f"domain {dom.name}")
    for check in checks:
        table.add_row(check.name, "[green]pass[/]" if check.passed else "[red]FAIL[/]", check.detail)
    console.print(table)
    if not all(c.passed for c in checks):
        raise typer.Exit(1)


@domain_app.command("new")
def domain_new(
    name: Annotated[str, typer.Argument(help="The new domain's name (lower case, digits, _).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the plugin package (new or empty).")],
) -> None:
    """Write a small, installable domain plugin (a copy of the built-in mock help desk) to edit.

    Example: casework domain new helpdesk --out ./casework-helpdesk && pip install -e ./casework-helpdesk
    """
    from casework.domains.scaffold import write_plugin

    try:
        written = write_plugin(name, out)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {len(written)} files to {out}")
    console.print(f"next: pip install -e {out} && casework domain check {name}")
