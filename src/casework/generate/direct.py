"""Direct LLM generation (``--method direct``): one prompt, one JSON blueprint ``{q, agt, ogt}``.

For slot ``index`` the generator asks the domain's :class:`~casework.domains.domain.LLMGeneration`
for a possible request (a scenario key, a user, the records it is about), renders a compact
context (:mod:`casework.generate.context`: the user, only their relevant records, the policy, the
tools, one or two templated blueprints as examples), asks the model for a blueprint with the
domain's system prompt and parses it:

- near-valid JSON is repaired (:func:`casework.jsontext.extract_json`: fences, prose,
  trailing commas, Python literals, missing closers), as are near-valid shapes (``instruction`` /
  ``actions`` / ``outputs`` keys, ``{"tool": .., "args": ..}`` calls, arguments as a JSON string,
  near-miss tool names, an identification tool called with another one's fields, an id without
  the prefix the domain's argument rules give it, a scalar where a list is expected);
- optionally (default on) made-up user ids become the task's user and the domain's ``repair``
  adds what the instruction must say (the request, the identification, ids the agent cannot look
  up) -- every repair is listed in ``metadata["repairs"]``;
- output that yields no blueprint raises :class:`GenerationError` with the reason and the raw
  text, which the pipeline records as a rejected attempt (and feeds back into the next one).

The raw response is always kept in ``metadata["raw_response"]``. Refinement: the target stays the
same across iterations of a slot; the next prompt carries the validation feedback and the start of
the previous answer.
"""

from __future__ import annotations

import difflib
import json
import random
from dataclasses import dataclass, field
from typing import Any

from casework.domains import Database, Domain, LLMGeneration, NoTarget, State, Target
from casework.generate.context import (
    build_context,
    example_blueprints,
    generated_task,
    keep_derivable,
    llm_hooks,
    pick_scenario,
    repair_ids,
)
from casework.generate.pipeline import GenerationError
from casework.jsontext import JSONTextError, extract_json
from casework.llm import LLMRequestError
from casework.tasks.model import Action, Task
from casework.validation.committee import ChatEndpoint

_Q_KEYS = ("q", "instruction", "query", "task", "user_instruction")
_AGT_KEYS = ("agt", "actions", "ground_truth_actions", "ground_truth", "tool_calls", "calls")
_OGT_KEYS = ("ogt", "outputs", "expected_outputs", "output")


class BlueprintError(ValueError):
    """The model's answer does not yield a blueprint."""


