"""Which tool profile a command uses: ``--profile``, else ``NAME@PROFILE``, else the task file's format.

A domain maps task-file formats to the profile their tasks were written for
(:attr:`~casework.domains.domain.Domain.format_profiles`, e.g. a τ³ file -> ``tau3``); a file of
casework's own format, or a domain without such a map, uses the domain's default profile.
"""

from __future__ import annotations

from pathlib import Path

from casework.errors import UserError


def file_format(path: Path) -> str | None:
    """The detected format of a task file, or None when it cannot be read (loading it reports why)."""
    from casework.tasks.formats import TaskFormatError, _parse, detect_format

    try:
        data, _ = _parse(Path(path))
        return detect_format(data, source=str(path))
    except (TaskFormatError, OSError, ValueError):
        return None


def split_spec(domain: str) -> tuple[str, str | None]:
    """``retail@tau3`` -> (``retail``, ``tau3``); a ``package.module:OBJECT`` path keeps its own ``@``."""
    name, at, profile = domain.strip().partition("@")
    if not at or ":" in profile:
        return domain.strip(), None
    return name, profile or None


def domain_spec(domain: str, profile: str | None = None, tasks: Path | None = None) -> str:
    """The domain to build as ``NAME`` or ``NAME@PROFILE``.

    ``profile`` (``--profile``) wins; it must agree with a profile named in ``domain``. Without
    either, the profile the domain assigns to the format of the task file ``tasks``, if any.
    """
    from casework.domains import get_domain

    name, named = split_spec(domain)
    if profile and named and profile != named:
        raise UserError(f"--profile {profile!r} contradicts --domain {domain!r}; give the profile once")
    chosen = profile or named
    if chosen is None and tasks is not None:
        fmt = file_format(tasks)
        if fmt is not None:
            chosen = get_domain(name).format_profiles.get(fmt)
    if chosen is None:
        return name
    get_domain(name, chosen)  # an unknown profile is an error naming the available ones
    return f"{name}@{chosen}"


__all__ = ["domain_spec", "file_format", "split_spec"]
