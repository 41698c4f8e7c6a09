"""Endpoint configuration for the agent, the simulated user, reviewers and the judge.

A models file (TOML, YAML or JSON) looks like::

    [defaults]                      # optional, applies to every role
    timeout_s = 60

    [agent]
    model = "gpt-4o-mini"
    api_key_env = "OPENAI_API_KEY"   # the NAME of the variable; the key itself is never stored
    price = { prompt = 0.15, completion = 0.6, cached = 0.075 }

    [user]
    model = "qwen2.5-coder-0.5b-instruct-q4_k_m"
    base_url = "http://127.0.0.1:8080/v1"

    [[reviewers]]
    model = "gpt-4o"

    [[experts]]                      # models the agent may consult through call_expert(expert, question)
    name = "math"
    model = "qwen2.5-math"
    base_url = "http://127.0.0.1:8090/v1"

A role served by several replicas lists them, ``base_urls = ["http://h1:8000/v1", "http://h2:8000/v1"]``
(or repeats its section, ``[[agent]]`` twice, with different ``base_url``): calls go to the replica with
the fewest calls in flight, and a failing replica is left out for a while.

Precedence for each field: CLI flag > role section > ``[defaults]`` section > built-in defaults.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "ConfigError",
    "EndpointConfig",
    "ModelsConfig",
    "PriceTable",
    "load_models_config",
    "merge_replicas",
    "parse_experts",
    "resolve",
]

ROLES = ("agent", "user", "reviewers", "judge", "experts")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# litellm provider prefixes that are never the organisation part of a model name an OpenAI-compatible
# server serves (``Qwen/...``, ``meta-llama/...``, ``mistralai/...``); ``openai/`` is left out on purpose.
LITELLM_PREFIXES = frozenset(
    [
        "ai21",
        "anthropic",
        "azure",
        "azure_ai",
        "bedrock",
        "cerebras",
        "cohere",
        "databricks",
        "deepinfra",
        "deepseek",
        "fireworks_ai",
        "gemini",
        "groq",
        "huggingface",
        "mistral",
        "nvidia_nim",
        "ollama",
        "ollama_chat",
        "openrouter",
        "perplexity",
        "replicate",
        "sagemaker",
        "sambanova",
        "together_ai",
        "vertex_ai",
        "watsonx",
        "xai",
    ]
)


class ConfigError(ValueError):
    """A models config file or override is invalid; the message names the file and the field."""


class PriceTable(BaseModel):
    """USD per 1M tokens. ``cached`` (prompt tokens served from cache) defaults to the prompt price."""

    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(0.0, ge=0)
    completion: float = Field(0.0, ge=0)
    cached: float | None = Field(None, ge=0)

    def cost(
        self, prompt_tokens: int | None, completion_tokens: int | None, cached_tokens: int | None = None
    ) -> float:
        p = prompt_tokens or 0
        c = completion_tokens or 0
        k = min(cached_tokens or 0, p)
        cached_rate = self.cached if self.cached is not None else self.prompt
        return ((p - k) * self.prompt + k * cached_rate + c * self.completion) / 1_000_000


class EndpointConfig(BaseModel):
    """How to reach one chat-completions endpoint. Holds no secrets: ``api_key_env`` names the
    environment variable that holds the key."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, validate_assignment=True)

    model: str = Field(min_length=1)
    base_url: str | None = None
    base_urls: list[str] = Field(default_factory=list)
    """Replicas of the same model (data-parallel servers); ``base_url`` is the first when unset."""
    api_key_env: str | None = None
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(5, ge=0)
    max_concurrency: int | None = Field(None, ge=1)
    """Calls in flight per replica; unset: follows the run's ``--concurrency`` (8 outside a run)."""
    temperature: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    price: PriceTable | None = None
    provider: Literal["openai", "litellm"] = "openai"
    # Beyond the OpenAI basics:
    stream: bool = True
    """Stream responses (needed for time-to-first-token); falls back automatically if rejected."""
    parse_text_tool_calls: bool = False
    """Recover tool calls the model wrote as text (```json blocks, <tool_call> tags...) when the
    server returned none. Useful for small local models."""
    prompt_suffix: str | None = None
    """Appended to the last user message of every request (e.g. ``" /no_think"`` for Qwen3)."""
    transport: Literal["aiohttp", "sdk"] = "aiohttp"
    """How an OpenAI-compatible endpoint is called: ``aiohttp``, a lean Chat Completions client
    (same requests, errors and retries, without the SDK's per-request httpx layer), or ``sdk``."""
    named_tool_choice: Literal["native", "emulate"] = "native"
    """``emulate``: send a named tool_choice as ``"required"`` with only that tool (for servers,
    such as llama.cpp, that accept only string tool_choice values)."""

    @model_validator(mode="before")
    @classmethod
    def _litellm_model_string(cls, data: Any) -> Any:
        """``xai/grok-2`` (a litellm provider string, no base_url) selects the litellm provider."""
        if isinstance(data, dict) and "provider" not in data and not data.get("base_url"):
            prefix, slash, _ = str(data.get("model") or "").partition("/")
            if slash and prefix in LITELLM_PREFIXES:
                data = {**data, "provider": "litellm"}
        return data

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not _ENV_NAME.match(v) or v.startswith(("sk-", "sk_")):
            raise ValueError(
                "must be the NAME of an environment variable (like OPENAI_API_KEY), not the key itself"
            )
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        out = []
        for url in v:
            if not str(url).startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https://")
            out.append(str(url).rstrip("/"))
        if len(set(out)) != len(out):
            raise ValueError("lists the same URL twice")
        return out

    @model_validator(mode="after")
    def _first_replica(self) -> EndpointConfig:
        if self.base_urls and self.base_url is None:
            object.__setattr__(self, "base_url", self.base_urls[0])
        return self

    def replica_urls(self) -> list[str | None]:
        """Every replica's base URL (one ``None`` for the provider's default)."""
        return list(self.base_urls) if self.base_urls else [self.base_url]

    def in_flight_cap(self, default: int | None = None) -> int:
        """Calls in flight per replica. In a run, ``default`` is its concurrency and ``max_concurrency``
        can only lower it; on its own, ``max_concurrency`` (else 8)."""
        if default is None:
            return self.max_concurrency or 8
        return min(self.max_concurrency, default) if self.max_concurrency else default

    def api_key(self) -> str | None:
        """The key from the environment (never stored on the config)."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def cost(
        self, prompt_tokens: int | None, completion_tokens: int | None, cached_tokens: int | None = None
    ) -> float | None:
        return self.price.cost(prompt_tokens, completion_tokens, cached_tokens) if self.price else None


class ModelsConfig(BaseModel):
    """Raw sections of a models file; use :meth:`resolve` to get a validated EndpointConfig."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    defaults: dict[str, Any] = Field(default_factory=dict)
    agent: dict[str, Any] | None = None
    user: dict[str, Any] | None = None
    reviewers: list[dict[str, Any]] = Field(default_factory=list)
    judge: dict[str, Any] | None = None
    experts: list[dict[str, Any]] = Field(default_factory=list)
    source: str | None = Field(default=None, exclude=True)

    def resolve(
        self, role: str, cli_overrides: Mapping[str, Any] | None = None
    ) -> EndpointConfig | list[EndpointConfig]:
        """Merge CLI overrides (``None`` values ignored) > role section > defaults section > built-ins.

        ``role`` is ``agent``, ``user``, ``judge`` (one EndpointConfig) or ``reviewers`` (a list;
        overrides apply to each). A ``user`` or ``judge`` with no section inherits the agent's.
        """
        overrides = {k: v for k, v in (cli_overrides or {}).items() if v is not None}
        where = self.source or "<models config>"
        if role == "reviewers":
            sections = self.reviewers or ([self.judge] if self.judge else [])
            if not sections and overrides:
                sections = [{}]
            return [
                _build({**self.defaults, **sec, **overrides}, f"{where}: reviewers[{i}]")
                for i, sec in enumerate(sections)
            ]
        if role == "experts":
            return [
                _build(
                    {**self.defaults, **{k: v for k, v in sec.items() if k != "name"}, **overrides},
                    f"{where}: experts[{i}]",
                )
                for i, sec in enumerate(self.experts)
            ]
        if role not in ("agent", "user", "judge"):
            raise ConfigError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        section = getattr(self, role)
        label = role
        if section is None and role != "agent" and self.agent is not None:
            section, label = self.agent, f"{role} (inherited from agent)"
        merged = {**self.defaults, **(section or {}), **overrides}
        if "model" not in merged:
            flag = {"agent": " or pass --model", "user": " or pass --user-model"}.get(role, "")
            raise ConfigError(
                f"{where}: no model configured for role {role!r}: set [{role}] model in the models file{flag}"
            )
        return _build(merged, f"{where}: {label}")


