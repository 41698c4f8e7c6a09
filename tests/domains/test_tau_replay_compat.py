"""tau-bench v1 compatibility: replaying every retail task's ground-truth actions with our tools gives
exactly the database (canonical sha256) and the error observations that tau-bench's own tools give.

The expected values (``expected_replay_{train,dev}.json``) were produced by tau-bench's code; the
data lives in ../shared/data and the tests skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.domains.retail import RETAIL
from casework.domains.state import Database
from casework.domains.tools import ToolKind

pytestmark = pytest.mark.shared

UNMODIFIED_HASH = "ae10e8a7f23bedf88c90a528efa2d59d27cae24b5ce1f0d28768b39257bf9f0d"


def _replay(db: Database, task: dict) -> tuple[str, list[dict]]:
    state = db.fork()
    errors = []
    for index, action in enumerate(task["actions"]):
        observation = RETAIL.toolbox.call(state, action["name"], action["kwargs"])
        if observation.startswith("Error"):
            errors.append({"action_index": index, "observation": observation})
    return state.canonical_hash(), errors


def _load_split(directory: Path, split: str) -> list[tuple[dict, dict]]:
    tasks = json.loads((directory / f"tasks_{split}.json").read_text())
    expected = json.loads((directory / f"expected_replay_{split}.json").read_text())
    assert [t["id"] for t in tasks] == [e["id"] for e in expected], (
        "tasks and expectations must be in the same order"
    )
    return list(zip(tasks, expected, strict=True))


def test_unmodified_database_hash(tau_retail_db: Database) -> None:
    assert tau_retail_db.canonical_hash() == UNMODIFIED_HASH


@pytest.mark.parametrize(("split", "count"), [("train", 500), ("dev", 20)])
def test_replay_matches_tau_bench(
    tau_retail_dir: Path, tau_retail_db: Database, split: str, count: int
) -> None:
    pairs = _load_split(tau_retail_dir, split)
    assert len(pairs) == count
    mismatches = []
    for task, expected in pairs:
        assert task["id"] == expected["id"]
        final_hash, errors = _replay(tau_retail_db, task)
        if final_hash != expected["final_state_sha256"]:
            mismatches.append(f"{task['id']}: final state hash differs")
        if errors != expected["error_observations"]:
            mismatches.append(f"{task['id']}: errors {errors} != expected {expected['error_observations']}")
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:20])
    # Replays ran on forks: the shared base is still the unmodified database.
    assert tau_retail_db.canonical_hash() == UNMODIFIED_HASH


def test_replay_covers_every_write_tool(tau_retail_dir: Path) -> None:
    """The ground truth exercises every order write tool, so the hash comparison above checks them all.

    (No task changes a user's default address; modify_user_address is covered by the unit tests.)
    """
    used = {
        a["name"]
        for split in ("train", "dev")
        for t, _ in _load_split(tau_retail_dir, split)
        for a in t["actions"]
    }
    assert set(RETAIL.toolbox.names(ToolKind.WRITE)) - used == {"modify_user_address"}
