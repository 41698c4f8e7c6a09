"""Templated telecom troubleshooting tasks: device and account faults combined the way τ³ does.

A task picks an **issue** (no service, no or slow mobile data, MMS not sending), a customer line
from the database, a persona, and one to three **faults** that cause the issue. Each fault brings
its initialisation actions (breaking the phone or the account), its golden fix actions on the
side that can perform them (``user`` on the phone, ``assistant`` on the account) and, for account
fixes, its own assertion (data refuelled, overdue bill paid). The issue brings the environment
assertions that judge the end state (service connected; mobile data working at excellent speed;
MMS sendable).

Every task is validated by replay before it is returned: its assertions fail on the initial
state, pass after its golden actions, no golden action errs, and every golden *write* action is
needed (dropping any one makes an assertion fail). A candidate that does not validate is redrawn.
Fault types are drawn least-used first (ties broken by the seeded RNG), so they stay balanced;
output is deterministic for a seed. Tasks come out in τ³'s task format (``initial_state``,
``evaluation_criteria`` with ``requestor``/``env_assertions``/``reward_basis``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casework.domains.state import Database, State
from casework.domains.telecom import device as model
from casework.domains.telecom.env import replay_task
from casework.domains.telecom.models import BillStatus, LineStatus

ISSUES = ("service_issue", "mobile_data_issue", "mms_issue")
PERSONAS = {
    "None": None,
    "Easy": (
        "You are patient, follow instructions carefully and describe exactly what you see on your "
        "phone. You are comfortable with technology."
    ),
    "Hard": (
        "You are busy and a little impatient, not very comfortable with phone settings, and need "
        "each step explained simply. You get frustrated when a step does not help."
    ),
}
COUNTRIES = ("France", "Japan", "Mexico", "Italy", "Canada", "Portugal")


def _user(func_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"env_type": "user", "func_name": func_name, "arguments": arguments}


def _agent(func_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"env_type": "assistant", "func_name": func_name, "arguments": arguments}


@dataclass(frozen=True)
class Context:
    """The customer and line a task is about."""

    customer_id: str
    line_id: str
    name: str
    phone_number: str
    data_limit_gb: float
    refuel_price: float
    bill_id: str  # the id an overdue-bill fault gives its new bill


@dataclass(frozen=True)
class Fault:
    key: str
    issues: tuple[str, ...]
    #: (context) -> initialisation actions
    setup: Callable[[Context], list[dict[str, Any]]]
    #: (context) -> golden fix actions as (requestor, name, arguments)
    fix: Callable[[Context], list[tuple[str, str, dict[str, Any]]]]
    #: (context) -> extra environment assertions this fault adds
    checks: Callable[[Context], list[dict[str, Any]]] = lambda c: []
    #: faults that cannot be combined with this one (same setting broken another way)
    group: str | None = None
    abroad: bool = False
    #: what the user is willing to do or knows, for the instructions
    note: Callable[[Context], str] = lambda c: ""


def _ids(c: Context) -> dict[str, str]:
    return {"customer_id": c.customer_id, "line_id": c.line_id}


REFUEL_GB = 2.0

FAULTS: dict[str, Fault] = {
    f.key: f
    for f in (
        Fault(
            "airplane_mode_on",
            ISSUES,
            lambda c: [_user("turn_airplane_mode_on")],
            lambda c: [("user", "toggle_airplane_mode", {})],
        ),
        Fault(
            "unseat_sim_card",
            ISSUES,
            lambda c: [_user("unseat_sim_card")],
            lambda c: [("user", "reseat_sim_card", {})],
        ),
        Fault(
            "break_apn_settings",
            ("service_issue",),
            lambda c: [_user("break_apn_settings")],
            lambda c: [("user", "reset_apn_settings", {}), ("user", "reboot_device", {})],
            group="apn",
        ),
        Fault(
            "overdue_bill_suspension",
            ("service_issue",),
            lambda c: [
                _agent(
                    "suspend_line_for_overdue_bill", **_ids(c), new_bill_id=c.bill_id, contract_ended=False
                )
            ],
            lambda c: [
                ("assistant", "send_payment_request", {"customer_id": c.customer_id, "bill_id": c.bill_id}),
                ("user", "make_payment", {}),
                ("assistant", "resume_line", _ids(c)),
                ("user", "reboot_device", {}),
            ],
            checks=lambda c: [_agent("assert_no_overdue_bill", overdue_bill_id=c.bill_id)],
            note=lambda c: "You are willing to pay an overdue bill if there is one.",
        ),
        Fault(
            "data_mode_off",
            ("mobile_data_issue", "mms_issue"),
            lambda c: [_user("turn_data_off")],
            lambda c: [("user", "toggle_data", {})],
        ),
        Fault(
            "user_abroad_roaming_disabled_off",
            ("mobile_data_issue", "mms_issue"),
            lambda c: [_agent("disable_roaming", **_ids(c)), _user("turn_roaming_off")],
            lambda c: [("assistant", "enable_roaming", _ids(c)), ("user", "toggle_roaming", {})],
            group="roaming",
            abroad=True,
        ),
        Fault(
            "user_abroad_roaming_enabled_off",
            ("mobile_data_issue", "mms_issue"),
            lambda c: [_agent("enable_roaming", **_ids(c)), _user("turn_roaming_off")],
            lambda c: [("user", "toggle_roaming", {})],
            group="roaming",
            abroad=True,
        ),
        Fault(
            "user_abroad_roaming_disabled_on",
            ("mobile_data_issue", "mms_issue"),
            lambda c: [_agent("disable_roaming", **_ids(c)), _user("turn_roaming_on")],
            lambda c: [("assistant", "enable_roaming", _ids(c))],
            group="roaming",
            abroad=True,
        ),
        Fault(
            "data_usage_exceeded",
            ("mobile_data_issue", "mms_issue"),
            lambda c: [_agent("set_data_usage", **_ids(c), data_used_gb=round(c.data_limit_gb + 0.1, 2))],
            lambda c: [("assistant", "refuel_data", {**_ids(c), "gb_amount": REFUEL_GB})],
            checks=lambda c: [_agent("assert_data_refueling_amount", **_ids(c), expected_amount=REFUEL_GB)],
            note=lambda c: f"You are willing to refuel {REFUEL_GB} GB of data, but not to change your plan.",
        ),
        Fault(
            "data_saver_mode_on",
            ("mobile_data_issue",),
            lambda c: [_user("turn_data_saver_mode_on")],
            lambda c: [("user", "toggle_data_saver_mode", {})],
        ),
        Fault(
            "bad_vpn",
            ("mobile_data_issue",),
            lambda c: [_user("break_vpn")],
            lambda c: [("user", "disconnect_vpn", {})],
        ),
        Fault(
            "bad_network_preference",
            ("mobile_data_issue", "mms_issue"),
            lambda c: [_user("set_network_mode_preference", mode="2g_only")],
            lambda c: [("user", "set_network_mode_preference", {"mode": "4g_5g_preferred"})],
        ),
        Fault(
            "bad_wifi_calling",
            ("mms_issue",),
            lambda c: [_user("set_wifi_calling", enabled=True, mms_over_wifi=True)],
            lambda c: [("user", "toggle_wifi_calling", {})],
        ),
        Fault(
            "break_apn_mms_setting",
            ("mms_issue",),
            lambda c: [_user("break_apn_mms_setting")],
            lambda c: [("user", "reset_apn_settings", {}), ("user", "reboot_device", {})],
            group="apn",
        ),
        Fault(
            "break_app_storage_permission",
            ("mms_issue",),
            lambda c: [_user("remove_app_permission", app_name="messaging", permission="storage")],
            lambda c: [("user", "grant_app_permission", {"app_name": "messaging", "permission": "storage"})],
            group="permission",
        ),
        Fault(
            "break_app_sms_permission",
            ("mms_issue",),
            lambda c: [_user("remove_app_permission", app_name="messaging", permission="sms")],
            lambda c: [("user", "grant_app_permission", {"app_name": "messaging", "permission": "sms"})],
            group="permission",
        ),
    )
}

ISSUE_ASSERTIONS: dict[str, list[dict[str, Any]]] = {
    "service_issue": [{**_user("assert_service_status", expected_status="connected")}],
    "mobile_data_issue": [
        _user("assert_mobile_data_status", expected_status=True),
        _user("assert_internet_speed", expected_speed=200, expected_desc="excellent"),
    ],
    "mms_issue": [_user("assert_can_send_mms", expected_status=True)],
}
ISSUE_TEXT = {
    "service_issue": (
        "Your phone has no service: you cannot make calls or send texts. You want it fixed.",
        "The user's phone shows no service.",
        "You will consider the issue resolved when the status bar shows a signal.",
    ),
    "mobile_data_issue": (
        "Your mobile data is not working properly: it either stops working or is very slow. You want "
        "excellent internet speed on your phone and will not accept poor, fair or good. You have no Wi-Fi.",
        "The user's mobile data does not work or is slow.",
        "You will consider the issue resolved only when a speed test returns excellent speed.",
    ),
    "mms_issue": (
        "You cannot send picture messages (MMS) from your phone. You want to be able to send them.",
        "The user cannot send MMS messages.",
        "You will consider the issue resolved when your phone can send MMS messages.",
    ),
}
GROUNDING = (
    "Whenever the agent asks you about your device, always ground your answer in the results of "
    "your tool calls (for example check_status_bar, run_speed_test or can_send_mms). Never make up "
    "the results of tool calls. If you are unsure whether an action is necessary, ask the agent."
)


def _third_person(text: str) -> str:
    for first, third in (
        ("You will", "They will"),
        ("You are", "They are"),
        ("your", "their"),
        ("you ", "they "),
    ):
        text = text.replace(first, third)
    return text


# -- choosing a line -----------------------------------------------------------------------------


def eligible_lines(db: State) -> list[Context]:
    """Lines a task can be about: active, with data left, whose customer owes nothing yet."""
    out = []
    bills, lines, plans = db["bills"], db["lines"], db["plans"]
    for customer in db["customers"].values():
        statuses = {bills[b]["status"] for b in customer["bill_ids"] if b in bills}
        if statuses & {BillStatus.OVERDUE, BillStatus.AWAITING_PAYMENT}:
            continue
        for line_id in customer["line_ids"]:
            line = lines.get(line_id)
            if line is None or line["status"] != LineStatus.ACTIVE:
                continue
            plan = plans[line["plan_id"]]
            if line["data_used_gb"] >= plan["data_limit_gb"] + line["data_refueling_gb"]:
                continue
            out.append(
                Context(
                    customer_id=customer["customer_id"],
                    line_id=line_id,
                    name=customer["full_name"],
                    phone_number=line["phone_number"],
                    data_limit_gb=plan["data_limit_gb"],
                    refuel_price=plan["data_refueling_price_per_gb"],
                    bill_id="",
                )
            )
    return out


# -- building one task ---------------------------------------------------------------------------


def _pick_faults(rng: random.Random, issue: str, count: int, usage: Counter) -> list[str]:
    chosen: list[str] = []
    groups: set[str] = set()
    for _ in range(count):
        options = [
            key
            for key, fault in FAULTS.items()
            if issue in fault.issues
            and key not in chosen
            and (fault.group is None or fault.group not in groups)
        ]
        if not options:
            break
        rng.shuffle(options)
        key = min(options, key=lambda k: usage[k])
        chosen.append(key)
        if FAULTS[key].group:
            groups.add(FAULTS[key].group)
    return sorted(chosen)


def compose_task(
    issue: str, faults: list[str], context: Context, persona: str, country: str, tag: str
) -> dict:
    """The τ³-format task for ``faults`` on ``context``'s line (not yet validated)."""
    abroad = any(FAULTS[f].abroad for f in faults)
    setup = [_user("set_user_info", name=context.name, phone_number=context.phone_number)]
    if abroad:
        setup.append(_user("set_user_location", abroad=True))
    golden: list[tuple[str, str, dict[str, Any]]] = []
    checks = [dict(a) for a in ISSUE_ASSERTIONS[issue]]
    for key in faults:
        fault = FAULTS[key]
        setup.extend(fault.setup(context))
        checks.extend(fault.checks(context))
    # fixes on the phone first, then those that involve the account (a resumed line needs the
    # final reboot; a SIM reseat after it would already bring service back)
    for key in sorted(
        faults, key=lambda k: any(side == "assistant" for side, _, _ in FAULTS[k].fix(context))
    ):
        for step in FAULTS[key].fix(context):
            if step not in golden:
                golden.append(step)
    setup.append(_user("simulate_network_search"))
    # one reboot, last: it applies APN resets and brings service back to a resumed line
    reboot = ("user", "reboot_device", {})
    if reboot in golden:
        golden = [g for g in golden if g != reboot] + [reboot]
    reason, ticket_issue, resolved = ISSUE_TEXT[issue]
    where = f"abroad in {country}" if abroad else "at home"
    notes = " ".join(n for n in (FAULTS[f].note(context) for f in faults) if n)
    known = f"You are {context.name} with phone number {context.phone_number}. You are currently {where}."
    return {
        "id": f"[{issue}]{'|'.join(faults)}[PERSONA:{persona}]{tag}",
        "description": {
            "purpose": f"Generated troubleshooting task: {issue.replace('_', ' ')}.",
            "relevant_policies": None,
            "notes": f"faults: {', '.join(faults)}",
        },
        "user_scenario": {
            "persona": PERSONAS[persona],
            "instructions": {
                "domain": "telecom",
                "reason_for_call": reason,
                "known_info": known,
                "unknown_info": None,
                "task_instructions": " ".join(x for x in (resolved, notes, GROUNDING) if x),
            },
        },
        "ticket": f"{ticket_issue} Customer name: {context.name}, phone number: {context.phone_number}, "
        f"current location: {where}. {_third_person(resolved)} {_third_person(notes)}".strip(),
        "initial_state": {
            "initialization_data": None,
            "initialization_actions": setup,
            "message_history": None,
        },
        "evaluation_criteria": {
            "actions": [
                {
                    "action_id": f"{name}_{i}",
                    "requestor": requestor,
                    "name": name,
                    "arguments": arguments,
                    "info": None,
                    "compare_args": None,
                }
                for i, (requestor, name, arguments) in enumerate(golden)
            ],
            "env_assertions": [{**a, "assert_value": True, "message": None} for a in checks],
            "communicate_info": None,
            "nl_assertions": None,
            "reward_basis": ["ENV_ASSERTION"],
        },
    }


