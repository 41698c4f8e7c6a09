"""``casework serve`` and ``casework doctor``: the embedded model as an API; can an endpoint run agents?"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from casework import aio
from casework.cli._app import (
    _fail,
    app,
    console,
    err_console,
)


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: pick a free one).")] = 8080,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default: the idle cores, 1 or 2).")
    ] = None,
    ctx: Annotated[int, typer.Option(min=1024, help="Context size per slot, in tokens.")] = 8192,
    parallel: Annotated[int, typer.Option(min=1, help="Requests decoded together (slots).")] = 1,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="llamacpp: a GGUF file to serve (default: the embedded model); "
            "vllm: a Hugging Face checkpoint directory (or hub id).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Model name reported in /v1/models (default: the file's stem)."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="llamacpp (the embedded llama.cpp server, CPU) | vllm (casework[vllm], a GPU)."
        ),
    ] = "llamacpp",
    vllm_arg: Annotated[
        list[str] | None,
        typer.Option("--vllm-arg", help="--engine vllm: one more argument for `vllm serve` (repeatable)."),
    ] = None,
) -> None:
    """Serve a model behind an OpenAI-compatible API on 127.0.0.1: by default the embedded model
    (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M) with llama.cpp, or any GGUF given with --model (e.g. one
    written by `casework train merge`). Prints one line, `serving NAME at BASE_URL (log: FILE); Ctrl-C
    stops`, once it answers; NAME is what /v1/models lists (--name, else the file's stem). Ctrl-C or
    SIGTERM stops it. Needs the 'local' extra; --engine vllm runs `vllm serve` on a Hugging Face
    checkpoint instead (the 'vllm' extra, a GPU).

    Example: casework serve --port 8080  # then: casework run --base-url http://127.0.0.1:8080/v1 --model local …

    Example: casework serve --model train-out/model.gguf --name trained --port 8081

    Example: casework serve --engine vllm --model train-out/sft/merged --port 8000
    """
    import signal

    from casework.llm.local import (
        LocalModelError,
        LocalServerProcess,
        check_gguf,
        format_serve_line,
    )

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    if engine not in ("llamacpp", "vllm"):
        raise _fail(f"--engine {engine!r}: expected llamacpp or vllm")
    if vllm_arg and engine != "vllm":
        raise _fail("--vllm-arg works with --engine vllm only")
    try:
        if engine == "vllm":
            from casework.llm.vllm_server import VLLMServerProcess

            if model is None:
                raise LocalModelError("--engine vllm needs --model: a Hugging Face checkpoint directory")
            server = VLLMServerProcess(
                model, port=port, name=name, ctx=ctx, parallel=parallel, extra_args=vllm_arg or []
            )
        else:
            if model is not None:
                check_gguf(model, option="--model")
            server = LocalServerProcess(
                port=port, threads=threads, ctx=ctx, parallel=parallel, model=model, alias=name
            )
    except LocalModelError as exc:
        raise _fail(str(exc)) from None
    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.start()
        print(format_serve_line(server.alias, server.base_url, server.log_path), flush=True)
        while server.exit_code() is None:
            time.sleep(0.5)
        raise _fail(server.failure() or "the model server stopped", 1)
    except LocalModelError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command("doctor")
def doctor(
    model: Annotated[
        str | None, typer.Option(help="Model name (default: the one the endpoint lists first).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Endpoint, OpenAI-compatible (…/v1); default: the embedded model.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the environment variable holding the API key.")
    ] = None,
    prompts: Annotated[int, typer.Option(min=1, max=5, help="Tool prompts per tool_choice.")] = 3,
    timeout: Annotated[float | None, typer.Option(min=1, help="Seconds per model call.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results to FILE.")] = None,
) -> None:
    """Check that an endpoint is usable for `casework run`: models list, chat, tool calls with
    tool_choice auto and required, streaming time to first token, parallel calls, JSON arguments.
    Exit code 0 when usable, 1 otherwise. With no --model/--base-url the embedded model is checked.

    Example: casework doctor --model gpt-4o-mini --api-key-env OPENAI_API_KEY --json doctor.json
    """
    from contextlib import ExitStack

    from casework.llm import ConfigError, EndpointConfig
    from casework.llm.doctor import diagnose

    with ExitStack() as stack:
        try:
            if model is None and base_url is None:
                from casework.llm.local import LocalModelError, LocalModelServer
                from casework.runs.endpoints import local_endpoint

                err_console.print("starting the embedded local model…")
                try:
                    server = stack.enter_context(LocalModelServer(verbosity=-1))
                except LocalModelError as exc:
                    raise _fail(str(exc)) from None
                config = local_endpoint(server.base_url)
            else:
                config = EndpointConfig(model=model or "default", base_url=base_url, api_key_env=api_key_env)
            if timeout is not None:
                config = config.model_copy(update={"timeout_s": timeout})
        except (ConfigError, ValueError) as exc:
            raise _fail(str(exc)) from None
        discover = model is None and base_url is not None
        target = "the model it lists" if discover else config.model
        err_console.print(
            f"checking {target} at {config.base_url or 'https://api.openai.com/v1'}…", markup=False
        )
        report = aio.run(diagnose(config, prompts=prompts, discover_model=discover))

    from rich.markup import escape

    colors = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    where = report.base_url or "https://api.openai.com/v1"
    table = Table("check", "result", "detail", "time", title=escape(f"doctor: {report.model} at {where}"))
    table.columns[0].no_wrap = True
    table.columns[1].no_wrap = True
    for check in report.checks:
        color = colors[check.status]
        table.add_row(
            check.label,
            f"[{color}]{check.result}[/]",
            escape(check.detail),
            "-" if check.time_s is None else f"{check.time_s:.2f}s",
        )
    console.print(table)
    mark = "[bold green]usable[/]" if report.usable else "[bold red]not usable[/]"
    console.print(f"verdict: {mark}: {escape(report.verdict)}", highlight=False)
    for line in report.advice:
        console.print(f"  - {escape(line)}", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    raise typer.Exit(report.exit_code)
