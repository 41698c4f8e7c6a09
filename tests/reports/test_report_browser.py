"""``report.html`` opened in headless Chromium: the summary and trajectories render, injected text stays text.

The hand-made run has a user message ``<script>document.title='XSS'</script><script>alert(1)</script>``.
If it were executed, the dumped DOM's ``<title>`` would read ``XSS``; it must instead appear as
escaped text inside the conversation.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import SCRIPT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(page: Path, profile: Path, *extra: str) -> str:
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def dom(report_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return chromium(report_dir / "report.html", tmp_path_factory.mktemp("chromium"), "--dump-dom")


def test_summary_and_trajectories_render(dom: str):
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and html.unescape(title.group(1)).startswith("casework report · run")
    success = re.search(r'<div class="v" id="success-rate">(.*?)</div>', dom)
    assert success is not None and success.group(1) == "50.0%"
    assert "pass^2" in dom and "25.0%" in dom
    trajectories = re.findall(r'<details class="traj[^"]*" id="t-([^"]+)"', dom)
    assert trajectories == ["T1-0", "T1-1", "T2-0", "T2-1", "T3-0", "T3-1", "T4-0", "T4-1"]
    assert "→ cancel_pending_order(" in html.unescape(dom)
    assert 'id="f-count">8</b>' in dom  # the filter script ran and counted every trajectory


def test_injected_script_is_shown_as_text_and_not_run(dom: str):
    assert "XSS" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert "<script>document.title" not in dom and "<script>alert(1)" not in dom
    user_messages = re.findall(r'<div class="msg user">(.*?)</div>', dom, re.S)
    assert any(SCRIPT in html.unescape(m) for m in user_messages)


def test_screenshot_is_a_png(report_dir: Path, tmp_path: Path):
    shot = tmp_path / "report.png"
    chromium(
        report_dir / "report.html", tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_filters_hide_trajectories(report_dir: Path, tmp_path: Path):
    page = (report_dir / "report.html").resolve().as_uri()
    done = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path}",
            "--dump-dom",
            page + "?failed=1&scenario=exchange+%2B+address",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shown = re.findall(r'<details class="traj[^"]*" id="t-([^"]+)"[^>]*?(hidden="")?>', done.stdout)
    visible = [t for t, hidden in shown if not hidden]
    assert visible == ["T4-0", "T4-1"] and len(shown) == 8
    assert 'id="f-count">2</b>' in done.stdout
