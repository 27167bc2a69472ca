"""Where things live: checks on the source tree itself (docs/architecture.md, "Layers and import rules").

The import rules read every import statement of the product (at the top of a module, inside a function, under
TYPE_CHECKING alike) and fail on each arrow that runs the wrong way, naming the file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {"tests", "tools", "build", "docs"}

DOMAIN = {"playbook", "settings"}  # the bottom: everyone may import them; they import nothing of ours
# What each top-level package or module of ours may import, besides itself. The rest is a wrong arrow.
MAY_IMPORT: dict[str, set[str]] = {
    "playbook": set(),
    "settings": set(),
    # Deterministic workflow code: the domain only (the environment, adapters, activities and clients stay out).
    "workflows": {"playbook"},
    "integrations": DOMAIN,
    "observability": DOMAIN,
    # The client side of Temporal names workflow types (to start, signal and query them), never runs them.
    "client": {"workflows", "observability", *DOMAIN},
    # Activities are called by the workflows by name; they use adapters and, to start workflows, the client side.
    "activities": {"integrations", "client", *DOMAIN},
    # The doors. The worker and the benchmarks host workflows and activities; the others reach workflows through
    # client/ (client/workflow_types.py for the classes); a door may also use adapters (the artefact store).
    "worker": {"workflows", "activities", "client", "observability", *DOMAIN},
    "bench": {"workflows", "activities", "client", "integrations", "observability", "embedded", "worker", "intake",
              *DOMAIN},
    "intake": {"client", "integrations", "observability", *DOMAIN},
    "embedded": {"client", "intake", "worker", "observability", *DOMAIN},
    "cli": {"client", "integrations", "intake", "embedded", "worker", "observability", *DOMAIN},
}


def units(root: Path) -> dict[str, list[Path]]:
    """Each top-level module and package of the product, with its Python files (not the tests or tools)."""
    found = {path.stem: [path] for path in sorted(root.glob("*.py"))}
    for package in sorted(p.parent for p in root.glob("*/__init__.py")):
        if package.name not in NOT_PRODUCT:
            found[package.name] = sorted(package.rglob("*.py"))
    return found


def product_files(root: Path = REPO) -> Iterator[Path]:
    for files in units(root).values():
        yield from files


def relative(path: Path, root: Path = REPO) -> str:
    return path.relative_to(root).as_posix()


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every absolute import in the file; relative ones stay inside their package."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def wrong_arrows(root: Path = REPO) -> list[str]:
    found = units(root)
    wrong = []
    for unit, files in found.items():
        allowed = MAY_IMPORT.get(unit, set())
        for path in files:
            for line, module in imported(path):
                target = module.split(".")[0]
                if target in found and target != unit and target not in allowed:
                    wrong.append(f"{relative(path, root)}:{line}: {unit} -> {target} (import {module}); "
                                 f"{unit} may import {', '.join(sorted(allowed)) or 'nothing of ours'}")
    return wrong


def test_every_package_has_its_place_in_the_layers() -> None:
    assert sorted(units(REPO)) == sorted(MAY_IMPORT), "add the new package to MAY_IMPORT and docs/architecture.md"


def test_imports_run_one_way() -> None:
    wrong = wrong_arrows()
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(wrong)


@pytest.mark.parametrize(("unit", "line"), [
    ("workflows", "from activities.review import ReviewActivities"),
    ("workflows", "import client.temporal"),
    ("workflows", "from integrations import slack"),
    ("workflows", "import settings"),
    ("playbook", "from workflows import briefing"),
    ("activities", "from workflows.incident import IncidentWorkflow"),
    ("intake", "from workflows.incident import IncidentWorkflow"),
    ("cli", "from activities.review import ReviewActivities"),
    ("client", "from intake.app import serve"),
])
def test_a_wrong_arrow_is_named(tmp_path: Path, unit: str, line: str) -> None:
    """The check itself: a copy of the tree with one wrong import (inside a function, as lazy imports are) fails."""
    for name in MAY_IMPORT:
        target = tmp_path / (f"{name}.py" if name in {"settings", "worker"} else f"{name}/__init__.py")
        target.parent.mkdir(exist_ok=True)
        target.touch()
    module = tmp_path / (f"{unit}.py" if unit in {"settings", "worker"} else f"{unit}/wrong.py")
    module.write_text(f"def later() -> None:\n    {line}\n")
    assert wrong_arrows(tmp_path) == [
        f"{relative(module, tmp_path)}:2: {unit} -> {line.split()[1].split('.')[0]} (import {line.split()[1]}); "
        f"{unit} may import {', '.join(sorted(MAY_IMPORT[unit])) or 'nothing of ours'}"]


# ---------------------------------------------------------------- settings

ENVIRONMENT_NAME = re.compile(r"FIREBREAK_[A-Z0-9_]+")
# The intake's secrets are named in playbook.toml ([intake.sources.<name>] token_env and the like); these are the
# defaults of those keys, read through the intake's configuration, not settings of Firebreak's own.
SECRET_NAMES = {"intake/config.py"}


def test_every_firebreak_variable_is_named_in_settings_only() -> None:
    elsewhere = [f"{relative(path)}:{node.lineno}: {node.value}"
                 for path in product_files() if relative(path) not in {"settings.py", *SECRET_NAMES}
                 for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)
                 and ENVIRONMENT_NAME.fullmatch(node.value)]
    assert not elsewhere, ("FIREBREAK_* variables belong in settings.py (name it there and import the name):\n"
                           + "\n".join(elsewhere))
