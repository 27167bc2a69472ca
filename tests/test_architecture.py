"""Where things live: checks on the source tree itself (docs/architecture.md, "Layers and import rules")."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {"tests", "tools", "build", "docs"}


def product_files() -> Iterator[Path]:
    """Every Python file of the product: the top-level modules and packages, not the tests or tools."""
    yield from sorted(REPO.glob("*.py"))
    for package in sorted(p.parent for p in REPO.glob("*/__init__.py")):
        if package.name not in NOT_PRODUCT:
            yield from sorted(package.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


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
