"""``casework domain new``: write an installable domain plugin, a copy of the built-in ``mock`` domain.

The plugin is the ``mock`` help desk (two tables, six tools, a policy, a data generator, three
templated scenarios, three sample tasks) under a new name, in its own package with a
``pyproject.toml`` that registers it in the ``casework.domains`` entry-point group. Because the
built-in ``mock`` domain is tested end to end, the scaffold works unchanged:
``pip install -e DIR`` → ``casework domain list`` shows it → ``casework domain check NAME`` passes.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

from casework.domains.domain import DomainError

TEMPLATE = Path(__file__).parent / "mock"
FILES = ("__init__.py", "tools.py", "data.py", "scenarios.py", "policy.md", "tasks.json")
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")

PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "casework-{dist}"
version = "0.1.0"
description = "The {name} domain for casework."
requires-python = ">=3.11"
dependencies = ["casework"]

[project.entry-points."casework.domains"]
{name} = "{package}:DOMAIN"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
{package} = ["*.md", "*.json"]
"""

README = """# casework domain `{name}`

A casework domain plugin, written by `casework domain new {name}` from the built-in `mock` help desk.
Edit the tables (`data.py`), the tools (`tools.py`: typed functions with Google-style docstrings,
tagged read / write / generic), the policy (`policy.md`), the scenarios (`scenarios.py`), the sample
tasks (`tasks.json`) and the contract fields in `__init__.py`, then check it end to end:

```bash
pip install -e .
casework domain list
casework domain check {name}
casework generate --domain {name} -n 20 --out tasks.json
casework run --domain {name} --tasks tasks.json --agent oracle --out runs/oracle
casework report runs/oracle
```
"""


def write_plugin(name: str, out_dir: Path) -> list[Path]:
    """Write the plugin package for domain ``name`` into ``out_dir`` (which must not hold files yet)."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise DomainError(
            f"domain name {name!r}: expected lower-case letters, digits and '_', starting with a letter"
        )
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DomainError(f"{out_dir} already exists and is not an empty directory")
    package = f"casework_{name}"
    target = out_dir / package
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file in FILES:
        text = (TEMPLATE / file).read_text(encoding="utf-8")
        if file == "__init__.py":
            text = text.replace('NAME = "mock"', f'NAME = "{name}"', 1)
            docstring_end = text.index('"""', 3) + 3
            text = (
                f'"""The {name} domain for casework (written by `casework domain new`)."""'
                + text[docstring_end:]
            )
        elif file == "tasks.json":
            tasks = json.loads(text)
            for task in tasks:
                task["domain"] = name
                task["id"] = task["id"].replace("mock-", f"{name}-", 1)
            text = json.dumps(tasks, indent=2, ensure_ascii=False) + "\n"
        path = target / file
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for file, body in (("pyproject.toml", PYPROJECT), ("README.md", README)):
        path = out_dir / file
        path.write_text(
            body.format(name=name, dist=name.replace("_", "-"), package=package), encoding="utf-8"
        )
        written.append(path)
    return written
