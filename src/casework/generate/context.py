"""What the LLM generators (direct, AgentFlow) show a model, and what they share afterwards.

The domain's :class:`~casework.domains.domain.LLMGeneration` samples a
:class:`~casework.domains.domain.Target` (one concrete, possible request of one user) and renders
the user and their relevant records; here that context is fitted into ``budget_tokens`` (the
embedded model is a 0.5B model with an 8k window): tool schemas in full or as signatures
(``name(required, args)``), the policy in full or as the domain's digest, then examples and
records dropped from the end.

Also here: the few-shot examples (templated blueprints of the same scenario, when the domain has
a scenario library), :func:`keep_derivable` and :func:`repair_ids` (generic repairs), and
:func:`generated_task`, which both generators use to build their task.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.domains import Database, Domain, LLMGeneration, NoTarget, State, Target
from casework.tasks.model import Action, Task


def approx_tokens(text: str) -> int:
    """Rough token count (JSON-heavy text runs at about 3.5 characters per token)."""
    return int(len(text) / 3.5) + 1


def llm_hooks(domain: Domain, method: str) -> LLMGeneration:
    """The domain's LLM-generation hooks; a clear :class:`ValueError` naming the domain when it has none."""
    if domain.llm_generation is None:
        raise ValueError(
            f"domain {domain.name!r} has no LLM-generation hooks (Domain.llm_generation), so the "
            f"{method} generator cannot write tasks for it; use --method templated if it has scenarios"
        )
    return domain.llm_generation


def pick_scenario(rng: random.Random, hooks: LLMGeneration, weights: Mapping[str, float] | None) -> str:
    from casework.generate.templated import weighted_order

    order = weighted_order(rng, weights or dict.fromkeys(hooks.keys, 1.0))
    if not order:
        raise NoTarget("no scenario has a positive weight")
    return order[0]


def tool_signatures(domain: Domain, names: Sequence[str] | None = None) -> str:
    lines = []
    for name in names or domain.toolbox.names():
        tool = domain.toolbox[name]
        lines.append(f"{name}({', '.join(tool.parameters.get('required', []))})")
    return "\n".join(lines)


