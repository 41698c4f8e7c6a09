"""``casework perturb``: studies of robustness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework import aio
from casework.cli._app import (
    DataOpt,
    DomainOpt,
    _fail,
    _load,
    app,
    console,
)
from casework.domains.registry import DEFAULT_DOMAIN


@app.command("perturb")
def perturb(
    tasks: Annotated[Path, typer.Argument(help="Task file (any supported format).")],
    out: Annotated[
        Path, typer.Option("--out", help="Output task file: the base tasks, then their variants.")
    ],
    kinds: Annotated[
        str,
        typer.Option(
            help="Comma-separated: paraphrase,typos,shuffle,verbosity,politeness,distractor,id-format."
        ),
    ] = "typos,shuffle,verbosity,politeness,distractor,id-format",
    variants: Annotated[int, typer.Option(min=1, help="Variants per base task and kind.")] = 3,
    seed: int = 0,
    typo_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of words misspelt.")] = 0.08,
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    model: Annotated[str | None, typer.Option(help="Paraphrasing model (default: embedded).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Paraphrasing endpoint, OpenAI-compatible.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="NAME of the variable holding the API key.")] = None,
    models: Annotated[
        Path | None, typer.Option("--models", help="Models file: the 'user' role paraphrases.")
    ] = None,
) -> None:
    """Write perturbed variants of tasks (same golden actions and outputs, another wording), linked to
    their base tasks, to measure whether verdicts survive rephrasing (`casework run` on the output
    adds `robustness` to summary.json).

    Example: casework perturb tasks.json --kinds typos,shuffle,id-format --variants 3 --seed 1 --out variants.json
    """
    from casework.generate.perturb import KINDS, paraphrase_task, perturb_tasks
    from casework.tasks import save_tasks

    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise _fail(
            f"--kinds {kinds!r}: unknown {', '.join(unknown) or 'none given'}; expected some of {', '.join(KINDS)}"
        )
    dom, database, loaded = _load(domain, data, tasks)
    paraphrases = None
    if "paraphrase" in chosen:
        from casework.runs.endpoints import choose_endpoints, open_clients

        choice = choose_endpoints(
            models_file=models,
            agent_overrides={},
            user_overrides={
                k: v
                for k, v in {"model": model, "base_url": base_url, "api_key_env": api_key_env}.items()
                if v
            },
            needs_agent=False,
            needs_user=True,
        )

        async def make(client) -> dict:
            return {
                t.id: await paraphrase_task(t, variants, client, domain=dom, database=database)
                for t in loaded
            }

        with open_clients(choice) as (_, user_client):
            paraphrases = aio.run(make(user_client), closing=[user_client])
    result = perturb_tasks(
        loaded,
        chosen,
        variants,
        seed=seed,
        domain=dom,
        database=database,
        paraphrases=paraphrases,
        typo_rate=typo_rate,
    )
    save_tasks(result.tasks, out)
    bases = len(result.tasks) - result.variants
    console.print(f"wrote {bases} base tasks and {result.variants} variants to {out}")
    for where, reason in list(result.skipped.items())[:10]:
        console.print(f"  [yellow]fewer variants[/] {where}: {reason}")
    if len(result.skipped) > 10:
        console.print(f"  … and {len(result.skipped) - 10} more")
