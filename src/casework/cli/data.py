"""``casework data``: synthetic databases."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from casework.cli._app import (
    DomainOpt,
    _fail,
    console,
    data_app,
)
from casework.domains.registry import DEFAULT_DOMAIN


@data_app.command("generate")
def data_generate(
    out: Annotated[Path, typer.Option("--out", help="Directory for the database, in the domain's layout.")],
    domain: DomainOpt = DEFAULT_DOMAIN,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical bytes.")] = 0,
    size: Annotated[
        list[str] | None,
        typer.Option(
            "--size",
            help="TABLE=N, repeatable (the domain's sizes: see `casework domain list`); default sizes otherwise.",
        ),
    ] = None,
) -> None:
    """Write a synthetic, internally consistent database in the domain's native layout.

    Example: casework data generate --seed 7 --size users=2000 --size orders=4000 --out data/retail-7
    """
    from casework.domains import get_domain

    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out}: is a file; expected a directory (new or existing) for the tables")

    try:
        dom = get_domain(domain)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if dom.generate_data is None or dom.write_data is None:
        raise _fail(f"domain {dom.name!r} has no synthetic data generator")
    sizes: dict[str, int] = {}
    for item in size or []:
        name, _, value = item.partition("=")
        if name not in dom.data_sizes or not value.strip().isdigit():
            known = ", ".join(f"{k}={v}" for k, v in dom.data_sizes.items())
            raise _fail(f"--size {item!r}: expected TABLE=N with TABLE one of {known}")
        sizes[name] = int(value)
    start = time.perf_counter()
    database = dom.generate_data(seed, **sizes)
    dom.write_data(database, out)
    elapsed = time.perf_counter() - start
    tables = database.to_dict()
    counts = ", ".join(f"{len(tables[t])} {t}" for t in dom.tables)
    console.print(f"wrote {counts} to {out} in {elapsed:.2f} s")