def tool_schemas(domain: Domain, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return [domain.toolbox[n].openai_schema() for n in (names or domain.toolbox.names())]


def scenario_tools(domain: Domain, hooks: LLMGeneration, scenario: str) -> list[str]:
    """The identification tools, then the scenario's tools (all tools when it names none)."""
    names = [*domain.users.identification, *hooks.scenario_tools.get(scenario, ())]
    return [n for n in dict.fromkeys(names) if n in domain.toolbox] or domain.toolbox.names()


@dataclass
class Context:
    """The rendered sections; :meth:`render` fits them into a token budget."""

    user: str
    sections: list[tuple[str, str, list[str]]]
    policy_full: str
    policy_digest: str
    tools_full: str
    tools_short: str
    examples: list[str]
    trimmed: list[str] = field(default_factory=list)

    def render(self, budget_tokens: int) -> tuple[str, str]:
        """(static part: policy, tools, examples; task part: user and records), trimmed to fit."""
        policy, tools = self.policy_full, self.tools_full
        examples = list(self.examples)
        sections = [(title, unit, list(entries)) for title, unit, entries in self.sections]
        self.trimmed = []

        def size() -> int:
            records = "".join(e for _, _, entries in sections for e in entries)
            return approx_tokens(policy + tools + "".join(examples) + records + self.user)

        if size() > budget_tokens:
            tools = self.tools_short
            self.trimmed.append("tool schemas -> signatures")
            if size() > budget_tokens:
                policy = self.policy_digest
                self.trimmed.append("policy -> digest")
        while size() > budget_tokens and len(examples) > 0:
            examples.pop()
            self.trimmed.append("dropped an example")
        for _, unit, entries in sections:
            while size() > budget_tokens and len(entries) > 1:
                entries.pop()
                self.trimmed.append(f"dropped {unit}")
        static = f"Policy:\n{policy}\n\nTools (name(required arguments)):\n{tools}"
        if examples:
            static += "\n\nExample of a good task (another user):\n" + "\n".join(examples)
        task = f"Customer: {self.user}"
        for title, _, entries in sections:
            if entries:
                task += f"\n{title}:\n" + "\n".join(entries)
        return static, task


def build_context(
    domain: Domain, database: Database, target: Target, examples: list[str], *, max_records: int = 4
) -> Context:
    hooks = llm_hooks(domain, "LLM")
    rendered = hooks.context(database.fork(), target, max_records)
    names = scenario_tools(domain, hooks, target.scenario)
    return Context(
        user=rendered.user,
        sections=[(title, unit, list(entries)) for title, unit, entries in rendered.sections],
        policy_full=domain.policy,
        policy_digest=hooks.policy_digest,
        tools_full=json.dumps([s["function"] for s in tool_schemas(domain, names)], separators=(",", ":")),
        tools_short=tool_signatures(domain, names),
        examples=examples,
    )


def blueprint_json(task: Task) -> str:
    return json.dumps(
        {"q": task.instruction, "agt": [a.model_dump() for a in task.actions], "ogt": task.outputs},
        ensure_ascii=False,
    )


def example_blueprints(
    domain: Domain, database: Database, scenario: str, seed: int, count: int, cache: dict
) -> list[str]:
    """``count`` templated blueprints for ``scenario`` (another user each), cached per scenario;
    none when the domain has no scenario library or no such scenario."""
    from casework.generate.templated import build_templated_task

    key = (scenario, seed, count)
    if key not in cache:
        found = []
        if domain.scenarios is not None and scenario in domain.scenarios.keys:
            for k in range(count):
                try:
                    found.append(
                        blueprint_json(
                            build_templated_task(domain, database, 10_000 + k, seed, scenario=scenario)
                        )
                    )
                except (RuntimeError, ValueError):
                    break
        cache[key] = found
    return cache[key]


def goal_reached(domain: Domain, hooks: LLMGeneration, target: Target, actions: Sequence[Action]) -> bool:
    """A goal tool of the scenario succeeded on the target's own records (when it names one)."""
    goal = hooks.goal_tools.get(target.scenario, frozenset())
    owned = list(domain.users.owned_ids)
    for action in actions:
        if action.name not in goal:
            continue
        named = [action.arguments[k] for k in owned if k in action.arguments]
        if not target.ids or not named or all(value in target.ids for value in named):
            return True
    return False


def keep_derivable(
    outputs: list[str], observations: list[str], limit: int = 5
) -> tuple[list[str], list[str]]:
    """(outputs an observation supports, repairs): the policy stage's rule, applied before it runs;
    duplicates dropped, at most ``limit`` kept."""
    from casework.tasks.replay import as_number, numbers_and_text

    numbers, text = numbers_and_text(observations)
    kept: list[str] = []
    repairs: list[str] = []
    for output in dict.fromkeys(o.strip() for o in outputs if o and o.strip()):
        number = as_number(output)
        if (number in numbers) if number is not None else output.lower() in text:
            if len(kept) < limit:
                kept.append(output)
        else:
            repairs.append(f"dropped output {output[:120]!r} (not in any observation)")
    return kept, repairs


def repair_ids(
    domain: Domain, actions: list[Action], state: State, user_id: str
) -> tuple[list[Action], list[str]]:
    """A user-id argument naming no user at all (a made-up id) becomes the task's user."""
    users = domain.users
    field_name = users.owner_field
    if users.table is None or users.table not in state.table_names:
        return actions, []
    table = state[users.table]
    repairs: list[str] = []
    fixed = []
    for index, action in enumerate(actions):
        given = action.arguments.get(field_name)
        if isinstance(given, str) and given != user_id and given not in table:
            action = Action(name=action.name, arguments={**action.arguments, field_name: user_id})
            repairs.append(f"agt[{index}]: unknown {field_name} {given!r} -> {user_id!r}")
        fixed.append(action)
    return fixed, repairs


def generated_task(
    domain: Domain,
    target: Target,
    *,
    method: str,
    seed: int,
    index: int,
    iteration: int,
    instruction: str,
    actions: list[Action],
    outputs: list[str],
    raw: str,
    repairs: list[str],
    feedback: str | None,
    **details: Any,
) -> Task:
    """The task an LLM generator produced, with the metadata both generators record.

    ``details`` adds method-specific metadata (turns, usage, trimming).
    """
    from casework.generate.templated import rw_mix

    metadata: dict[str, Any] = {
        "generation_method": method,
        "seed": seed,
        "index": index,
        "iteration": iteration,
        "goal": target.goal,
        "num_actions": len(actions),
        "rw_mix": rw_mix(domain, actions),
        **details,
        "raw_response": raw[:4000],
        "repairs": repairs,
        **target.metadata,
    }
    if feedback:
        metadata["feedback"] = feedback[:1000]
    return Task(
        id=f"{method}-{seed}-{index}",
        domain=domain.name,
        user_id=target.user_id,
        instruction=instruction,
        actions=actions,
        outputs=outputs,
        scenario=target.scenario,
        metadata=metadata,
    )
