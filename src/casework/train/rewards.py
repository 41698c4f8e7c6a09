"""Reward functions in TRL's signature, over one generated agent turn.

TRL's ``GRPOTrainer`` calls ``reward_func(prompts=..., completions=..., **columns)`` with one entry
per completion and every other dataset column as a keyword list; these functions read the columns
that ``casework export --format grpo`` writes (``domain``, ``data``, ``prior_calls``,
``reference_calls``; JSON text or already-parsed lists).

- :func:`shaped_reward_func`: the shaped reward (:mod:`casework.scoring.shaped`) of the completion's
  tool calls against the calls the rewarded trajectory made at that turn, normalised to [0, 1]. A
  turn where the reference answered in text scores 1 for a text answer and 0 for any call.
- :class:`ExecutionReward`: runs the calls made before the turn and then the completion's calls on a
  fresh fork of the domain's database, and compares with the same for the reference calls: 1.0 when
  the resulting state hashes the same and every observation matches, 0.5 when the state matches but
  the observations differ (e.g. a different read), 0.0 when the state differs.
- :func:`similarity_reward_func`: text similarity to the reference turn written out (dense shaping).

Tool calls are recovered from the completion's text with :func:`casework.llm.parsing.parse_text_tool_calls`
(```json blocks, ``<tool_call>`` tags, bare JSON), or taken from a structured ``tool_calls`` field.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from casework.domains import Database, Domain, get_domain
from casework.llm.parsing import parse_text_tool_calls
from casework.scoring.shaped import shaped_reward


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def completion_text(completion: Any) -> tuple[str, list[dict[str, Any]]]:
    """The text of a completion (plain string or conversational list) and any structured tool calls."""
    if isinstance(completion, str):
        return completion, []
    if isinstance(completion, dict):
        completion = [completion]
    text_parts, calls = [], []
    for message in completion or []:
        if message.get("role", "assistant") != "assistant":
            continue
        text_parts.append(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            fn = call.get("function", call)
            calls.append({"name": fn.get("name", ""), "arguments": fn.get("arguments", {})})
    return "\n".join(text_parts), calls


def _arguments_or_text(raw: str) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return raw


def parse_completion_calls(completion: Any, domain: Domain) -> list[dict[str, Any]]:
    """The ``{"name", "arguments"}`` calls in a completion (arguments parsed when valid JSON)."""
    text, structured = completion_text(completion)
    if not structured:
        _, parsed = parse_text_tool_calls(text, domain.toolbox.tools.keys())
        structured = [{"name": c.name, "arguments": c.arguments} for c in parsed]
    out = []
    for call in structured:
        args = call["arguments"]
        if isinstance(args, str):
            args = _arguments_or_text(args)
        out.append({"name": call["name"], "arguments": args})
    return out


def _required(domain: Domain):
    def required(name: str) -> list[str]:
        found = domain.toolbox.tools.get(name)
        return list(found.parameters.get("required", [])) if found else []

    return required


def _column(kwargs: dict[str, Any], name: str, n: int) -> list[Any]:
    if name not in kwargs:
        raise KeyError(f"reward function needs the dataset column {name!r} (export with --format grpo)")
    values = kwargs[name]
    return list(values) if isinstance(values, list | tuple) else [values] * n


def shaped_reward_func(completions: list[Any], **kwargs: Any) -> list[float]:
    """TRL reward: normalised shaped reward of each completion's calls against ``reference_calls``."""
    n = len(completions)
    domains = _column(kwargs, "domain", n)
    references = _column(kwargs, "reference_calls", n)
    rewards = []
    for completion, domain_name, reference in zip(completions, domains, references, strict=True):
        domain = get_domain(domain_name)
        called = parse_completion_calls(completion, domain)
        # a call whose arguments are not a JSON object still counts by name, with no arguments
        called = [
            {**c, "arguments": c["arguments"] if isinstance(c["arguments"], dict) else {}} for c in called
        ]
        shaped = shaped_reward(
            _loads(reference), called, required_args=_required(domain), rules=domain.arguments
        )
        rewards.append(shaped.normalized)
    return rewards


@lru_cache(maxsize=8)
def _database(domain_name: str, data: str | None) -> Database:
    from pathlib import Path

    domain = get_domain(domain_name)
    return domain.database(Path(data) if data else None)


def _run_calls(
    domain: Domain, database: Database, prior: list[dict], calls: list[dict]
) -> tuple[str, list[str]]:
    state = database.fork()
    for call in prior:
        domain.call(state, call["name"], call["arguments"])
    observations = [domain.call(state, c["name"], c["arguments"]) for c in calls]
    return state.canonical_hash(), observations


class ExecutionReward:
    """TRL reward: run the completion's calls on a fork and compare the state with the reference's."""

    __name__ = "execution_reward"

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        n = len(completions)
        domains = _column(kwargs, "domain", n)
        datas = kwargs.get("data") or [None] * n
        priors = _column(kwargs, "prior_calls", n)
        references = _column(kwargs, "reference_calls", n)
        rewards = []
        for completion, domain_name, data, prior, reference in zip(
            completions, domains, datas, priors, references, strict=True
        ):
            domain = get_domain(domain_name)
            database = _database(domain_name, data)
            prior_calls = _loads(prior)
            want_hash, want_obs = _run_calls(domain, database, prior_calls, _loads(reference))
            got_hash, got_obs = _run_calls(
                domain, database, prior_calls, parse_completion_calls(completion, domain)
            )
            if got_hash != want_hash:
                rewards.append(0.0)
            else:
                rewards.append(1.0 if got_obs == want_obs else 0.5)
        return rewards


execution_reward_func = ExecutionReward()


def render_turn(text: str, calls: list[dict[str, Any]]) -> str:
    """An agent turn as the embedded model writes it: text, then one ```json block per call."""
    blocks = [
        "```json\n"
        + json.dumps({"name": c["name"], "arguments": c["arguments"]}, ensure_ascii=False)
        + "\n```"
        for c in calls
    ]
    return "\n".join(part for part in [text, *blocks] if part)


def similarity_reward_func(completions: list[Any], **kwargs: Any) -> list[float]:
    """TRL reward: how closely the completion's text matches the reference turn written out
    (:func:`render_turn`), as :class:`difflib.SequenceMatcher`'s ratio in [0, 1]. A dense signal for
    a policy that does not yet write parseable calls; combine it with the shaped reward."""
    from difflib import SequenceMatcher

    n = len(completions)
    references = _column(kwargs, "reference_calls", n)
    texts = kwargs.get("reference_text") or [""] * n
    rewards = []
    for completion, reference, text in zip(completions, references, texts, strict=True):
        got, structured = completion_text(completion)
        if structured:
            got = render_turn(got, structured)
        want = render_turn(text or "", _loads(reference))
        rewards.append(SequenceMatcher(None, got.strip(), want, autojunk=False).ratio())
    return rewards


REWARD_FUNCS = {
    "shaped": shaped_reward_func,
    "execution": execution_reward_func,
    "similarity": similarity_reward_func,
}