def _loads_strict(text: str) -> Any:
    """json.loads of the text or of its only code fence; None when that needs repairs."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").strip()
        if stripped[:4].lower() == "json":
            stripped = stripped[4:]
    try:
        return json.loads(stripped)
    except (json.JSONDecodeError, ValueError):
        return None


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    lowered = {str(k).strip().lower(): k for k in data}
    for key in keys:
        if key in lowered:
            return key, data[lowered[key]]
    return None, None


def _action(raw: Any, domain: Domain, state: State | None, repairs: list[str], index: int) -> Action:
    if isinstance(raw, dict) and isinstance(raw.get("function"), dict):
        raw = raw["function"]
    if not isinstance(raw, dict):
        raise BlueprintError(f"agt[{index}] is not an object: {str(raw)[:80]!r}")
    name = raw.get("name") or raw.get("tool") or raw.get("function") or raw.get("tool_name")
    if not isinstance(name, str) or not name.strip():
        raise BlueprintError(f"agt[{index}] has no tool name")
    name = name.strip()
    arguments = next(
        (raw[k] for k in ("arguments", "args", "kwargs", "parameters", "params", "input") if k in raw), {}
    )
    if isinstance(arguments, str):
        try:
            arguments = extract_json(arguments) if arguments.strip() else {}
        except JSONTextError:
            raise BlueprintError(f"agt[{index}] ({name}): arguments are not a JSON object") from None
        repairs.append(f"agt[{index}]: arguments given as a JSON string")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise BlueprintError(f"agt[{index}] ({name}): arguments are not an object")
    tools = domain.toolbox.tools
    if name not in tools:
        close = difflib.get_close_matches(name, list(tools), n=1, cutoff=0.8)
        if close:
            repairs.append(f"agt[{index}]: tool {name!r} -> {close[0]!r}")
            name = close[0]
    name = _identification_near_miss(domain, name, arguments, repairs, index)
    tool = tools.get(name)
    if tool is not None:
        properties = tool.parameters.get("properties", {})
        extra = [k for k in arguments if k not in properties]
        if extra and len(extra) < len(arguments):
            for key in extra:
                del arguments[key]
            repairs.append(f"agt[{index}]: dropped unknown arguments {', '.join(map(str, extra))}")
        for key, value in list(arguments.items()):
            kind = properties.get(key, {}).get("type")
            if kind == "array" and isinstance(value, str | int):
                arguments[key] = [str(value)]
                repairs.append(f"agt[{index}]: {key} given as a single value")
            elif kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
                arguments[key] = str(value)
                repairs.append(f"agt[{index}]: {key} given as a number")
        if state is not None:
            _id_prefixes(domain, state, arguments, repairs, index)
    return Action(name=name, arguments=arguments)


def _identification_near_miss(
    domain: Domain, name: str, arguments: dict[str, Any], repairs: list[str], index: int
) -> str:
    """An identification tool called with all the fields of another one (and not its own) -> that one."""
    ways = domain.users.identification
    if name not in ways or set(ways[name]) <= set(arguments):
        return name
    for other, fields in ways.items():
        if other != name and fields and set(fields) <= set(arguments):
            repairs.append(f"agt[{index}]: {name} with {', '.join(fields)} -> {other}")
            return other
    return name


def _id_prefixes(
    domain: Domain, state: State, arguments: dict[str, Any], repairs: list[str], index: int
) -> None:
    """An id of the user's records given without the prefix the domain's argument rules require."""
    for argument, prefix in domain.arguments.id_prefixes.items():
        table = domain.users.owned_ids.get(argument)
        value = arguments.get(argument)
        if table is None or table not in state.table_names or not isinstance(value, str):
            continue
        records = state[table]
        bare = value
        while prefix and bare.startswith(prefix):
            bare = bare[len(prefix) :]
        fixed = prefix + bare
        if value not in records and fixed in records:
            arguments[argument] = fixed
            repairs.append(f"agt[{index}]: {argument.replace('_', ' ')} {value!r} without {prefix!r}")


def parse_blueprint(
    text: str | None, domain: Domain, state: State | None = None
) -> tuple[str, list[Action], list[str], list[str]]:
    """``(q, agt, ogt, repairs)`` from a model answer; :class:`BlueprintError` when impossible."""
    if not text or not text.strip():
        raise BlueprintError("empty response")
    repairs: list[str] = []
    data = _loads_strict(text)
    if data is None:
        try:
            data = extract_json(text)
        except JSONTextError as exc:
            raise BlueprintError(f"the response is not a JSON blueprint: {exc}") from None
        repairs.append("near-valid JSON repaired")
    if isinstance(data, list):
        dicts = [d for d in data if isinstance(d, dict)]
        if not dicts:
            raise BlueprintError("the response is a JSON list without a blueprint object")
        data = dicts[0]
        repairs.append("blueprint taken from a list")
    q_key, q = _first(data, _Q_KEYS)
    if not isinstance(q, str) or not q.strip():
        raise BlueprintError('the blueprint has no instruction ("q")')
    agt_key, agt = _first(data, _AGT_KEYS)
    if isinstance(agt, dict):
        agt = [agt]
    if not isinstance(agt, list) or not agt:
        raise BlueprintError('the blueprint has no ground-truth actions ("agt")')
    ogt_key, ogt = _first(data, _OGT_KEYS)
    for key, canonical in ((q_key, "q"), (agt_key, "agt"), (ogt_key, "ogt")):
        if key is not None and key != canonical:
            repairs.append(f"key {key!r} read as {canonical!r}")
    actions = [_action(raw, domain, state, repairs, i) for i, raw in enumerate(agt)]
    if ogt is None:
        outputs: list[str] = []
    elif isinstance(ogt, list):
        outputs = [str(o) if not isinstance(o, str) else o for o in ogt if o is not None and o != ""]
    else:
        outputs = [str(ogt)]
        repairs.append("ogt given as a single value")
    return q.strip(), actions, outputs, repairs


async def call_model(client: ChatEndpoint, messages: list[dict[str, Any]], **params: Any) -> Any:
    """One model call; a request the endpoint rejects (context too long...) is a failed attempt.
    An unavailable endpoint (LLMUnavailable) propagates: the run stops, resumable, rather than
    recording every remaining slot as rejected."""
    try:
        return await client.chat(messages, **params)
    except LLMRequestError as exc:
        raise GenerationError(f"the model endpoint rejected the request: {exc}") from None


def usage_of(completion: Any) -> dict[str, Any]:
    usage = getattr(completion, "usage", None)
    if usage is None:
        return {}
    return {
        k: getattr(usage, k, None)
        for k in ("prompt_tokens", "completion_tokens", "latency_s")
        if getattr(usage, k, None) is not None
    }


@dataclass
class DirectGenerator:
    """The direct LLM generator as a pipeline :class:`~casework.generate.pipeline.Generator`."""

    domain: Domain
    database: Database
    client: ChatEndpoint
    seed: int = 0
    weights: dict[str, float] | None = None
    examples: int = 1
    budget_tokens: int = 1500
    max_tokens: int = 400
    temperature: float | None = None
    repair: bool = True
    name: str = "direct"
    _targets: dict[int, Target] = field(default_factory=dict, repr=False)
    _last_raw: dict[int, str] = field(default_factory=dict, repr=False)
    _examples: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.hooks: LLMGeneration = llm_hooks(self.domain, "direct")

    def target(self, index: int) -> Target:
        """The request of slot ``index`` (the same for every iteration of the slot)."""
        if index not in self._targets:
            rng = random.Random(f"casework/direct/{self.seed}/{index}")
            try:
                scenario = pick_scenario(rng, self.hooks, self.weights)
                self._targets[index] = self.hooks.sample_target(rng, self.database, scenario)
            except NoTarget as exc:
                raise GenerationError(f"no request could be sampled: {exc}") from None
        return self._targets[index]

    def messages(self, index: int, feedback: str | None) -> tuple[list[dict[str, Any]], list[str]]:
        target = self.target(index)
        examples = example_blueprints(
            self.domain, self.database, target.scenario, self.seed, self.examples, self._examples
        )
        context = build_context(self.domain, self.database, target, examples)
        static, task = context.render(self.budget_tokens)
        user = f"{task}\n\nScenario: {target.scenario}. The customer wants to {target.goal}."
        if feedback:
            previous = self._last_raw.get(index, "")[:600]
            if previous:
                user += f"\n\nYour previous answer:\n{previous}"
            user += f"\n\n{feedback}\nFix these problems."
        user += "\n\nWrite the task JSON."
        return [
            {"role": "system", "content": f"{self.hooks.direct_system}\n\n{static}"},
            {"role": "user", "content": user},
        ], context.trimmed

    async def generate(self, index: int, iteration: int, feedback: str | None) -> Task:
        target = self.target(index)
        messages, trimmed = self.messages(index, feedback)
        params: dict[str, Any] = {"max_tokens": self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        completion = await call_model(self.client, messages, **params)
        raw = getattr(completion, "content", None) or ""
        self._last_raw[index] = raw
        state = self.database.fork()
        try:
            q, actions, outputs, repairs = parse_blueprint(raw, self.domain, state)
        except BlueprintError as exc:
            raise GenerationError(f"unusable model output: {exc}", raw=raw) from None
        goal = self.hooks.goal_tools.get(target.scenario, frozenset())
        if goal and not any(a.name in goal for a in actions):
            raise GenerationError(
                f"off-target blueprint: scenario {target.scenario} needs a {' or '.join(sorted(goal))} call",
                raw=raw,
            )
        if self.repair:
            actions, fixed = repair_ids(self.domain, actions, state, target.user_id)
            q, actions, grounding = self.hooks.repair(q, actions, state, target)
            replay = self.database.fork()
            observations = [self.domain.call(replay, a.name, a.arguments) for a in actions]
            outputs, dropped = keep_derivable(outputs, observations)
            repairs += fixed + grounding + dropped
        return generated_task(
            self.domain,
            target,
            method="direct",
            seed=self.seed,
            index=index,
            iteration=iteration,
            instruction=q,
            actions=actions,
            outputs=outputs,
            raw=raw,
            repairs=repairs,
            feedback=feedback,
            usage=usage_of(completion),
            **({"context_trimmed": trimmed} if trimmed else {}),
        )
