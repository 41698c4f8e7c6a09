"""Direct LLM generation (``--method direct``): one prompt, one JSON blueprint ``{q, agt, ogt}``.

For slot ``index`` the generator samples a possible request (:mod:`casework.generate.context`: a
scenario key, a user, the order or items it is about), renders a compact context (the user, only
their relevant orders, only the products involved, the policy, the tools, one or two templated
blueprints as examples), asks the model for a blueprint and parses it:

- near-valid JSON is repaired (:func:`casework.generate.jsontext.extract_json`: fences, prose,
  trailing commas, Python literals, missing closers), as are near-valid shapes (``instruction`` /
  ``actions`` / ``outputs`` keys, ``{"tool": .., "args": ..}`` calls, arguments as a JSON string,
  near-miss tool names, an order id without its ``#``, a scalar where a list is expected);
- optionally (default on) :func:`casework.generate.context.repair_grounding` adds what the
  instruction must say (the identification, order ids) -- every repair is listed in
  ``metadata["repairs"]``;
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

from casework.domains import Database, Domain, State
from casework.generate.committee import ChatEndpoint
from casework.generate.context import (
    GOAL_TOOLS,
    NoTarget,
    Target,
    build_context,
    ensure_request,
    example_blueprints,
    generated_task,
    keep_derivable,
    pick_scenario,
    repair_grounding,
    repair_ids,
    sample_target,
)
from casework.generate.jsontext import JSONTextError, extract_json
from casework.generate.pipeline import GenerationError
from casework.llm import LLMRequestError
from casework.tasks.model import Action, Task

SYSTEM = """You write test tasks for a retail customer-service AI agent. A task is one JSON object:
{"q": "<instruction for the simulated customer, second person: who you are, your email (or name and zip), what you want, the order id>",
 "agt": [{"name": "<tool>", "arguments": {...}}, ...],
 "ogt": ["<value the agent must tell the customer>", ...]}
agt lists the agent's correct tool calls in order: first identify the user, then look up, then act, following the policy. Use only ids from the context. ogt is often empty.
Answer with the JSON object only, compact, on one line."""

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
    keys = set(arguments)
    if name == "find_user_id_by_email" and "email" not in keys and {"first_name", "last_name", "zip"} <= keys:
        repairs.append(f"agt[{index}]: find_user_id_by_email with name and zip -> find_user_id_by_name_zip")
        name = "find_user_id_by_name_zip"
    elif name == "find_user_id_by_name_zip" and "email" in keys and not {"first_name", "last_name"} & keys:
        repairs.append(f"agt[{index}]: find_user_id_by_name_zip with an email -> find_user_id_by_email")
        name = "find_user_id_by_email"
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
        order_id = arguments.get("order_id")
        if (
            state is not None
            and isinstance(order_id, str)
            and order_id not in state["orders"]
            and "#" + order_id.lstrip("#") in state["orders"]
        ):
            arguments["order_id"] = "#" + order_id.lstrip("#")
            repairs.append(f"agt[{index}]: order id {order_id!r} without '#'")
    return Action(name=name, arguments=arguments)


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
        if self.domain.name != "retail":
            raise ValueError(f"the direct generator knows retail scenarios only, not {self.domain.name!r}")

    def target(self, index: int) -> Target:
        """The request of slot ``index`` (the same for every iteration of the slot)."""
        if index not in self._targets:
            rng = random.Random(f"casework/direct/{self.seed}/{index}")
            try:
                self._targets[index] = sample_target(rng, self.database, pick_scenario(rng, self.weights))
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
            {"role": "system", "content": f"{SYSTEM}\n\n{static}"},
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
        goal = GOAL_TOOLS.get(target.scenario, frozenset())
        if goal and not any(a.name in goal for a in actions):
            raise GenerationError(
                f"off-target blueprint: scenario {target.scenario} needs a {' or '.join(sorted(goal))} call",
                raw=raw,
            )
        if self.repair:
            q, asked = ensure_request(q, target)
            repairs += asked
            actions, fixed = repair_ids(actions, state, target.user_id)
            q, actions, grounding = repair_grounding(q, actions, state, target.user_id)
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
