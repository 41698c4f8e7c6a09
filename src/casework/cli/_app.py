"""The root ``casework`` command, its sub-apps, and what every command module shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from casework import __version__


class _UserErrorsAsOneLine(typer.core.TyperGroup):
    """Turns a user error raised anywhere below a command into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        from rich.markup import escape

        from casework.errors import one_line, user_error_types

        try:
            return super().invoke(ctx)
        except OSError as exc:  # a file the user named cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            err_console.print(
                f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None
        except user_error_types() as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None


app = typer.Typer(
    help="Generate, validate and test multi-turn customer-service tasks for tool-calling LLM agents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=_UserErrorsAsOneLine,
)


data_app = typer.Typer(help="Databases: generate synthetic data.", no_args_is_help=True)


tasks_app = typer.Typer(help="Task files: replay, validate, convert, sample.", no_args_is_help=True)


domain_app = typer.Typer(
    help="Domains: list them, inspect tools and policy, check a domain, write a new one.",
    no_args_is_help=True,
)


bench_app = typer.Typer(help="Benchmarks of the harness itself.", no_args_is_help=True)


app.add_typer(data_app, name="data")


app.add_typer(tasks_app, name="tasks")


app.add_typer(domain_app, name="domain")


app.add_typer(bench_app, name="bench")


console = Console()


err_console = Console(stderr=True)


DomainOpt = Annotated[
    str,
    typer.Option(
        "--domain",
        help="Domain: a name from `casework domain list`, or package.module:OBJECT. "
        "NAME@PROFILE picks a tool profile.",
    ),
]


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Database: a tau-bench layout directory or a db.json file (default: embedded)."
    ),
]


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Tool profile (see `casework domain list`; default: the one the task file's format implies, "
        "e.g. tau3 for a τ³ file, else the domain's default).",
    ),
]
SplitOpt = Annotated[
    str | None,
    typer.Option(
        "--split", help="τ³ split (train | test | base) from split_tasks.json beside the task file."
    ),
]


JudgeModelOpt = Annotated[
    str | None, typer.Option(help="Judge model for NL assertions (default: the embedded local model).")
]


ModelPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-path",
        help="A GGUF file (e.g. from `casework train merge`) for the agent: the embedded llama.cpp server "
        "is started on it; its path and sha256 go into the run manifest. Not with --model/--base-url.",
    ),
]


JudgeUrlOpt = Annotated[str | None, typer.Option(help="Judge endpoint, OpenAI-compatible (…/v1).")]
BackendOpt = Annotated[
    str, typer.Option(help="Where simulations run: local (asyncio) | ray (casework[ray]).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="--backend ray: cluster address (auto | ray://HOST:10001); default: a local Ray."),
]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, help="--backend ray: worker actors (default: cluster CPUs).")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load(
    domain_name: str,
    data: Path | None,
    tasks_path: Path | None = None,
    split: str | None = None,
    profile: str | None = None,
):
    """Domain, database and (optionally) tasks, turning input errors into clear CLI errors."""
    from casework.domains import DataError, get_domain
    from casework.tasks import TaskFormatError
    from casework.tasks.splits import SplitError, load_split_tasks

    try:
        from casework.tasks.profiles import domain_spec

        domain = get_domain(domain_spec(domain_name, profile, tasks_path))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        database = domain.database(data)
    except (DataError, OSError) as exc:
        raise _fail(str(exc)) from None
    tasks = None
    if tasks_path is not None:
        try:
            tasks = load_split_tasks(tasks_path, domain=domain_name, split=split)
        except (TaskFormatError, SplitError, OSError) as exc:
            raise _fail(str(exc)) from None
    return domain, database, tasks


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"casework {__version__}")
        raise typer.Exit()


def _split_ids(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None
