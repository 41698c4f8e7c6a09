"""Models config loading and precedence."""

from __future__ import annotations

import json

import pytest

from casework.llm import ConfigError, EndpointConfig, load_models_config, resolve
from casework.llm.config import PriceTable

TOML = """
[defaults]
timeout_s = 60

[agent]
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
temperature = 0.0
price = { prompt = 0.15, completion = 0.6, cached = 0.075 }

[user]
model = "local-qwen"
base_url = "http://127.0.0.1:8080/v1"

[[reviewers]]
model = "rev-a"

[[reviewers]]
model = "rev-b"
max_concurrency = 2
"""


@pytest.fixture
def toml_file(tmp_path):
    p = tmp_path / "models.toml"
    p.write_text(TOML)
    return p


def test_load_toml_and_resolve(toml_file):
    cfg = load_models_config(toml_file)
    agent = cfg.resolve("agent")
    assert isinstance(agent, EndpointConfig)
    assert (agent.model, agent.timeout_s, agent.max_retries, agent.temperature) == ("gpt-4o-mini", 60, 5, 0.0)
    assert agent.price == PriceTable(prompt=0.15, completion=0.6, cached=0.075)
    user = cfg.resolve("user")
    assert user.base_url == "http://127.0.0.1:8080/v1" and user.api_key_env is None
    revs = cfg.resolve("reviewers")
    assert [r.model for r in revs] == ["rev-a", "rev-b"] and revs[1].max_concurrency == 2
    # judge inherits the agent's endpoint
    assert cfg.resolve("judge").model == "gpt-4o-mini"


def test_cli_overrides_win(toml_file):
    cfg = load_models_config(toml_file)
    a = cfg.resolve("agent", {"model": "gpt-4o", "timeout_s": 10, "base_url": None})
    assert (a.model, a.timeout_s, a.api_key_env) == ("gpt-4o", 10, "OPENAI_API_KEY")
    assert resolve("agent", {"model": "m"}).model == "m"  # no file: CLI + built-in defaults
    assert resolve("agent", {"model": "m"}).timeout_s == 120


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_yaml_and_json(tmp_path, fmt):
    data = {"agent": {"model": "a", "max_tokens": 100}, "reviewers": [{"model": "r"}]}
    p = tmp_path / f"m.{fmt}"
    if fmt == "json":
        p.write_text(json.dumps(data))
    else:
        p.write_text("agent:\n  model: a\n  max_tokens: 100\nreviewers:\n  - model: r\n")
    cfg = load_models_config(p)
    assert cfg.resolve("agent").max_tokens == 100 and cfg.resolve("reviewers")[0].model == "r"


def test_errors_name_file_and_field(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[agent]\nmodel = "x"\ntimeout_s = -1\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: agent\.timeout_s"):
        load_models_config(p)
    p.write_text('[agent]\nmodel = "x"\nbogus = 1\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: agent\.bogus"):
        load_models_config(p)
    p.write_text("[agent\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: cannot parse"):
        load_models_config(p)
    p.write_text('[agnet]\nmodel = "x"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: agnet"):
        load_models_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_models_config(tmp_path / "missing.toml")
    q = tmp_path / "m.ini"
    q.write_text("")
    with pytest.raises(ConfigError, match="unsupported"):
        load_models_config(q)


def test_missing_model_is_clear(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[agent]\nbase_url = "http://localhost:1/v1"\n')
    cfg = load_models_config(p)
    with pytest.raises(ConfigError, match=r"m\.toml: no model configured for role 'agent'.*pass --model"):
        cfg.resolve("agent")
    assert cfg.resolve("agent", {"model": "cli"}).base_url == "http://localhost:1/v1"


def test_api_key_value_rejected_and_not_echoed(tmp_path):
    secret = "sk-proj-abcdefSECRET123"
    p = tmp_path / "m.toml"
    p.write_text(f'[agent]\nmodel = "x"\napi_key_env = "{secret}"\n')
    with pytest.raises(ConfigError) as ei:
        load_models_config(p)
    assert "NAME of an environment variable" in str(ei.value) and secret not in str(ei.value)


def test_api_key_read_from_env_only(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-zzz")
    c = EndpointConfig(model="m", api_key_env="MY_KEY")
    assert c.api_key() == "sk-zzz"
    assert "sk-zzz" not in repr(c) and "sk-zzz" not in c.model_dump_json()


def test_price_cost():
    pt = PriceTable(prompt=2.0, completion=8.0)
    assert pt.cost(1000, 500, 400) == pytest.approx(
        (1000 * 2 + 500 * 8) / 1e6
    )  # cached defaults to prompt price
    assert EndpointConfig(model="m").cost(1, 1) is None
