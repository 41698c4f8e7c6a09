"""Loading τ³ telecom data (db.toml + user_db.toml) and clear one-line errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from casework.domains.domain import DataError
from casework.domains.telecom import TELECOM, apply_initial_state
from casework.domains.telecom.data import load_telecom

SHARED = Path(os.environ.get("CASEWORK_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
TAU3_TELECOM = SHARED / "data" / "tau3" / "telecom"


@pytest.fixture(scope="module")
def tau3_dir() -> Path:
    if not (TAU3_TELECOM / "db.toml").exists():
        pytest.skip(
            f"reference data not found at {TAU3_TELECOM} (needs ../shared/data beside the repository)"
        )
    return TAU3_TELECOM


def test_loads_tau3_data(tau3_dir):
    db = TELECOM.database(tau3_dir)
    assert {name: len(rows) for name, rows in db.tables.items()} == {
        "plans": 5, "devices": 9, "lines": 9, "customers": 4, "bills": 6, "user": 2,
    }  # fmt: skip
    assert db.tables["lines"]["L1002"]["roaming_enabled"] is True
    assert db.tables["devices"]["D1001"]["activation_date"] == "2025-01-20T14:30:00"
    assert db.tables["user"]["device"]["app_statuses"]["messaging"]["permissions"]["sms"] is True
    assert db.tables["user"]["surroundings"]["signal_strength"]["5G"] == "excellent"
    assert load_telecom(tau3_dir / "db.toml").canonical_hash() == db.canonical_hash()


def _write(tmp_path: Path, db: str, user: str | None = None) -> Path:
    (tmp_path / "db.toml").write_text(db)
    if user is not None:
        (tmp_path / "user_db.toml").write_text(user)
    return tmp_path


PLAN = '[[plans]]\nplan_id = "P1"\nname = "A"\ndata_limit_gb = 1.0\nprice_per_month = 1.0\ndata_refueling_price_per_gb = 1.0\n'
LINE = (
    '[[lines]]\nline_id = "L1"\nphone_number = "1"\nstatus = "Active"\nplan_id = "P1"\n'
    "data_used_gb = 0.0\ndata_refueling_gb = 0.0\nroaming_enabled = false\n"
)


def test_minimal_files_load_and_the_phone_defaults(tmp_path):
    db = load_telecom(_write(tmp_path, PLAN + LINE))
    assert db.tables["user"]["device"]["network_connection_status"] == "connected"


@pytest.mark.parametrize(
    ("db", "user", "message"),
    [
        ("[[plans", None, "db.toml: not valid TOML"),
        (PLAN.replace("1.0\nprice", '"lots"\nprice'), None, "plan 'P1' field 'data_limit_gb'"),
        (PLAN + LINE.replace('"Active"', '"Paused"'), None, "line 'L1' field 'status'"),
        (PLAN + LINE.replace('"P1"\ndata', '"P9"\ndata'), None, "line 'L1' field 'plan_id': no plan 'P9'"),
        (PLAN + "[[routers]]\nx = 1\n", None, "unknown table(s) routers"),
        (PLAN, "[device]\nairplane_mode = 3\n", "user_db.toml: [device] field 'airplane_mode'"),
        (PLAN, "[device]\nnetwork_mode_preference = '6g'\n", "field 'network_mode_preference'"),
        (PLAN, "[phone]\n", "unknown section(s) phone"),
    ],
)
def test_bad_files_name_file_record_and_field(tmp_path, db, user, message):
    with pytest.raises(DataError, match=None) as caught:
        load_telecom(_write(tmp_path, db, user))
    assert message in str(caught.value)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_telecom(tmp_path / "nowhere")


def test_initialization_data_merges_records_and_device_fields(tau3_dir):
    db = load_telecom(tau3_dir).fork()
    apply_initial_state(
        db,
        {
            "initialization_data": {
                "agent_data": {"lines": [{"line_id": "L1001", "data_used_gb": 9.5}]},
                "user_data": {"device": {"airplane_mode": True}, "surroundings": {"is_abroad": True}},
            },
            "initialization_actions": [
                {
                    "env_type": "user",
                    "func_name": "set_user_info",
                    "arguments": {"name": "J", "phone_number": "555-123-2001"},
                },
            ],
        },
    )
    assert db["lines"]["L1001"]["data_used_gb"] == 9.5 and db["lines"]["L1001"]["plan_id"] == "P1001"
    assert db["user"]["device"]["airplane_mode"] is True
    assert db["user"]["surroundings"]["is_abroad"] is True and db["user"]["surroundings"]["name"] == "J"


@pytest.mark.parametrize(
    ("initial_state", "message"),
    [
        ({"initialization_actions": [{"env_type": "user", "func_name": "melt_phone"}]}, "user melt_phone: unknown function"),
        ({"initialization_actions": [{"env_type": "robot", "func_name": "x"}]}, "env_type must be 'user' or 'assistant'"),
        ({"initialization_actions": [{"env_type": "user", "func_name": "set_user_location", "arguments": {}}]}, "bad arguments"),
        ({"initialization_actions": [{"env_type": "assistant", "func_name": "resume_line", "arguments": {"customer_id": "C1001", "line_id": "L1001"}}]}, "failed: Error: Line must be suspended"),
        ({"initialization_actions": [{"env_type": "user", "func_name": "lock_sim_card", "arguments": {"mode": "abc"}}]}, "lock mode must be"),
        ({"initialization_data": {"agent_data": {"lines": [{"line_id": "L1001", "status": "Gone"}]}}}, "field 'status'"),
        ({"initialization_data": {"user_data": {"device": {"battery_level": 140}}}}, "field 'battery_level'"),
    ],
)  # fmt: skip
def test_bad_initial_states_raise_data_errors(tau3_dir, initial_state, message):
    with pytest.raises(DataError) as caught:
        apply_initial_state(load_telecom(tau3_dir).fork(), initial_state)
    assert message in str(caught.value)


def test_write_then_load_keeps_the_hash(tmp_path):
    from casework.domains.state import Database
    from casework.domains.telecom import TELECOM

    database = TELECOM.generate_data(seed=5, customers=8)
    state = database.fork()  # a changed phone (VPN details, a removed permission) round-trips too
    TELECOM.apply_initial_state(
        state,
        {
            "initialization_actions": [
                {"env_type": "user", "func_name": "break_vpn"},
                {
                    "env_type": "user",
                    "func_name": "remove_app_permission",
                    "arguments": {"app_name": "messaging", "permission": "sms"},
                },
            ]
        },
    )
    files = TELECOM.write_data(Database(state.to_dict()), tmp_path / "a")
    assert [f.name for f in files] == ["db.json", "user_db.json"]
    assert TELECOM.load_data(tmp_path / "a").canonical_hash() == state.canonical_hash()
    assert load_telecom(files[0]).canonical_hash() == state.canonical_hash() != database.canonical_hash()


def test_bad_json_names_the_file(tmp_path):
    (tmp_path / "db.json").write_text('{"plans": [')
    with pytest.raises(DataError, match=r"db.json: not valid JSON"):
        load_telecom(tmp_path)
