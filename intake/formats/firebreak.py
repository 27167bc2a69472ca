"""Firebreak's own format: a Detection (or a JSON array of them) exactly as playbook.models defines it."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from intake.errors import IntakeError, from_validation
from playbook.models import Detection

_MANY: TypeAdapter[list[Detection]] = TypeAdapter(list[Detection])


def parse(body: bytes) -> list[Detection]:
    """One Detection or an array; errors name the field as `services` or `[2].services`."""
    many = body.lstrip()[:1] == b"["
    try:
        return _MANY.validate_json(body) if many else [Detection.model_validate_json(body)]
    except ValidationError as err:
        if err.errors(include_url=False)[0]["type"] == "json_invalid":
            raise IntakeError(400, f"the body is not valid JSON ({err.errors()[0]['msg']})", "body") from err
        raise from_validation(err) from err
