"""Multi-turn GRPO with tools: the environment TRL's ``environment_factory`` gets (TRL 1.16's
interface: ``reset(**row)``, one typed + documented method per tool, ``get_reward()``), the response
template that recovers the embedded model's ```json tool calls, and `casework train grpo --multi-turn`
on a tiny random model whose parameters change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("gymnasium")

from transformers.utils import get_json_schema  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from casework.cli import app  # noqa: E402
from casework.domains import get_domain  # noqa: E402
from casework.domains.registry import available  # noqa: E402
from casework.generate.templated import generate_templated  # noqa: E402
from casework.tasks import save_tasks  # noqa: E402
from casework.train.trl_env import (  # noqa: E402
    RESPONSE_TEMPLATE,
    environment_class,
    environment_factory,
    environment_rows,
)


@pytest.fixture(scope="module")
def tasks():
    domain = get_domain("retail")
    return generate_templated(domain, domain.database(), 3, seed=1)


@pytest.mark.parametrize("name", sorted(available()))
def test_every_agent_tool_is_a_method_with_the_same_schema(name: str):
    """TRL builds the prompt's tool schemas from the methods with transformers' get_json_schema: they
    must say what the domain's own schemas say (names, parameters, required ones, JSON types)."""
    domain = get_domain(name)
    cls = environment_class(name)
    for schema in domain.toolbox.openai_schemas():
        want = schema["function"]
        got = get_json_schema(getattr(cls, want["name"]))["function"]
        assert got["name"] == want["name"]
        props, wanted = got["parameters"]["properties"], want["parameters"].get("properties", {})
        assert set(props) == set(wanted)
        assert set(got["parameters"].get("required", [])) == set(want["parameters"].get("required", []))
        for key, spec in wanted.items():
            kind = spec.get("type")
            if isinstance(kind, str):
                assert props[key]["type"] == kind, (want["name"], key)


def test_an_episode_through_the_environment_methods(tasks):
    factory = environment_factory(tasks, domain="retail")
    env = factory()
    rows = environment_rows(tasks, "retail")
    assert rows[0]["prompt"][0]["role"] == "system" and rows[0]["prompt"][1] == {
        "role": "user",
        "content": "",
    }
    opening = env.reset(**rows[0])  # TRL passes the whole row
    assert isinstance(opening, str) and opening.strip()
    assert env.get_reward() == 0.0  # no calls yet
    task = tasks[0]
    rewards = []
    for action in task.actions:  # as TRL calls a tool: method(**arguments)
        observation = getattr(env, action.name)(**action.arguments)
        assert isinstance(observation, str) and observation
        rewards.append(env.get_reward())
    assert rewards == sorted(rewards) and rewards[-1] == 1.0  # every expected call made: full shaped reward
    assert [c["name"] for c in env.calls] == [a.name for a in task.actions]

    other = factory()  # one instance per rollout: isolated episodes
    other.reset(**rows[1])
    assert other.calls == [] and env.calls
    wrong = next(n for n in get_domain("retail").toolbox.tools if n not in {a.name for a in tasks[1].actions})
    first_tool = get_domain("retail").toolbox.tools[wrong]
    required = first_tool.parameters.get("required", [])
    getattr(other, wrong)(**dict.fromkeys(required, "nope"))
    assert other.get_reward() == 0.0  # a wrong call earns nothing


def test_the_response_template_recovers_tool_calls_the_embedded_model_writes():
    """A completion in the serving template's format (```json blocks) parses into OpenAI tool calls,
    the way TRL reads them before running the environment's methods."""
    from trl.chat_template_utils import parse_response

    from casework.train.models import tiny_tokenizer

    tokenizer = tiny_tokenizer(["hello", "find_user_id_by_email"])
    tokenizer.response_template = RESPONSE_TEMPLATE
    messages = [{"role": "user", "content": "hi"}]
    call = {"name": "find_user_id_by_email", "arguments": {"email": "a@b.c"}}
    rendered = tokenizer.apply_chat_template(
        messages
        + [
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [{"type": "function", "function": call}],
            }
        ],
        tokenize=False,
    )
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    completion = rendered[len(prompt) :]
    assert "```json" in completion
    parsed = parse_response(
        tokenizer, tokenizer(completion)["input_ids"], prefix=tokenizer(prompt)["input_ids"]
    )
    assert parsed["content"] == "Let me look."
    assert parsed["tool_calls"] == [{"type": "function", "function": call}]
    text_only = parse_response(
        tokenizer, tokenizer("No tool needed.<|im_end|>")["input_ids"], prefix=tokenizer(prompt)["input_ids"]
    )
    assert text_only == {"role": "assistant", "content": "No tool needed."}


def test_train_grpo_multi_turn_changes_the_parameters(tasks, tmp_path: Path):
    save_tasks(tasks[:2], tmp_path / "tasks.json")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "train", "grpo", "--multi-turn", "--tasks", str(tmp_path / "tasks.json"), "--domain", "retail",
            "--base", "tiny", "--max-steps", "1", "--num-generations", "2", "--max-completion-length", "16",
            "--lr", "0.01", "--reward", "shaped", "--reward", "similarity", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 1 and summary["params_changed"] is True and summary["max_param_change"] > 0
    logged = summary["history"][0]
    # the environment's reward is a reward source of its own, next to the similarity reward
    assert "rewards/CaseworkToolEnv_retail/mean" in logged
    assert "rewards/similarity_reward_func/mean" in logged
    assert "tools/call_frequency" in logged
    assert (out / "final" / "adapter_config.json").exists()


def test_multi_turn_option_mistakes(tmp_path: Path):
    runner = CliRunner()
    no_tasks = runner.invoke(app, ["train", "grpo", "--multi-turn", "--base", "tiny"])
    assert no_tasks.exit_code == 2 and "--multi-turn needs --tasks" in no_tasks.output
    both = runner.invoke(app, ["train", "grpo", "--multi-turn", "--tasks", "t.json", "--data", "d"])
    assert both.exit_code == 2 and "drop --data" in both.output
    tasks_alone = runner.invoke(app, ["train", "grpo", "--data", "d", "--tasks", "t.json"])
    assert tasks_alone.exit_code == 2 and "work with --multi-turn only" in tasks_alone.output
    missing = runner.invoke(
        app, ["train", "grpo", "--multi-turn", "--tasks", str(tmp_path / "none.json"), "--base", "tiny"]
    )
    assert missing.exit_code == 2 and "none.json" in missing.output and "Traceback" not in missing.output
