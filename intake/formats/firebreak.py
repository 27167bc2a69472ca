"""Firebreak's own format: a Detection (or a JSON array of them) exactly as playbook.models defines it."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from intake.body import load_json, validate
from intake.errors import from_validation
from playbook.models import Detection

CHUNK = 250  # Detections per call into pydantic-core, so that a large array never holds the GIL for long
_MANY: TypeAdapter[list[Detection]] = TypeAdapter(list[Detection])


def parse(body: bytes) -> list[Detection]:
    """One Detection or an array (after the body's shape checks); errors name the field as `services` or
    `[2].services`. An array is validated in chunks of its parsed items."""
    raw = load_json(body)
    if not isinstance(raw, list):
        return [validate(Detection, body)]
    found: list[Detection] = []
    for start in range(0, len(raw), CHUNK):
        try:
            found += _MANY.validate_python(raw[start:start + CHUNK])
        except ValidationError as err:
            first = err.errors(include_url=False)[0]["loc"]
            index = start + int(first[0]) if first and isinstance(first[0], int) else start
            raise from_validation(err, f"[{index}]", skip=1) from err
    return found
