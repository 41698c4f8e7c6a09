"""Training datasets from graded runs: SFT chat JSONL, ShareGPT (APIGen-MT-5k layout), GRPO prompts.

``export_runs`` reads run directories (through :mod:`casework.train.records`), keeps the trajectories
whose reward is at least ``min_reward``, optionally de-duplicates them, splits them into train and
test *by task id* (a task's trajectories never straddle the split), and writes one JSONL file per
split and format plus a dataset card (``dataset_card.json`` and ``README.md``).

Layouts (one JSON object per line):

- ``sft``: ``{"messages": [...], "tools": "<JSON list of OpenAI tool schemas>", "task_id", "domain",
  "trial", "reward", "scenario", "source_run"}``. Messages are OpenAI chat messages (system policy,
  user, assistant with ``tool_calls`` whose ``arguments`` are JSON text, ``tool`` results). With
  ``per_turn`` every assistant turn is its own example in TRL's prompt-completion form (``prompt``:
  the conversation before the turn, ``completion``: ``[assistant message]``), so only that turn is
  trained. ``tools`` is JSON text because TRL parses it that way and Arrow would otherwise merge the
  tools' different parameter objects into one struct padded with nulls.
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"function_call"|"observation", "value"}],
  "system", "tools"}`` as in Salesforce/APIGen-MT-5k (``function_call`` values are
  ``{"name", "arguments"}`` JSON; ``tools`` is a JSON list of ``{"name", "description", "parameters"}``).
- ``grpo``: one row per agent turn of a kept trajectory: ``prompt`` (the conversation up to that
  turn), ``tools``, and what reward functions need: ``task_id``, ``domain``, ``data`` (the database,
  null = the domain's default), ``prior_calls`` (the calls executed before the turn: replaying them on
  a fresh fork gives the state to fork), ``reference_calls`` and ``reference_text`` (the turn the
  rewarded trajectory took), ``expected_actions`` and ``expected_outputs`` (the task's ground truth).
  Structured columns are JSON text, for the Arrow reason above.
- ``tau3``: one ``results.json`` in τ³-bench's results layout (see :mod:`casework.train.tau3_export`),
  every kept trajectory of one domain (no reward filter unless ``--min-reward`` is given).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from casework.domains import ArgumentRules, get_domain
from casework.tasks.normalize import NO_RULES, normalize_action
from casework.train.records import RunRecords, TrajectoryRecord, load_run, manifest_summary

Format = Literal["sft", "sharegpt", "grpo", "tau3"]
FORMATS: tuple[str, ...] = ("sft", "sharegpt", "grpo", "tau3")
CARD_JSON = "dataset_card.json"
CARD_MD = "README.md"


class ExportError(ValueError):
    """The export cannot be done as asked (bad options, nothing to export)."""


# ---------------------------------------------------------------------------- conversations


def _arguments_dict(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def _arguments_text(raw: Any) -> str:
    parsed = _arguments_dict(raw)
    if parsed is None:
        return raw if isinstance(raw, str) else json.dumps(raw)
    return json.dumps(parsed, ensure_ascii=False)


def clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages with uniform fields: string content, JSON-text arguments, no extras."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        content = m.get("content")
        text = content if isinstance(content, str) else ("" if content is None else json.dumps(content))
        if role == "assistant":
            message: dict[str, Any] = {"role": "assistant", "content": text}
            calls = m.get("tool_calls") or []
            if calls:
                message["tool_calls"] = [
                    {
                        "id": str(c.get("id") or f"call_{i}"),
                        "type": "function",
                        "function": {
                            "name": c["function"]["name"],
                            "arguments": _arguments_text(c["function"].get("arguments", "{}")),
                        },
                    }
                    for i, c in enumerate(calls)
                ]
            out.append(message)
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": str(m.get("tool_call_id") or ""),
                    "name": str(m.get("name") or ""),
                    "content": text,
                }
            )
        elif role in ("system", "user"):
            out.append({"role": role, "content": text})
    return out


def trim_to_last_assistant(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop what follows the last assistant message (the user's closing words teach nothing)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return messages[: i + 1]
    return []


def assistant_indices(messages: list[dict[str, Any]]) -> list[int]:
    return [i for i, m in enumerate(messages) if m["role"] == "assistant"]


def calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``{"name", "arguments"}`` calls of an assistant message (arguments parsed when JSON)."""
    out = []
    for c in message.get("tool_calls") or []:
        raw = c["function"].get("arguments", "{}")
        parsed = _arguments_dict(raw)
        out.append({"name": c["function"]["name"], "arguments": parsed if parsed is not None else raw})
    return out