def _format_errors(e: ValidationError, prefix: str) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{prefix}.{loc}: {err.get('msg')}" if loc else f"{prefix}: {err.get('msg')}")
    return "; ".join(parts)


def _build(data: Mapping[str, Any], where: str) -> EndpointConfig:
    try:
        return EndpointConfig.model_validate(dict(data))
    except ValidationError as e:
        raise ConfigError(_format_errors(e, where)) from None


def load_models_config(path: str | os.PathLike[str]) -> ModelsConfig:
    """Read a TOML / YAML / JSON models file; every role section is validated eagerly so that
    mistakes are reported with the file and field, e.g. ``models.toml: agent.timeout_s: ...``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read models config: {e.strerror or e}") from None
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{p}: unsupported models config type {suffix!r} (use .toml, .yaml or .json)")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{p}: cannot parse YAML: {where}{' '.join(str(problem).split())}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}: cannot parse JSON: line {e.lineno}, column {e.colno}: {e.msg}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: cannot parse TOML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a table/mapping with sections {', '.join(ROLES)}")
    if isinstance(data.get("reviewers"), dict):
        data["reviewers"] = [data["reviewers"]]
    if isinstance(data.get("experts"), dict):
        data["experts"] = [data["experts"]]
    for role in ("agent", "user", "judge"):
        if isinstance(data.get(role), list):
            data[role] = merge_replicas(data[role], f"{p}: {role}")
    try:
        cfg = ModelsConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, str(p)).replace(f"{p}.", f"{p}: ")) from None
    cfg.source = str(p)
    # Validate each section now (model may still come from the CLI, so it is not required here).
    # [defaults] first, on its own, so that a mistake there is reported as defaults.*, not agent.*.
    if cfg.defaults:
        _check_partial(cfg.defaults, f"{p}: defaults")
    for role in ("agent", "user", "judge"):
        sec = getattr(cfg, role)
        if sec is not None:
            _check_partial({**cfg.defaults, **sec}, f"{p}: {role}")
    for i, sec in enumerate(cfg.reviewers):
        _check_partial({**cfg.defaults, **sec}, f"{p}: reviewers[{i}]")
    names = set()
    for i, sec in enumerate(cfg.experts):
        name = sec.get("name")
        if not isinstance(name, str) or not _EXPERT_NAME.match(name):
            raise ConfigError(f"{p}: experts[{i}].name: expected a name of letters, digits, - or _")
        if name in names:
            raise ConfigError(f"{p}: experts[{i}].name: {name!r} is used twice")
        names.add(name)
        _check_partial(
            {**cfg.defaults, **{k: v for k, v in sec.items() if k != "name"}}, f"{p}: experts[{i}]"
        )
    return cfg


_EXPERT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def merge_replicas(sections: list[Any], where: str) -> dict[str, Any]:
    """Repeated sections of one role (``[[agent]]`` twice) are replicas: every field but ``base_url``
    must agree; the URLs become ``base_urls``."""
    if not sections or not all(isinstance(s, dict) for s in sections):
        raise ConfigError(f"{where}: expected one table or a list of tables (replicas)")
    first = {k: v for k, v in sections[0].items() if k not in ("base_url", "base_urls")}
    urls: list[str] = []
    for i, sec in enumerate(sections):
        rest = {k: v for k, v in sec.items() if k not in ("base_url", "base_urls")}
        if rest != first:
            differ = sorted(k for k in set(rest) | set(first) if rest.get(k) != first.get(k))
            raise ConfigError(
                f"{where}[{i}]: replicas must differ only in base_url, but {', '.join(differ)} differ"
            )
        urls += ([sec["base_url"]] if sec.get("base_url") else []) + list(sec.get("base_urls") or [])
    return {**first, "base_urls": urls} if urls else first


def parse_experts(spec: str) -> dict[str, EndpointConfig]:
    """``NAME=model@url,NAME2=model2`` (the ``--experts`` option) as endpoint configs by name."""
    out: dict[str, EndpointConfig] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, eq, target = item.partition("=")
        if not eq or not _EXPERT_NAME.match(name) or not target:
            raise ConfigError(f"--experts: {item!r}: expected NAME=MODEL or NAME=MODEL@BASE_URL")
        if name in out:
            raise ConfigError(f"--experts: expert {name!r} is named twice")
        model, at, url = target.partition("@")
        out[name] = _build({"model": model, **({"base_url": url} if at else {})}, f"--experts: {name}")
    return out


def _check_partial(data: Mapping[str, Any], where: str) -> None:
    probe = dict(data)
    probe.setdefault("model", "placeholder")
    _build(probe, where)


def resolve(
    role: str,
    cli_overrides: Mapping[str, Any] | None = None,
    config: ModelsConfig | str | os.PathLike[str] | None = None,
) -> EndpointConfig | list[EndpointConfig]:
    """Module-level helper: ``resolve("agent", {"model": args.agent_model}, "models.toml")``."""
    if config is None:
        cfg = ModelsConfig()
    elif isinstance(config, ModelsConfig):
        cfg = config
    else:
        cfg = load_models_config(config)
    return cfg.resolve(role, cli_overrides)
