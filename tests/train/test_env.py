"""The Gymnasium environment: API conformance, the oracle earns 1, dense shaping, truncation."""

from __future__ import annotations

import json

import pytest

gym = pytest.importorskip("gymnasium")

from casework.train.env import CaseworkEnv, oracle_turns  # noqa: E402


@pytest.fixture
def env(oracle_tasks):
    e = CaseworkEnv(oracle_tasks, max_steps=12)
    yield e
    e.close()


def play(env, task, turns):
    obs, info = env.reset(options={"task": task.id})
    total, steps = 0.0, 0
    for turn in turns:
        obs, reward, terminated, truncated, info = env.step(turn)
        assert env.observation_space.contains(obs)
        total += reward
        steps += 1
        if terminated or truncated:
            return total, terminated, truncated, info
    raise AssertionError(f"episode of {task.id} did not end after {steps} turns")


def test_passes_the_gymnasium_env_checker(env):
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)


def test_the_oracle_policy_earns_reward_one_on_every_task(env, oracle_tasks):
    reasons = set()
    for task in oracle_tasks:
        total, terminated, truncated, info = play(env, task, oracle_turns(task))
        assert (total, terminated, truncated) == (1.0, True, False), (task.id, info.get("termination_reason"))
        assert info["task_reward"] == 1.0
        reasons.add(info["termination_reason"])
    assert reasons == {"user_stop", "transfer"}  # the set has a transfer task


def test_observations_are_the_new_messages(env, oracle_tasks):
    task = oracle_tasks[0]
    obs, info = env.reset(options={"task": task.id})
    opening = json.loads(obs)
    assert [m["role"] for m in opening] == ["system", "user"] and info["tools"]
    obs, *_, info = env.step(oracle_turns(task)[0])
    new = json.loads(obs)
    assert [m["role"] for m in new] == ["assistant", "tool"]
    assert new[0]["tool_calls"][0]["function"]["name"] == task.actions[0].name
    assert not new[1]["content"].startswith("Error")
    # a JSON assistant message works as well as text
    call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": task.actions[1].name, "arguments": json.dumps(task.actions[1].arguments)}}
        ],
    }
    obs, *_ = env.step(json.dumps(call))
    assert json.loads(obs)[1]["role"] == "tool"


def test_wrong_play_earns_nothing_and_dense_shaping_rewards_progress(oracle_tasks):
    task = next(t for t in oracle_tasks if len(t.actions) >= 3)
    plain = CaseworkEnv(oracle_tasks, max_steps=3)
    total, terminated, truncated, info = play(plain, task, ["Hello, how are you?"] * 5)
    assert total == 0.0 and info["task_reward"] == 0.0
    assert terminated or truncated
    dense = CaseworkEnv(oracle_tasks, dense=True)
    dense.reset(options={"task": task.id})
    _, first, *_ = dense.step(oracle_turns(task)[0])
    assert first > 0.0  # one right call: shaped progress
    total, terminated, _, info = play(dense, task, oracle_turns(task))
    assert terminated and info["task_reward"] == 1.0 and total > 1.0


def test_step_after_the_end_is_refused(env, oracle_tasks):
    task = oracle_tasks[0]
    play(env, task, oracle_turns(task))
    with pytest.raises(RuntimeError, match="reset"):
        env.step("hi")