@dataclass
class Source:
    """What an example needs to know about where its trajectory came from."""

    run: RunRecords
    system: str | None  # replacement system prompt (oracle-plan runs leak the plan), else None
    tools: list[dict[str, Any]]


def _source(run: RunRecords) -> Source:
    from casework.sim.agents import AgentSetup, system_prompt

    domain = get_domain(run.domain)
    tools = domain.toolbox.openai_schemas()
    system = None
    if run.mode == "oracle-plan":
        policy = run.policy_text() or domain.policy
        system = system_prompt(AgentSetup(policy=policy, tools=tools, task=None, mode="interactive"))  # type: ignore[arg-type]
    return Source(run=run, system=system, tools=tools)


def conversation(source: Source, record: TrajectoryRecord) -> list[dict[str, Any]]:
    messages = clean_messages(record.messages)
    if source.system is not None:
        messages = [m for m in messages if m["role"] != "system"]
        messages.insert(0, {"role": "system", "content": source.system})
    return trim_to_last_assistant(messages)


def trajectory_key(messages: list[dict[str, Any]], rules: ArgumentRules = NO_RULES) -> str:
    """Identity for de-duplication: the texts and the tool calls normalised under the domain's
    ``rules``, ignoring call ids."""
    parts = []
    for m in messages:
        if m["role"] == "assistant":
            calls = [
                normalize_action(
                    (c["name"], c["arguments"] if isinstance(c["arguments"], dict) else {}), rules
                )
                for c in calls_of(m)
            ]
            parts.append(["assistant", m.get("content") or "", calls])
        else:
            parts.append([m["role"], m.get("content") or ""])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------- formats


def _meta(source: Source, record: TrajectoryRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "domain": source.run.domain,
        "trial": record.trial,
        "reward": record.reward,
        "scenario": ",".join(record.scenarios) or None,
        "source_run": str(source.run.run_dir),
    }


def sft_examples(
    source: Source, record: TrajectoryRecord, messages: list[dict[str, Any]], per_turn: bool
) -> list[dict[str, Any]]:
    tools = json.dumps(source.tools, ensure_ascii=False)
    meta = _meta(source, record)
    if not per_turn:
        return [{"messages": messages, "tools": tools, **meta}]
    return [
        {"prompt": messages[:i], "completion": [messages[i]], "tools": tools, "turn": turn, **meta}
        for turn, i in enumerate(assistant_indices(messages))
    ]


def sharegpt_tools(tools: list[dict[str, Any]]) -> str:
    return json.dumps([t["function"] for t in tools], ensure_ascii=False)


