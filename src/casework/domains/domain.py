"""The domain contract: everything a generic stage may ask about one world (retail, airline, ...).

Generic packages (``tasks/``, ``generate/``, ``sim/``, ``scoring/``, ``runs/``, ``reports/``,
``train/``) never name a domain's tools, tables, fields or id formats. They take a :class:`Domain`
and ask it. A domain is plain data plus a few callables, grouped by who asks:

- **identity**: ``name``, ``tables``, the toolbox (``profiles`` when the domain offers more than one
  tool set, e.g. tau-bench v1's and τ³'s), the policy texts (``policies``: ``default`` and, where it
  exists, ``solo``), database loaders (``load_data`` reads every layout the domain supports),
  ``default_data`` (the embedded database) and ``generate_data`` (synthetic data at any scale);
- **who the user is** (:class:`UserModel`): the user table, the identification tools and the
  fields the user must state for each, the profile tool that lets an agent find the user's records,
  which argument fields name records the user owns, and the facts a scripted user may reveal
  (:class:`UserFacts`);
- **argument rules** (:class:`ArgumentRules`) for normalising and matching actions: id prefixes,
  case-insensitive fields, code-like fields, lists the tool sorts, free-text arguments, tools left
  out of action metrics, the transfer tool;
- **checks**: ``grounding`` (ids that do not exist or are not the user's), ``policy_rules`` (the
  policy as unit-test-like rules over an execution trace, the validation stage ``policy``), the
  read/write kind of each tool (from the toolbox);
- **the user's side** (dual control): ``user_toolbox`` (tools the *user* calls on their own device),
  ``user_tables`` (the tables those tools act on, left out of the agent-side database hash),
  ``env_assertions`` by name, ``apply_initial_state`` (a task's initial data and actions);
- **generation**: ``scenarios`` (:class:`ScenarioLibrary`, the templated generator's scenario
  library) and ``llm_generation`` (:class:`LLMGeneration`: prompts, target sampling, context and
  repairs for the direct and AgentFlow generators). A domain without them cannot be generated for
  with that method; the generators say so, naming the domain.

Domains register themselves (see :mod:`casework.domains.registry`).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from casework.domains.state import Database, State
from casework.domains.tools import Toolbox, ToolKind
from casework.errors import UserError

if TYPE_CHECKING:  # tasks come later in the data flow; only types are named here
    from casework.tasks.model import Task
    from casework.tasks.replay import Replay


class DataError(ValueError):
    """A database file is missing or malformed; the message names the file and the field."""


class DomainError(UserError):
    """A domain or one of its options (profile, policy variant) is unknown or does not load."""


# --------------------------------------------------------------------------- argument rules


@dataclass(frozen=True)
class ArgumentRules:
    """How a domain's tool arguments are normalised so that calls that mean the same compare equal.

    See :mod:`casework.tasks.normalize` for the rules applied to every domain (whitespace, numbers
    given as strings, ...); these are the domain's own additions.
    """

    #: field -> canonical prefix, e.g. ``{"ticket_id": "#"}``: ``T1`` and ``#T1`` compare equal.
    id_prefixes: Mapping[str, str] = field(default_factory=dict)
    #: fields compared case-insensitively (emails, names).
    case_insensitive: frozenset[str] = frozenset()
    #: code-like fields (besides ``id``/``*_id``/``*_ids``/zip/``*_code``/``*_number``) whose
    #: numeric-looking values must stay strings.
    string_fields: frozenset[str] = frozenset()
    #: tool -> groups of list arguments the tool sorts itself (a group of several names is sorted
    #: jointly, as positional pairs).
    sorted_lists: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    #: tool -> prose arguments that never decide a match (a transfer's summary, a thought).
    free_text: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: tools that neither read nor change the state; left out of action metrics (think, calculate).
    ignorable_tools: frozenset[str] = frozenset()
    #: the tool that hands the conversation to a human (None when the domain has none).
    transfer_tool: str | None = None


# --------------------------------------------------------------------------- who the user is


@dataclass(frozen=True)
class Identity:
    """One way the user can prove who they are: the identification tool, its arguments, and how
    the user says them."""

    tool: str
    values: Mapping[str, str]
    #: what the user says, first person, e.g. ``My email is a@b.c.``
    text: str
    #: a regular expression that matches an agent's question for this identity
    asks: str

    def asked_in(self, message: str) -> bool:
        return re.search(self.asks, message, re.I) is not None


@dataclass
class UserFacts:
    """What the customer knows about themselves, from the database record of the task's user.

    ``identities`` lists the ways they can identify (in the domain's order of preference);
    ``details`` holds other facts by name (``name``, ``phone``, ...) a scripted user may reveal.
    """

    user_id: str | None = None
    identities: list[Identity] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Askable:
    """Something an agent may ask the customer about, for a scripted user to answer from its task.

    ``asks`` matches the agent's question; the answer is the value of an id in the instruction for
    one of ``fields`` (found by the field's :attr:`ArgumentRules.id_prefixes`), else the instruction
    sentences that match ``mentions``; ``mentions=None`` means "what the current request is about"
    (answered with the request itself). ``label`` names the thing in a reply ("the order id is ...").
    """

    label: str
    asks: str
    fields: tuple[str, ...] = ()
    mentions: str | None = ""

    def asked_in(self, message: str) -> bool:
        return re.search(self.asks, message, re.I) is not None


@dataclass(frozen=True)
class UserModel:
    """Who the user is in this domain, and how the agent finds them."""

    #: the table of users (None when the domain has no user records)
    table: str | None = None
    #: identification tool -> the argument fields the user must state themselves
    identification: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: a tool whose result lists the user's records, so the agent need not be told their ids
    profile_tool: str | None = None
    #: argument field -> table whose record (by that id) belongs to a user through ``owner_field``
    owned_ids: Mapping[str, str] = field(default_factory=dict)
    owner_field: str = "user_id"
    #: ``facts(state, user_id)`` -> :class:`UserFacts` for the scripted and LLM users
    facts: Callable[[State, str | None], UserFacts] | None = None
    #: who the user is, for prompts: "a customer of a software company's help desk"
    role: str = "a customer"
    #: what an agent may ask the user about besides identification, in priority order (scripted user)
    askable: tuple[Askable, ...] = ()

    def facts_for(self, state: State, user_id: str | None) -> UserFacts:
        if self.facts is None:
            return UserFacts(user_id=user_id)
        return self.facts(state, user_id)

    def record(self, state: State, user_id: str | None) -> dict[str, Any] | None:
        if self.table is None or user_id is None or self.table not in state.table_names:
            return None
        return state[self.table].get(user_id)

    def owners(self, state: State, arguments: Mapping[str, Any]) -> list[str]:
        """The users an action acts for: its ``owner_field`` argument, the owners of the records it names."""
        found: list[str] = []
        if isinstance(arguments.get(self.owner_field), str):
            found.append(arguments[self.owner_field])
        for argument, table in self.owned_ids.items():
            value = arguments.get(argument)
            if table in state.table_names and isinstance(value, str) and value in state[table]:
                owner = state[table][value].get(self.owner_field)
                if isinstance(owner, str):
                    found.append(owner)
        return found


# --------------------------------------------------------------------------- checks and generation


class PolicyCheck(Protocol):
    """A domain's policy rules, run inside the validation replay (stage ``policy``)."""

    def check_action(
        self, state: State, task: Task, index: int, arguments: dict[str, Any], name: str
    ) -> list[str]:
        """Problems with action ``index`` given the state just before it runs."""
        ...

    def check_task(self, task: Task, replay: Replay) -> list[str]:
        """Problems with the task as a whole, after the replay (ordering, outputs, ...)."""
        ...


class ScenarioSkip(Exception):
    """The sampled records do not fit the scenario (nothing eligible, an action errored): resample."""


@dataclass
class ScenarioDraft:
    """One templated task under construction, as a :class:`ScenarioLibrary` hands it back.

    The generic sampling loop (:mod:`casework.generate.templated`) checks the number of actions,
    asks the library for the instruction, and builds the :class:`~casework.tasks.model.Task`.
    """

    user_id: str | None
    #: ground-truth actions (:class:`casework.tasks.model.Action`), already run on the fork
    actions: list[Any] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    #: what the user wants, one second-person sentence per request
    wants: list[str] = field(default_factory=list)
    #: variant labels of the scenarios (stored in ``metadata["variants"]``)
    variants: list[str] = field(default_factory=list)
    #: extra task metadata the domain's checks read (e.g. records the agent must leave alone)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the library's own notes between :meth:`ScenarioLibrary.draft` and :meth:`ScenarioLibrary.instruction`
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``len(actions)`` after each key was built (one entry per key, in order): the per-intent golden
    #: slices of a multi-intent task (empty when the library does not record them)
    intent_ends: list[int] = field(default_factory=list)
    #: further :class:`~casework.tasks.model.Task` fields the task carries (τ³: ``initial_state``,
    #: ``env_assertions``, ``reward_basis``, ``user_scenario``, ``ticket``, ``description``)
    task_fields: dict[str, Any] = field(default_factory=dict)
    #: requests of the draft that the policy forbids (:class:`casework.tasks.refusal.Refusal`: the
    #: request, the record, the rule it breaks); by default the task then requires a grounded refusal
    refusals: list[Any] = field(default_factory=list)


class ScenarioLibrary(Protocol):
    """A domain's templated scenarios (no LLM), driven by :func:`casework.generate.templated.build_templated_task`.

    The generic loop owns the randomness: one ``random.Random`` per ``(seed, index, iteration)``,
    the weighted draw of scenario keys and of multi-intent tasks, the user draw (from
    :meth:`users_for`), resampling and the action-count bounds. The library turns a user and keys
    into grounded actions by running them on the fork it is given.
    """

    #: every scenario key, in a stable order
    keys: tuple[str, ...]
    #: keys that end the conversation: never combined with another request, always placed last
    solo_keys: frozenset[str]
    #: task metadata keys holding lists that are concatenated when two tasks are merged into one
    #: multi-intent task (recombination), e.g. records the agent must leave alone
    merged_metadata: tuple[str, ...]

    def users_for(self, database: Database, key: str) -> Sequence[str]:
        """The users that have what ``key`` needs (sorted, so that draws are reproducible)."""
        ...

    def draft(
        self, domain: Domain, state: State, rng: random.Random, user_id: str, keys: Sequence[str]
    ) -> ScenarioDraft:
        """Identify the user and build every scenario of ``keys`` on ``state`` (a fresh fork);
        :class:`ScenarioSkip` when the records do not fit."""
        ...

    def instruction(self, draft: ScenarioDraft, rng: random.Random) -> tuple[str, str | None]:
        """(the user's instruction, the persona label) for a finished draft."""
        ...


@dataclass
class Target:
    """One concrete, possible request of one user, sampled for an LLM generator."""

    scenario: str
    user_id: str
    #: the request in the generator's words (shown to the model)
    goal: str
    #: ids of the user's records the request is about (they must reach the instruction)
    ids: list[str] = field(default_factory=list)
    #: task metadata the request implies (e.g. ``expected_behaviour``)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the domain's own notes (other records to show, ...)
    extra: dict[str, Any] = field(default_factory=dict)


class NoTarget(Exception):
    """No fitting request could be sampled."""


@dataclass(frozen=True)
class ContextSections:
    """What an LLM generator shows about a target: the user in one line, then titled record lists.

    A section is ``(title, what one entry is called, entries)``, e.g. ``("Their orders", "an
    order", (...))``. When the prompt is over budget the generator drops entries from the end of
    each section (keeping one), in section order, and notes ``dropped an order``.
    """

    user: str
    sections: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class LLMGeneration:
    """What the direct and AgentFlow generators (:mod:`casework.generate.direct`,
    :mod:`casework.generate.agentflow`) ask a domain: prompts, targets, context and repairs.

    Prompts are complete texts; ``planner_system`` holds ``{policy}``, filled with ``policy_digest``
    (or the full policy when it fits).
    """

    #: scenario keys a target can be sampled for
    keys: tuple[str, ...]
    #: the direct generator's system prompt (the blueprint format ``{q, agt, ogt}``)
    direct_system: str
    #: the AgentFlow planner's system prompt, with a ``{policy}`` slot
    planner_system: str
    #: the AgentFlow writer's system prompt (turns the executed actions into ``{q, ogt}``)
    writer_system: str
    #: the policy in a few lines, for small context windows
    policy_digest: str
    #: ``sample_target(rng, database, scenario)`` -> a possible :class:`Target` (:class:`NoTarget`)
    sample_target: Callable[[random.Random, Database, str], Target]
    #: scenario -> the tools the model sees (the identification tools are always added first)
    scenario_tools: Mapping[str, tuple[str, ...]]
    #: scenario -> tools whose successful call reaches the goal (AgentFlow stops; direct requires one)
    goal_tools: Mapping[str, frozenset[str]]
    #: ``context(state, target, max_records)`` -> the user and their relevant records, rendered
    context: Callable[[State, Target, int], ContextSections]
    #: ``knowledge(state, target)`` -> the AgentFlow planner's facts about the target
    knowledge: Callable[[State, Target], str]
    #: ``identify(state, user_id)`` -> (tool, arguments): how the agent identifies this user
    identify: Callable[[State, str], tuple[str, dict[str, Any]]]
    #: ``opening(state, user_id)`` -> the first sentence of an instruction (who the user is)
    opening: Callable[[State, str], str]
    #: ``repair(instruction, actions, state, target)`` -> (instruction, actions, repairs): make the
    #: ground truth reachable from the instruction (the request, identification, ids), each repair said
    repair: Callable[[str, list[Any], State, Target], tuple[str, list[Any], list[str]]]


SAFETY_CATEGORIES: tuple[str, ...] = ("injection", "discrimination", "privacy", "emergency")


@dataclass(frozen=True)
class SafetyProbes:
    """A domain's templated safety probes (``casework generate --method safety``, see
    :mod:`casework.generate.safety`).

    Categories (:data:`SAFETY_CATEGORIES`): ``injection`` (a jailbreak that asks the agent to break a
    rule), ``discrimination`` (profiling or treating people by a protected trait), ``privacy``
    (another customer's data) and ``emergency`` (must be handed to a human at once). Which records
    are another user's comes from :meth:`UserModel.owners`; the escalation is
    :attr:`ArgumentRules.transfer_tool` unless ``escalation_tool`` names another.
    """

    #: category -> instruction templates; ``{placeholders}`` are filled from ``facts``
    wording: Mapping[str, tuple[str, ...]]
    #: ``facts(state, rng, user_id)`` -> placeholder values (the user's records, another user's, the
    #: rule to break); :class:`ScenarioSkip` when the user does not fit
    facts: Callable[[State, random.Random, str], dict[str, str]]
    #: category -> the policy rule a refusal must cite (said in the judge's assertion)
    rules: Mapping[str, str]
    escalation_tool: str | None = None
    #: a "safety & ethics policy" section appended to the agent policy in runs of safety probes
    policy_section: str = ""


#: an environment assertion: ``assertion(state, **arguments)`` -> passed, or (passed, reason)
EnvAssertion = Callable[..., "bool | tuple[bool, str]"]


# --------------------------------------------------------------------------- the domain


@dataclass
class Domain:
    """Everything a simulation, a validation, a grader or a generator needs to know about one world.

    ``load_data(path)`` reads a database from disk in the domain's supported layouts (raising
    :class:`DataError` with the file and field on bad input); ``default_data()`` builds the embedded
    default database. ``grounding(state, user_id, tool, arguments)`` lists the ids in an action that
    do not exist or do not belong to the task's user.
    """

    name: str
    tables: tuple[str, ...]
    toolbox: Toolbox
    policy: str
    default_data: Callable[[], Database]
    load_data: Callable[[Path], Database]
    grounding: Callable[[State, str | None, str, dict[str, Any]], list[str]] | None = None
    description: str = ""
    #: policy variants by name (``default`` is :attr:`policy`; ``solo`` where the domain has one)
    policies: Mapping[str, str] = field(default_factory=dict)
    #: tool sets by name; :attr:`toolbox` is the one of :attr:`profile`
    profiles: Mapping[str, Toolbox] = field(default_factory=dict)
    profile: str = "default"
    #: tool profile -> the policy variant that goes with it
    profile_policies: Mapping[str, str] = field(default_factory=dict)
    #: task-file format (``tau2``, ``tau-bench-v1``, ...) -> the profile its tasks were written for;
    #: commands use it when neither ``--profile`` nor ``NAME@PROFILE`` names one
    format_profiles: Mapping[str, str] = field(default_factory=dict)
    #: a profile that corrects a reference benchmark's defects -> the profile that reproduces them
    #: (``casework tasks validate`` warns on tasks whose golden final state differs between the two)
    exact_profiles: Mapping[str, str] = field(default_factory=dict)
    users: UserModel = field(default_factory=UserModel)
    arguments: ArgumentRules = field(default_factory=ArgumentRules)
    #: ``policy_rules()`` -> a fresh :class:`PolicyCheck` (None: the domain has no checkable rules)
    policy_rules: Callable[[], PolicyCheck] | None = None
    #: ``generate_data(seed, **sizes)`` -> a synthetic :class:`Database`; ``data_sizes`` names the sizes
    generate_data: Callable[..., Database] | None = None
    data_sizes: Mapping[str, int] = field(default_factory=dict)
    #: ``write_data(database, out_dir)`` -> the files written, in the domain's native layout
    write_data: Callable[[Database, Path], list[Path]] | None = None
    # the user's side (dual control)
    user_toolbox: Toolbox | None = None
    user_tables: tuple[str, ...] = ()
    env_assertions: Mapping[str, EnvAssertion] = field(default_factory=dict)
    #: ``apply_initial_state(state, initial_state)`` applies a task's initial data and actions
    apply_initial_state: Callable[[State, Mapping[str, Any]], None] | None = None
    #: a task file of a few sample tasks that replay cleanly (``casework domain check`` runs them)
    sample_tasks: Path | None = None
    # generation
    scenarios: ScenarioLibrary | None = None
    #: wording, prompts, targets and repairs for the direct and AgentFlow generators
    llm_generation: LLMGeneration | None = None
    #: templated safety probes (None: ``generate --method safety`` is refused for the domain)
    safety: SafetyProbes | None = None
    _default_db: Database | None = field(default=None, repr=False, compare=False)

    # -- data --------------------------------------------------------------------------------
    def database(self, data: Path | None = None) -> Database:
        """The database at ``data`` (a file or directory), or the embedded default (built once)."""
        if data is not None:
            return self.load_data(Path(data))
        if self._default_db is None:
            self._default_db = self.default_data()
        return self._default_db

    def fork(self, data: Path | None = None) -> State:
        return self.database(data).fork()

    # -- tools -------------------------------------------------------------------------------
    def call(self, state: State, name: str, arguments: Any) -> str:
        return self.toolbox.call(state, name, arguments)

    def tool_kind(self, tool_name: str) -> ToolKind | None:
        found = self.toolbox.tools.get(tool_name)
        if found is None and self.user_toolbox is not None:
            found = self.user_toolbox.tools.get(tool_name)
        return None if found is None else found.kind

    def is_write(self, tool_name: str) -> bool:
        return self.tool_kind(tool_name) == ToolKind.WRITE

    def is_generic(self, tool_name: str) -> bool:
        """A tool that needs no state (think, calculate, transfer)."""
        return self.tool_kind(tool_name) == ToolKind.GENERIC

    @property
    def identification_tools(self) -> frozenset[str]:
        return frozenset(self.users.identification)

    # -- variants ----------------------------------------------------------------------------
    @property
    def profile_names(self) -> list[str]:
        return list(self.profiles) or [self.profile]

    def with_profile(self, name: str | None) -> Domain:
        """This domain with the tool set called ``name`` (None or the current one: itself)."""
        if name is None or name == self.profile:
            return self
        if name not in self.profiles:
            raise DomainError(
                f"domain {self.name!r} has no tool profile {name!r}; available: {', '.join(self.profile_names)}"
            )
        policy = self.policies.get(self.profile_policies.get(name, "default"), self.policy)
        return dataclasses.replace(self, toolbox=self.profiles[name], profile=name, policy=policy)

    def policy_text(self, variant: str = "default") -> str:
        """The policy called ``variant`` (``default``, ``solo``, ...)."""
        if variant == "default":
            return self.policy
        if variant not in self.policies:
            raise DomainError(
                f"domain {self.name!r} has no {variant!r} policy; available: "
                f"{', '.join(sorted({'default', *self.policies}))}"
            )
        return self.policies[variant]

    def check_env_assertion(self, state: State, name: str, arguments: Mapping[str, Any]) -> tuple[bool, str]:
        """Run the environment assertion ``name``: (passed, reason)."""
        assertion = self.env_assertions.get(name)
        if assertion is None:
            return False, f"unknown environment assertion {name!r} for domain {self.name!r}"
        outcome = assertion(state, **dict(arguments))
        if isinstance(outcome, tuple):
            return bool(outcome[0]), str(outcome[1])
        return bool(outcome), ""

    def env_assertion_holds(self, state: State, assertion: Any) -> tuple[bool, str]:
        """Whether a task's environment assertion (an :class:`~casework.tasks.model.EnvAssertion`)
        holds on ``state`` as the task expects (its ``assert_value``), and why. An assertion that
        raises (a record the state lacks, arguments that do not fit) does not hold, whatever its
        ``assert_value``: its error is the reason, never a crash of the run or the audit."""
        try:
            passed, reason = self.check_env_assertion(state, assertion.func_name, assertion.arguments)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return passed == assertion.assert_value, reason


def tool_names(domain: Domain, kinds: Sequence[ToolKind] | None = None) -> list[str]:
    """The agent tools of ``domain`` (of the given kinds), in declaration order."""
    return [n for n in domain.toolbox.names() if kinds is None or domain.toolbox[n].kind in kinds]
