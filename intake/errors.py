"""The one error type the intake answers with: an HTTP status, the field at fault and a sentence saying what to do."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class IntakeError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "field": self.field} if self.field else {"message": self.message}


def loc_to_field(loc: tuple[int | str, ...] | list[int | str], prefix: str = "") -> str:
    """('alerts', 0, 'labels') -> 'alerts[0].labels'."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else str(part)
    return out or "body"


def from_validation(err: ValidationError, prefix: str = "", status: int = 422) -> IntakeError:
    """The first problem pydantic found, as a message naming the field (and how many more there are)."""
    first = err.errors(include_url=False)[0]
    field = loc_to_field([p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))], prefix)
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    got = ""
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        shown = repr(first["input"])
        got = f"; got {shown[:80]}{'...' if len(shown) > 80 else ''}"
    return IntakeError(status, f"{field}: {first['msg']}{got}{more}", field)
