"""Finding domains by name: the built-ins, installed plugins and ``package.module:OBJECT`` paths.

- Built-in domains are listed in :data:`BUILTIN` as import paths and loaded on first use.
- Third-party domains register through the ``casework.domains`` entry-point group: the entry
  point's name is the domain's name, its value a ``package.module:OBJECT`` path to a
  :class:`~casework.domains.domain.Domain` (or a callable returning one).
- ``get_domain("package.module:OBJECT")`` loads one by path without installing anything.
- :func:`register` adds a domain object at run time (tests, notebooks).

``name@profile`` selects a tool profile (``retail@tau3``), as ``--profile`` does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from casework.domains.domain import Domain, DomainError

ENTRY_POINT_GROUP = "casework.domains"

#: the domain a command uses when neither ``--domain`` nor the task file names one
DEFAULT_DOMAIN = "retail"

#: name -> import path of the built-in domains
BUILTIN: dict[str, str] = {
    "retail": "casework.domains.retail:RETAIL",
    "airline": "casework.domains.airline:AIRLINE",
    "mock": "casework.domains.mock:DOMAIN",
    "telecom": "casework.domains.telecom:TELECOM",
}

_REGISTERED: dict[str, Domain] = {}
_LOADED: dict[str, Domain] = {}


def register(domain: Domain) -> Domain:
    """Make ``domain`` available by its name for this process."""
    _REGISTERED[domain.name] = domain
    _LOADED.pop(domain.name, None)
    return domain


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> dict[str, str]:
    """Every domain that can be loaded by name: ``{name: where it comes from}``."""
    found = {name: "built-in" for name in BUILTIN}
    found.update({name: f"plugin ({path})" for name, path in _plugins().items() if name not in found})
    found.update({name: "registered" for name in _REGISTERED})
    return dict(sorted(found.items()))


def load_object(path: str) -> Domain:
    """Import ``package.module:OBJECT`` and return the domain it names (calling it if it is a factory)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise DomainError(f"domain path {path!r}: expected 'package.module:OBJECT'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DomainError(f"domain {path!r}: cannot import {module_name!r} ({exc})") from exc
    try:
        target: object = module
        for part in attribute.split("."):
            target = getattr(target, part)
    except AttributeError as exc:
        raise DomainError(f"domain {path!r}: {module_name!r} has no {attribute!r}") from exc
    if not isinstance(target, Domain) and callable(target):
        factory: Callable[[], object] = target  # type: ignore[assignment]
        target = factory()
    if not isinstance(target, Domain):
        raise DomainError(f"domain {path!r} is a {type(target).__name__}, not a casework Domain")
    return target


def get_domain(name: str, profile: str | None = None) -> Domain:
    """The domain called ``name`` (a registered name or ``package.module:OBJECT``), with ``profile``'s tools.

    Raises :class:`DomainError` naming the available domains when ``name`` is unknown.
    """
    name = name.strip()
    if "@" in name and ":" not in name.partition("@")[2]:
        name, _, at_profile = name.partition("@")
        profile = profile or at_profile
    domain = _LOADED.get(name)
    if domain is None:
        if name in _REGISTERED:
            domain = _REGISTERED[name]
        elif name in BUILTIN:
            domain = load_object(BUILTIN[name])
        elif name in (plugins := _plugins()):
            domain = load_object(plugins[name])
        elif ":" in name:
            domain = load_object(name)
        else:
            raise DomainError(f"unknown domain {name!r}; available: {', '.join(available())}")
        _LOADED[name] = domain
    return domain.with_profile(profile)