def sharegpt_example(
    source: Source, record: TrajectoryRecord, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    system = ""
    turns: list[dict[str, str]] = []
    for m in messages:
        role = m["role"]
        if role == "system":
            system = m["content"]
        elif role == "user":
            turns.append({"from": "human", "value": m["content"]})
        elif role == "tool":
            turns.append({"from": "observation", "value": m["content"]})
        elif role == "assistant":
            if m.get("content"):
                turns.append({"from": "gpt", "value": m["content"]})
            for call in calls_of(m):
                value = {"name": call["name"], "arguments": call["arguments"]}
                turns.append({"from": "function_call", "value": json.dumps(value, ensure_ascii=False)})
    return {
        "conversations": turns,
        "system": system,
        "tools": sharegpt_tools(source.tools),
        **_meta(source, record),
    }


def grpo_examples(
    source: Source, record: TrajectoryRecord, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    tools = json.dumps(source.tools, ensure_ascii=False)
    meta = _meta(source, record)
    expected = json.dumps(record.expected_actions, ensure_ascii=False)
    rows = []
    prior: list[dict[str, Any]] = []
    for turn, i in enumerate(assistant_indices(messages)):
        reference = messages[i]
        rows.append(
            {
                "prompt": messages[:i],
                "tools": tools,
                **meta,
                "turn": turn,
                "data": source.run.data,
                "prior_calls": json.dumps(prior, ensure_ascii=False),
                "reference_calls": json.dumps(calls_of(reference), ensure_ascii=False),
                "reference_text": reference.get("content") or "",
                "expected_actions": expected,
                "expected_outputs": list(record.expected_outputs),
            }
        )
        prior = prior + calls_of(reference)
    return rows


# ---------------------------------------------------------------------------- splitting


def split_tasks(task_ids: Iterable[str], test_fraction: float, seed: int = 0) -> tuple[set[str], set[str]]:
    """Assign whole tasks to train or test: a seeded shuffle of the sorted ids, the first
    ``round(fraction·n)`` (at least one when the fraction is positive and there are two or more tasks)
    go to test."""
    ids = sorted(set(task_ids))
    if not 0.0 <= test_fraction < 1.0:
        raise ExportError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    n_test = round(test_fraction * len(ids))
    if test_fraction > 0 and len(ids) >= 2:
        n_test = min(max(n_test, 1), len(ids) - 1)
    shuffled = ids[:]
    random.Random(seed).shuffle(shuffled)
    test = set(shuffled[:n_test])
    return set(ids) - test, test


# ---------------------------------------------------------------------------- the export


@dataclass
class ExportResult:
    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def export_runs(
    run_dirs: list[Path],
    out: Path,
    *,
    fmt: str = "sft",
    min_reward: float | None = None,
    dedupe: bool = False,
    split_by: str = "task",
    test_fraction: float = 0.0,
    per_turn: bool = False,
    hf: bool = False,
    seed: int = 0,
) -> ExportResult:
    """Export the runs' trajectories (see the module docstring); returns the files and the card."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if min_reward is None:  # training data keeps rewarded trajectories; τ³ results keep every one
        min_reward = 0.0 if fmt == "tau3" else 1.0
    if fmt == "tau3" and (test_fraction > 0 or per_turn or hf):
        raise ExportError(
            "--format tau3 writes one results.json: --test-fraction, --per-turn and --hf do not apply"
        )
    if split_by not in ("task", "none"):
        raise ExportError(f"--split-by {split_by!r}: expected 'task' (or 'none' for no test split)")
    if split_by == "none" and test_fraction > 0:
        raise ExportError(
            "--test-fraction needs --split-by task (splits are by task id, never by trajectory)"
        )
    if per_turn and fmt != "sft":
        raise ExportError("--per-turn applies to --format sft (grpo rows are already one per agent turn)")
    if not run_dirs:
        raise ExportError("give at least one run directory")
    runs = [load_run(d) for d in run_dirs]

    counts: Counter[str] = Counter()
    kept: list[tuple[Source, TrajectoryRecord, list[dict[str, Any]]]] = []
    seen: set[str] = set()
    for run in runs:
        source = _source(run)
        counts["infrastructure_errors_excluded"] += run.infrastructure_errors
        for record in run.trajectories:
            counts["trajectories_read"] += 1
            if record.reward < min_reward:
                counts["below_min_reward"] += 1
                continue
            messages = conversation(source, record)
            if not assistant_indices(messages):
                counts["without_agent_turns"] += 1
                continue
            if dedupe:
                key = trajectory_key(messages, get_domain(source.run.domain).arguments)
                if key in seen:
                    counts["duplicates_removed"] += 1
                    continue
                seen.add(key)
            kept.append((source, record, messages))
    if not kept:
        raise ExportError(
            f"nothing to export: {counts['trajectories_read']} trajectories read, "
            f"{counts['below_min_reward']} below --min-reward {min_reward}, "
            f"{counts['infrastructure_errors_excluded']} infrastructure errors excluded"
        )

    train_ids, test_ids = split_tasks((r.task_id for _, r, _ in kept), test_fraction, seed)
    tau3_selected: list[tuple[RunRecords, TrajectoryRecord]] = []
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    trajectories: Counter[str] = Counter()
    scenarios: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    for source, record, messages in kept:
        split = "test" if record.task_id in test_ids else "train"
        trajectories[split] += 1
        domains[source.run.domain] += 1
        for s in record.scenarios or ["(none)"]:
            scenarios[s] += 1
        if fmt == "sft":
            splits[split].extend(sft_examples(source, record, messages, per_turn))
        elif fmt == "sharegpt":
            splits[split].append(sharegpt_example(source, record, messages))
        elif fmt == "grpo":
            splits[split].extend(grpo_examples(source, record, messages))
        else:
            tau3_selected.append((source.run, record))

    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out=out)
    if tau3_selected:
        from casework.train.tau3_export import write_tau3_results

        result.files["results"] = write_tau3_results(runs, tau3_selected, out / "results.json")
    for split, rows in splits.items():
        if rows:
            path = out / f"{split}.jsonl"
            _write_jsonl(path, rows)
            result.files[split] = path
    card = {
        "format": fmt,
        "per_turn": per_turn,
        "min_reward": min_reward,
        "dedupe": dedupe,
        "split_by": split_by,
        "test_fraction": test_fraction,
        "seed": seed,
        "examples": {k: len(v) for k, v in splits.items()}
        if fmt != "tau3"
        else {"train": len(tau3_selected), "test": 0},
        "trajectories": dict(trajectories),
        "counts": {
            "trajectories_read": counts["trajectories_read"],
            "kept": len(kept),
            "below_min_reward": counts["below_min_reward"],
            "duplicates_removed": counts["duplicates_removed"],
            "without_agent_turns": counts["without_agent_turns"],
            "infrastructure_errors_excluded": counts["infrastructure_errors_excluded"],
        },
        "domains": dict(domains),
        "scenarios": dict(sorted(scenarios.items())),
        "task_ids": {"train": sorted(train_ids), "test": sorted(test_ids)},
        "source_runs": [manifest_summary(r) for r in runs],
        "files": {k: p.name for k, p in result.files.items()},
    }
    if hf:
        card["hf"] = write_hf(out, splits)
    (out / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / CARD_MD).write_text(render_card(card), encoding="utf-8")
    result.card = card
    return result


def write_hf(out: Path, splits: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Write the splits as a Hugging Face ``DatasetDict`` (``hf/``, ``save_to_disk``) and parquet files."""
    try:
        import datasets
    except ImportError:
        raise ExportError("--hf needs the datasets package: pip install 'casework[train]'") from None
    present = {k: datasets.Dataset.from_list(v) for k, v in splits.items() if v}
    dd = datasets.DatasetDict(present)
    dd.save_to_disk(str(out / "hf"))
    written = {"save_to_disk": "hf"}
    for split, ds in present.items():
        ds.to_parquet(str(out / f"{split}.parquet"))
        written[split] = f"{split}.parquet"
    return written


def render_card(card: dict[str, Any]) -> str:
    c = card["counts"]
    lines = [
        f"# casework {card['format']} dataset",
        "",
        f"- examples: train {card['examples'].get('train', 0)}, test {card['examples'].get('test', 0)}"
        + (" (one per assistant turn)" if card["per_turn"] or card["format"] == "grpo" else ""),
        f"- trajectories kept: {c['kept']} of {c['trajectories_read']} read (reward >= {card['min_reward']}; "
        f"{c['below_min_reward']} below, {c['duplicates_removed']} duplicates removed, "
        f"{c['infrastructure_errors_excluded']} infrastructure errors excluded)",
        f"- domains: {', '.join(f'{k} ({v})' for k, v in card['domains'].items())}",
        f"- scenarios: {', '.join(f'{k} ({v})' for k, v in card['scenarios'].items())}",
        f"- split by {card['split_by']}, test fraction {card['test_fraction']}, seed {card['seed']}",
        f"- train tasks ({len(card['task_ids']['train'])}): {', '.join(card['task_ids']['train'])}",
        f"- test tasks ({len(card['task_ids']['test'])}): {', '.join(card['task_ids']['test']) or '(none)'}",
        "",
        "## Source runs",
        "",
    ]
    for run in card["source_runs"]:
        lines.append(
            f"- `{run['run_dir']}`: domain {run['domain']}, agent {run['agent']}"
            + (f" ({run['agent_model']})" if run.get("agent_model") else "")
            + f", user {run['user']}, mode {run['mode']}, tasks sha256 {run['tasks_sha256']}, "
            f"{run['result_lines']} result lines, {run['infrastructure_errors']} infrastructure errors, "
            f"commit {run['git_commit']}, created {run['created_at']}"
        )
    lines.append("")
    return "\n".join(lines)
