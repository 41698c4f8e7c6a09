"""Domains as plugins: the registry, the built-in mock domain, `casework domain check`, the scaffold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import (
    Domain,
    DomainError,
    State,
    Toolbox,
    ToolKind,
    available,
    get_domain,
    register,
    tool,
)
from casework.domains.scaffold import write_plugin
from casework.runs.domain_check import check_domain

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_builtins_are_listed_and_unknown_names_are_refused_with_the_choices():
    assert {"retail", "mock"} <= set(available())
    with pytest.raises(DomainError, match=r"unknown domain 'nope'; available: .*mock.*retail"):
        get_domain("nope")
    result = invoke("domain", "tools", "--domain", "nope")
    assert result.exit_code == 2 and "unknown domain 'nope'" in result.output
    assert "Traceback" not in result.output


def test_domain_by_import_path_and_registered_object():
    by_path = get_domain("casework.domains.mock:DOMAIN")
    assert by_path is get_domain("mock")
    with pytest.raises(DomainError, match="cannot import"):
        get_domain("no_such_pkg.mod:OBJ")
    with pytest.raises(DomainError, match="has no 'NOPE'"):
        get_domain("casework.domains.mock:NOPE")
    with pytest.raises(DomainError, match="not a casework Domain"):
        get_domain("casework.domains.mock:NAME")
    import dataclasses

    renamed = register(dataclasses.replace(get_domain("mock"), name="mock_copy"))
    assert isinstance(renamed, Domain) and get_domain("mock_copy") is renamed


def test_unknown_profile_names_the_profiles():
    with pytest.raises(DomainError, match="no tool profile 'x'; available: default"):
        get_domain("mock", profile="x")


def test_mock_domain_passes_every_check():
    checks = check_domain(get_domain("mock"))
    assert [c.name for c in checks] == ["schemas", "tools", "data", "sample tasks", "oracle", "templated"]
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    oracle = next(c for c in checks if c.name == "oracle")
    assert oracle.detail.endswith("3/3 reward 1")


def test_domain_check_fails_on_a_broken_tool(monkeypatch):
    import dataclasses

    @tool(ToolKind.READ)
    def broken(db: State, ticket_id: str) -> str:
        """A tool with a bug.

        Args:
            ticket_id: A ticket id.
        """
        return db["tickets"][ticket_id]["missing"]  # KeyError: a bug, not a ToolError

    mock = get_domain("mock")
    bad = dataclasses.replace(
        mock,
        name="mock_broken",
        toolbox=Toolbox([*[t.function for t in mock.toolbox.tools.values()], broken]),
    )
    tools = next(c for c in check_domain(bad) if c.name == "tools")
    assert not tools.passed and "broken" in tools.detail and "KeyError" in tools.detail


def test_data_generate_is_generic_and_rejects_unknown_sizes(tmp_path):
    result = invoke("data", "generate", "--domain", "mock", "--size", "customers=4", "--out", tmp_path / "db")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "db" / "db.json").read_text())
    assert len(data["customers"]) == 4 and len(data["tickets"]) == 30
    result = invoke("data", "generate", "--domain", "mock", "--size", "planets=4", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "'planets=4'" in result.output
    assert "customers=20" in result.output and "tickets=30" in result.output


def test_scaffold_refuses_bad_names_and_non_empty_directories(tmp_path):
    with pytest.raises(DomainError, match="lower-case"):
        write_plugin("Help-Desk", tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("x")
    with pytest.raises(DomainError, match="not an empty directory"):
        write_plugin("helpdesk", tmp_path / "b")


def _fake_install(site: Path, name: str) -> None:
    """What `pip install -e` leaves for importlib.metadata: a dist-info holding the entry point (the
    package itself goes on PYTHONPATH; the real pip round trip is in the README and the closing note)."""
    dist = site / f"casework_{name}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: casework-{name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[casework.domains]\n{name} = casework_{name}:DOMAIN\n")


@pytest.mark.slow
def test_scaffold_round_trip_as_an_installed_plugin(tmp_path):
    plugin = tmp_path / "casework-helpdesk"
    written = write_plugin("helpdesk", plugin)
    assert (plugin / "pyproject.toml").read_text().count('helpdesk = "casework_helpdesk:DOMAIN"') == 1
    assert {p.name for p in written} >= {"__init__.py", "tools.py", "policy.md", "tasks.json", "README.md"}
    site = tmp_path / "site"
    _fake_install(site, "helpdesk")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(plugin)]), "COLUMNS": "250"}
    casework = [sys.executable, "-m", "casework.cli"]

    listed = subprocess.run(
        [*casework, "domain", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert "helpdesk" in listed.stdout and "plugin (casework_helpdesk:DOMAIN)" in listed.stdout

    checked = subprocess.run(
        [*casework, "domain", "check", "helpdesk"], env=env, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAIL" not in checked.stdout and "3/3 reward 1" in checked.stdout
