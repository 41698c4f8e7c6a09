"""Reports on run directories: analyses, charts, Markdown and HTML, latency profiles, comparisons.

- :func:`write_report`: ``report.md``, ``report.html``, ``profile.json`` and ``charts/*.png`` for one run.
- :func:`write_comparison`: ``comparison.md`` / ``comparison.html`` for two or more runs, with a
  paired sign test on per-task success.

Submodules: :mod:`.analysis` (pure computations), :mod:`.profile` (model-call latency),
:mod:`.charts` (matplotlib), :mod:`.markdown`, :mod:`.html` (jinja2), :mod:`.compare`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from casework.reports.analysis import ReportError, RunData, analyze, load_run


@dataclass(frozen=True)
class ReportPaths:
    """Where a report's files were written."""

    out_dir: Path
    markdown: Path
    html: Path
    profile: Path
    charts: dict[str, Path] = field(default_factory=dict)


def write_report(run_dir: Path, tasks_path: Path | None = None, out_dir: Path | None = None) -> ReportPaths:
    """Analyse a run directory and write its report files (into the run directory unless ``out_dir``)."""
    from casework.reports.charts import write_charts
    from casework.reports.html import render_report_html
    from casework.reports.markdown import render_markdown
    from casework.reports.profile import latency_profile

    run = load_run(Path(run_dir), tasks_path)
    out = Path(out_dir) if out_dir is not None else run.run_dir
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyze(run)
    profile = latency_profile(run.results)
    charts = write_charts(analysis, run.counted, out / "charts")
    profile_path = out / "profile.json"
    profile_path.write_text(json.dumps(profile, indent=2), encoding="utf-8")
    relative = {name: path.relative_to(out).as_posix() for name, path in charts.items()}
    markdown = out / "report.md"
    from casework.reports.studies import studies_html, studies_markdown

    text = render_markdown(analysis, profile, relative)
    footer = "\n---\nComputed from"
    if footer in text:  # the studies section goes before the footer
        head, _, tail = text.rpartition(footer)
        text = head + studies_markdown(run.run_dir) + footer + tail
    markdown.write_text(text, encoding="utf-8")
    instructions = {t.id: t.instruction for t in run.tasks or []}
    page = out / "report.html"
    page.write_text(
        render_report_html(analysis, profile, charts, run.results, instructions, studies_html(run.run_dir)),
        encoding="utf-8",
    )
    return ReportPaths(out, markdown, page, profile_path, charts)


def write_comparison(run_dirs: list[Path], out_dir: Path) -> dict[str, Path]:
    """Compare two or more runs (the first is the baseline); returns ``{markdown, html, chart}`` paths."""
    from casework.reports.compare import write_comparison_files

    if len(run_dirs) < 2:
        raise ReportError("compare needs at least two run directories")
    return write_comparison_files([load_run(Path(d)) for d in run_dirs], Path(out_dir))


__all__ = ["ReportError", "ReportPaths", "RunData", "analyze", "load_run", "write_comparison", "write_report"]
