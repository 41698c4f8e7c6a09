"""Which model endpoints a run uses: CLI flags > models file > the embedded local model.

When a run needs a model and none is configured, the embedded local model (``casework[local]``)
is started on 127.0.0.1 for the length of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casework.llm import EndpointConfig, ModelsConfig, load_models_config


@dataclass
class EndpointChoice:
    agent: EndpointConfig | None
    user: EndpointConfig | None
    local_roles: list[str]  # roles that need the embedded local model
    judge: EndpointConfig | None = None
    # roles served by the embedded llama.cpp server on another GGUF (--model-path), by role
    local_models: dict[str, Path] = field(default_factory=dict)
    _gguf_records: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def record(self, role: str) -> dict[str, Any] | None:
        """The endpoint of a role as manifest data (names the key's variable, never the key); a role
        served from a GGUF file (``--model-path``) records the file's path, size and sha256."""
        if role in self.local_models:
            from casework.llm.local import gguf_record, served_name

            path = self.local_models[role]
            if role not in self._gguf_records:  # hashing hundreds of MB once per run is enough
                self._gguf_records[role] = gguf_record(path)
            return {"model": served_name(path), "engine": "llamacpp", **self._gguf_records[role]}
        config = {"agent": self.agent, "user": self.user, "judge": self.judge}.get(role)
        if config is not None:
            return endpoint_record(config)
        return {"model": "embedded-local"} if role in self.local_roles else None


def endpoint_record(config: EndpointConfig) -> dict[str, Any]:
    """An endpoint as manifest data: model, base URL(s), settings and the NAME of the key's
    variable (never the key). Fields added with replicas are left out at their defaults, so that a
    run made before them still resumes with the same settings."""
    data = config.model_dump(mode="json")
    for key, default in (("base_urls", []), ("prompt_suffix", None), ("transport", "aiohttp")):
        if data.get(key) == default:
            data.pop(key, None)
    return data


def experts_record(experts: dict[str, EndpointConfig]) -> dict[str, dict[str, Any]] | None:
    """The experts of a run as manifest data (see :func:`endpoint_record`), None without experts."""
    return {name: endpoint_record(config) for name, config in experts.items()} or None


def local_endpoint(base_url: str, model: str | None = None) -> EndpointConfig:
    """Settings for the embedded model (or ``model``, a GGUF the embedded server loaded under that
    name): deterministic, text tool calls recovered, named choice emulated."""
    from casework.llm.local import MODEL_NAME

    return EndpointConfig(
        model=model or MODEL_NAME,
        base_url=base_url,
        temperature=0.0,
        max_tokens=512,
        timeout_s=300.0,
        parse_text_tool_calls=True,
        named_tool_choice="emulate",
    )


def choose_endpoints(
    *,
    models_file: Path | None,
    agent_overrides: dict[str, Any],
    user_overrides: dict[str, Any],
    needs_agent: bool,
    needs_user: bool,
    judge_overrides: dict[str, Any] | None = None,
    needs_judge: bool = False,
    agent_model_path: Path | None = None,
) -> EndpointChoice:
    """Each role's endpoint: CLI flags > models file > the embedded local model. ``agent_model_path``
    (``--model-path``): the agent is the embedded llama.cpp server started on that GGUF file."""
    models = load_models_config(models_file) if models_file else ModelsConfig()
    agent = user = None
    local: list[str] = []
    local_models: dict[str, Path] = {}
    if agent_model_path is not None and needs_agent:
        local_models["agent"] = check_model_path(agent_model_path, agent_overrides)
    if needs_agent:
        if "agent" in local_models:
            local.append("agent")
        elif agent_overrides.get("model") or models.agent is not None or "model" in models.defaults:
            agent = models.resolve("agent", agent_overrides)  # type: ignore[assignment]
        else:
            local.append("agent")
    if needs_user:
        has_user = user_overrides.get("model") or models.user is not None or models.agent is not None
        if has_user or "model" in models.defaults:
            user = models.resolve("user", user_overrides)  # type: ignore[assignment]
        elif agent is not None:
            user = agent  # the user simulator shares the agent's endpoint
        else:
            local.append("user")
    judge = None
    if needs_judge:
        # the judge never inherits the agent's endpoint: it is the embedded model unless named
        if (judge_overrides or {}).get("model") or models.judge is not None:
            judge = models.resolve("judge", judge_overrides or {})
        else:
            local.append("judge")
    return EndpointChoice(agent, user, local, judge, local_models)  # type: ignore[arg-type]


def check_model_path(path: Path, overrides: dict[str, Any], role: str = "agent") -> Path:
    """``--model-path``: a GGUF file, and no other endpoint named for the same role (ValueError)."""
    from casework.llm.local import LocalModelError, check_gguf

    for option, key in (("--base-url", "base_url"), ("--model", "model")):
        if overrides.get(key):
            raise ValueError(
                f"--model-path {path} and {option} {overrides[key]} both set the {role}'s model: "
                f"--model-path serves the GGUF with the embedded server; drop {option} (or --model-path)"
            )
    try:
        return check_gguf(path)
    except LocalModelError as exc:
        raise ValueError(str(exc)) from None


def judge_id(choice: EndpointChoice) -> str:
    """The judge's name in the judge cache: its model (the embedded model's name when local)."""
    if choice.judge is not None:
        return choice.judge.model
    from casework.llm.local import MODEL_NAME

    return MODEL_NAME


def choose_judge(
    *,
    models_file: Path | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    needed: bool = True,
) -> EndpointChoice:
    """The judge's endpoint alone (regrade, review): flags > models file > the embedded model."""
    return choose_endpoints(
        models_file=models_file,
        agent_overrides={},
        user_overrides={},
        needs_agent=False,
        needs_user=False,
        judge_overrides={"model": model, "base_url": base_url, "api_key_env": api_key_env},
        needs_judge=needed,
    )


@contextmanager
def open_judge(choice: EndpointChoice, *, on_local_start=None) -> Iterator[Any]:
    """The judge's client alone (for ``casework regrade``); starts the local model when it judges."""
    with open_clients(choice, parallel=1, on_local_start=on_local_start, with_judge=True) as (_, _, judge):
        yield judge


@contextmanager
def open_clients(
    choice: EndpointChoice,
    *,
    parallel: int = 2,
    on_local_start=None,
    with_judge: bool = False,
    on_server: Callable[[Any], None] | None = None,
    prompt_prefix: tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None = None,
    on_status: Callable[[str], None] | None = None,
    concurrency: int | None = None,
    cache: Any = None,
) -> Iterator[tuple[Any, ...]]:
    """``(agent_client, user_client)`` for the run (``with_judge``: and the judge's client); starts
    the local model when a role needs it.

    The embedded model runs in a child process (:class:`~casework.llm.local.LocalServerProcess`,
    its llama.cpp log in a file): ``on_local_start(base_url)`` and ``on_server(server)`` are called
    once it answers (the server's ``failure()`` says when it has exited). With ``prompt_prefix``
    (opening messages, tools) of a local agent, the prefix's KV cache is restored from the user cache
    directory, or warmed once and saved there (``on_status`` hears what happens).

    ``concurrency`` (the run's simulations in flight) is each endpoint's default cap on calls in
    flight (a models file's ``max_concurrency`` lowers it); ``on_status`` hears the effective limits.
    ``cache``: a :class:`~casework.llm.cache.ResponseCache` shared by every client.
    """
    from casework.llm.replicas import limits_line, make_client

    def client(config: EndpointConfig | None, role: str) -> Any:
        if config is None:
            return None
        return make_client(config, role=role, keep_records=False, max_in_flight=concurrency, cache=cache)

    with ExitStack() as stack:
        agent_cfg, user_cfg, judge_cfg = choice.agent, choice.user, choice.judge
        configs: dict[str, EndpointConfig] = {}
        # one embedded server per model: the embedded GGUF, and each --model-path file
        by_model: dict[Path | None, list[str]] = {}
        for role in choice.local_roles:
            by_model.setdefault(choice.local_models.get(role), []).append(role)
        for model_path, roles in by_model.items():
            from casework.llm.local import LocalServerProcess, prompt_cache_dir

            if on_status is not None:
                on_status(f"starting the embedded local model{f' on {model_path}' if model_path else ''}…")
            server = stack.enter_context(
                LocalServerProcess(parallel=parallel, slot_save_path=prompt_cache_dir(), model=model_path)
            )
            cfg = local_endpoint(server.base_url, model=server.alias)
            if on_server is not None:
                on_server(server)
            if on_local_start is not None:
                on_local_start(server.base_url)
            if prompt_prefix is not None and "agent" in roles:
                _prepare_prompt_cache(server, cfg, prompt_prefix, parallel, on_status)
            configs.update(dict.fromkeys(roles, cfg))
        agent_cfg = configs.get("agent", agent_cfg)
        user_cfg = configs.get("user", user_cfg)
        judge_cfg = configs.get("judge", judge_cfg)
        # Each call's record travels with its simulation into results.jsonl; the clients keep none.
        agent, user = client(agent_cfg, "agent"), client(user_cfg, "user")
        judge = client(judge_cfg, "judge") if with_judge else None
        if on_status is not None and (line := limits_line({"agent": agent, "user": user, "judge": judge})):
            on_status(line)
        yield (agent, user, judge) if with_judge else (agent, user)


def expert_clients(
    experts: dict[str, EndpointConfig], *, concurrency: int | None = None, cache: Any = None
) -> dict[str, Any]:
    """One client per expert model (role ``expert:NAME``), for the agent's ``call_expert`` tool."""
    from casework.llm.replicas import make_client

    return {
        name: make_client(
            config, role=f"expert:{name}", keep_records=False, max_in_flight=concurrency, cache=cache
        )
        for name, config in experts.items()
    }


def load_experts(models_file: Path | None, spec: str | None) -> dict[str, EndpointConfig]:
    """Experts from the models file's ``[[experts]]`` and the ``--experts`` option (which wins)."""
    from casework.llm.config import parse_experts

    out: dict[str, EndpointConfig] = {}
    if models_file is not None:
        models = load_models_config(models_file)
        for section, config in zip(models.experts, models.resolve("experts"), strict=True):  # type: ignore[arg-type]
            out[section["name"]] = config
    if spec:
        out.update(parse_experts(spec))
    return out


def _prepare_prompt_cache(server: Any, cfg: EndpointConfig, prefix: Any, slots: int, on_status: Any) -> None:
    """Restore (or warm and save) the agent prefix's prompt cache; a failure only costs speed."""
    from casework.llm.local import LocalModelError, server_identity
    from casework.llm.prompt_cache import PromptCacheError, prefix_key, prepare_prompt_cache

    messages, tools = prefix
    say = on_status or (lambda message: None)
    try:
        identity = server_identity(server.model_path, ctx=server.ctx)
        result = prepare_prompt_cache(
            server.base_url,
            server.slot_save_path,
            prefix_key(messages, tools, identity=identity),
            messages,
            tools,
            model=cfg.model,
            slots=slots,
            on_status=say,
        )
    except (PromptCacheError, OSError, ValueError) as exc:
        if server.failure():
            raise LocalModelError(server.failure()) from None
        say(f"prompt cache not used ({exc}); the first call reads the whole prompt")
        return
    verb = "restored" if result.action == "restored" else "warmed and saved"
    say(f"prompt cache {verb}: {result.tokens} tokens in {result.seconds:.1f} s ({result.path})")