@dataclass
class Validation:
    ok: bool
    problems: list[str] = field(default_factory=list)


def validate_task(database: Database, task: Mapping[str, Any]) -> Validation:
    """Replay checks: assertions fail before and pass after, no golden action errs, and every golden
    write action is needed (without it some assertion fails)."""
    from casework.domains.telecom.env import toolbox_for

    problems = []
    replay = replay_task(database, task)
    if not replay.failed_initially:
        problems.append("the assertions already pass on the initial state")
    problems += [f"golden action {a.name} failed: {a.observation}" for a in replay.actions if a.error]
    problems += [f"after the golden actions: {o.describe()}" for o in replay.final if not o.passed]
    actions = task["evaluation_criteria"]["actions"]
    for i, action in enumerate(actions):
        if toolbox_for(action["requestor"])[action["name"]].kind != "write":
            continue
        if replay_task(database, task, actions[:i] + actions[i + 1 :]).passed:
            problems.append(f"golden action {i} ({action['name']}) is not needed")
    return Validation(not problems, problems)


@dataclass
class Library:
    """Telecom scenario library over a database: ``keys`` are the fault types."""

    database: Database
    max_faults: int = 3
    keys: tuple[str, ...] = tuple(FAULTS)
    #: candidates drawn and rejected by validation in the last :meth:`generate`
    rejected: int = 0

    def generate(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """``count`` validated tasks, deterministic for ``seed``, fault types drawn least-used first."""
        rng = random.Random(seed)
        contexts = eligible_lines(self.database.fork())
        if not contexts:
            raise ValueError(
                "no eligible line in the database: every line is inactive, out of data or owes a bill"
            )
        usage: Counter[str] = Counter()
        existing = set(self.database.tables["bills"])
        tasks = []
        self.rejected = 0
        for index in range(count):
            for attempt in range(20):
                issue = ISSUES[(index + attempt) % len(ISSUES)]
                faults = _pick_faults(rng, issue, rng.randint(1, self.max_faults), usage)
                base = rng.choice(contexts)
                bill_id = f"B9{index:05d}"
                while bill_id in existing:
                    bill_id += "X"
                context = Context(**{**base.__dict__, "bill_id": bill_id})
                persona = rng.choice(list(PERSONAS))
                task = compose_task(
                    issue, faults, context, persona, rng.choice(COUNTRIES), f"#{seed}-{index}"
                )
                if validate_task(self.database, task).ok:
                    break
                self.rejected += 1
            else:  # pragma: no cover - every combination validates on a consistent database
                raise ValueError(f"task {index}: no candidate validated in 20 attempts (last: {task['id']})")
            usage.update(faults)
            tasks.append(task)
        return tasks


def coverage(tasks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Fault-type shares (of all fault occurrences), faults per task, issues."""
    faults: Counter[str] = Counter()
    per_task: Counter[int] = Counter()
    issues: Counter[str] = Counter()
    for task in tasks:
        notes = task["description"]["notes"].removeprefix("faults: ").split(", ")
        faults.update(notes)
        per_task[len(notes)] += 1
        issues[task["id"].split("]")[0].lstrip("[")] += 1
    total = sum(faults.values())
    return {
        "tasks": len(tasks),
        "fault_share": {k: round(v / total, 4) for k, v in sorted(faults.items())},
        "faults_per_task": dict(sorted(per_task.items())),
        "issues": dict(sorted(issues.items())),
    }


__all__ = [
    "FAULTS",
    "ISSUES",
    "Library",
    "TelecomScenarios",
    "compose_task",
    "coverage",
    "eligible_lines",
    "model",
    "validate_task",
]


# -- the domain contract's scenario library (casework generate --method templated) ---------------


class TelecomScenarios:
    """:class:`~casework.domains.ScenarioLibrary` over the fault types, for the generic templated loop.

    A scenario key is a fault type. The loop draws one key by weight (or several for a multi-intent
    draw); with one key the library adds up to two more faults that fit the same issue (the task's
    own RNG), so tasks carry one to three faults. The draft is the τ³-format task of
    :func:`compose_task` (initial state, golden actions on both sides, assertions, structured user
    instructions), validated by replay (:func:`validate_task`: assertions fail before, pass after,
    every golden write needed) - a candidate that does not validate is a
    :class:`~casework.domains.ScenarioSkip`, so the loop resamples. ``metadata["coverage"]`` holds
    the task's fault types, number of faults and issue (``casework generate``'s stats report them).
    """

    keys: tuple[str, ...] = tuple(FAULTS)
    solo_keys: frozenset[str] = frozenset()
    merged_metadata: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._lines: dict[int, dict[str, list[Context]]] = {}

    def _by_customer(self, database: Any) -> dict[str, list[Context]]:
        key = id(database)
        if key not in self._lines:
            by_customer: dict[str, list[Context]] = {}
            for context in eligible_lines(database.fork()):
                by_customer.setdefault(context.customer_id, []).append(context)
            self._lines = {key: by_customer}  # one database at a time
        return self._lines[key]

    def users_for(self, database: Database, key: str) -> list[str]:
        return sorted(self._by_customer(database))

    def draft(self, domain: Any, state: State, rng: random.Random, user_id: str, keys: Any) -> Any:
        from casework.domains.domain import ScenarioDraft, ScenarioSkip
        from casework.tasks import read_tau2_record

        faults = list(dict.fromkeys(keys))
        groups = [FAULTS[k].group for k in faults if FAULTS[k].group]
        if len(groups) != len(set(groups)):
            raise ScenarioSkip(f"faults {', '.join(faults)} break the same setting")
        issues = [i for i in ISSUES if all(i in FAULTS[k].issues for k in faults)]
        if not issues:
            raise ScenarioSkip(f"no issue is caused by all of {', '.join(faults)}")
        issue = rng.choice(issues)
        if len(faults) == 1:
            for _ in range(rng.randint(0, 2)):
                taken = {FAULTS[k].group for k in faults if FAULTS[k].group}
                options = [
                    k
                    for k, f in FAULTS.items()
                    if issue in f.issues and k not in faults and (f.group is None or f.group not in taken)
                ]
                if options:
                    faults.append(rng.choice(options))
        faults = sorted(faults)
        lines = self._by_customer(state).get(user_id) or []
        if not lines:
            raise ScenarioSkip(f"customer {user_id} has no eligible line")
        bills = state["bills"]
        bill_id = f"B9{rng.randrange(10**6):06d}"
        while bill_id in bills:
            bill_id = f"B9{rng.randrange(10**6):06d}"
        context = Context(**{**rng.choice(lines).__dict__, "bill_id": bill_id})
        persona = rng.choice(list(PERSONAS))
        record = compose_task(issue, faults, context, persona, rng.choice(COUNTRIES), "")
        verdict = validate_task(state, record)
        if not verdict.ok:
            raise ScenarioSkip("; ".join(verdict.problems))
        task = read_tau2_record(record, domain="telecom")
        fields = {
            name: getattr(task, name)
            for name in (
                "user_scenario",
                "initial_state",
                "ticket",
                "description",
                "env_assertions",
                "reward_basis",
            )
        }
        return ScenarioDraft(
            user_id=context.customer_id,
            actions=task.actions,
            variants=[issue],
            metadata={
                "issue": issue,
                "faults": faults,
                "coverage": {"fault_type": faults, "faults": str(len(faults)), "issue": issue},
            },
            extra={"instruction": task.instruction, "persona": task.persona},
            task_fields=fields,
        )

    def instruction(self, draft: Any, rng: random.Random) -> tuple[str, str | None]:
        return draft.extra["instruction"], draft.extra["persona"]
