"""The approval modes of playbook.toml's [approvals], typed: what an action needs before it runs.

Users write `auto`, `auto_with_notice` or `approve:<role>`; `ApprovalMode.parse` is the one reader of that text
(the schema refuses what it cannot read, and `ApprovalPolicy.mode_for` hands out the parsed value).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from playbook.models import Role


@dataclass(frozen=True)
class ApprovalMode:
    """`auto`, `auto_with_notice`, or `approve` by `role`."""

    kind: Literal["auto", "auto_with_notice", "approve"]
    role: Role | None = None

    @staticmethod
    @cache
    def parse(text: str) -> ApprovalMode | None:
        """The mode a policy string names, or None when it names none. Parsed once per text (a pure function)."""
        if text == "auto":
            return ApprovalMode("auto")
        if text == "auto_with_notice":
            return ApprovalMode("auto_with_notice")
        kind, _, role = text.partition(":")
        return ApprovalMode("approve", Role(role)) if kind == "approve" and role in set(Role) else None

    @staticmethod
    def of(text: str) -> ApprovalMode:
        """The mode of a policy string the schema has accepted (its cross-check refuses the others)."""
        mode = ApprovalMode.parse(text)
        if mode is None:
            raise ValueError(f"{text!r} names no approval mode")
        return mode

    @property
    def needs_approval(self) -> bool:
        return self.kind == "approve"

    def __str__(self) -> str:
        """As the playbook writes it."""
        return f"approve:{self.role.value}" if self.role is not None else self.kind
