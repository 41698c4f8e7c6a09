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
- **generation**: ``scenarios`` (the templated generator's scenario library) and ``llm_generation``
  (wording, prompts and context builders for the direct and AgentFlow generators).

Domains register themselves (see :mod:`casework.domains.registry`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from casework.domains.state import Database, State
from casework.domains.tools import Toolbox, ToolKind

if TYPE_CHECKING:  # tasks come later in the data flow; only types are named here
    from casework.tasks.model import Task
    from casework.tasks.replay import Replay


class DataError(ValueError):
    """A database file is missing or malformed; the message names the file and the field."""


class DomainError(ValueError):
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


class ScenarioLibrary(Protocol):
    """A domain's templated scenarios: builds one grounded task by running its actions on a fork."""

    #: every scenario key, in a stable order
    keys: tuple[str, ...]

    def build_task(
        self,
        domain: Domain,
        database: Database,
        *,
        seed: int,
        index: int,
        iteration: int = 0,
        weights: Mapping[str, float] | None = None,
        multi_intent: float | None = None,
    ) -> Task:
        """Task number ``index`` for ``seed`` (``iteration`` > 0 draws a different sample)."""
        ...


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
    #: wording, prompts and context builders for the LLM generators (see ``casework.generate``)
    llm_generation: Any = None
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


def tool_names(domain: Domain, kinds: Sequence[ToolKind] | None = None) -> list[str]:
    """The agent tools of ``domain`` (of the given kinds), in declaration order."""
    return [n for n in domain.toolbox.names() if kinds is None or domain.toolbox[n].kind in kinds]
