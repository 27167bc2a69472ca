"""The intake's OpenAPI document: every status a route can answer, and request schemas as strict as the API.

The routes read their bodies themselves (intake/body.py), so each documents its body with `body_doc` and its
answers with `answers`. `finish` then moves every request schema's `$defs` into components (renaming a model that
another route defines differently, e.g. Grafana's Alert next to Alertmanager's), and tightens the Detection schema
with the limits the door enforces (client/admission.py), so that the schema never allows what the API refuses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from client import admission as lim

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
WHY: dict[int, str] = {
    202: "sent, but the incident has not processed it within the wait (no worker running)",
    400: "malformed body: not UTF-8 JSON, empty, nested too deeply, or not the expected form",
    401: "no credentials, or credentials that match nothing here",
    403: "credentials of another source, an unknown or revoked token, or the feature is not configured",
    404: "unknown incident or approval request",
    408: "the body did not arrive within intake.body_timeout_seconds",
    409: "refused by the incident: already decided, expired, closed, or the wrong role",
    413: "body over its byte limit, or too many entries or values in it",
    415: "Content-Type is not the one this route reads",
    422: "a field is missing, of the wrong type, out of range or holds a forbidden character",
    429: "the source is over its rate limit ([intake.rate_limits]); nothing was recorded: retry after Retry-After",
    503: "Temporal did not record or answer it (or the intake failed unexpectedly): retry after Retry-After",
}
SENT = (400, 401, 403, 408, 413, 415, 422, 429, 503)  # every route that reads a JSON body and reaches Temporal


class ErrorBody(BaseModel):
    message: str
    field: str | None = None


def answers(*codes: int, model: bool = True) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its reason, the JSON error body and Retry-After on 429 and 503."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        doc: dict[str, Any] = {"description": WHY[code]}
        if model and code >= 400:
            doc["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        if code in (429, 503):
            doc["headers"] = RETRY_AFTER
        out[code] = doc
    return out


def body_doc(*types: Any, required: bool = True) -> dict[str, Any]:
    """`openapi_extra=` documenting a JSON request body of one of `types`."""
    adapter: TypeAdapter[Any] = TypeAdapter(types[0] if len(types) == 1 else types[0] | types[1])
    schema = adapter.json_schema(by_alias=True)
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


def form_doc(*fields: str) -> dict[str, Any]:
    """`openapi_extra=` for a form-encoded body of required string fields (Slack's interactivity payload)."""
    schema = {"type": "object", "required": list(fields), "properties": {f: {"type": "string"} for f in fields}}
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}


PAYLOADS = {"type": "object", "properties": {"payloads": {"type": "array", "items": {
    "type": "object", "properties": {"metadata": {"type": "object", "additionalProperties": {"type": "string",
                                                                                           "format": "byte"}},
                                     "data": {"type": "string", "format": "byte"}}}}}}
PAYLOADS_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": PAYLOADS}}},
                "responses": {"200": {"description": "the payloads, encoded or decoded",
                                      "content": {"application/json": {"schema": PAYLOADS}}}}}


def _refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**node, "$ref": f"#/components/schemas/{names[ref.removeprefix('#/$defs/')]}"}
        return {k: _refs(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_refs(v, names) for v in node]
    return node


def _hoist(spec: dict[str, Any]) -> None:
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                schema = media.get("schema", {})
                defs = schema.pop("$defs", None)
                if not defs:
                    continue
                label = next((p for p in reversed(path.split("/")) if p and "{" not in p), "body").title()
                names = {n: n if components.get(n, d) == d else f"{label}{n}" for n, d in defs.items()}
                for name, definition in defs.items():
                    components[names[name]] = _refs(definition, names)
                media["schema"] = _refs(schema, names)


NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
SERVICE = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"


def _tighten(detection: dict[str, Any]) -> None:
    """The door's limits on a Detection, in the schema (timestamps: see the description)."""
    props = detection["properties"]
    key = {"type": "string", "maxLength": lim.MAX_KEY, "pattern": NO_CONTROL}
    props["services"].update(maxItems=lim.MAX_SERVICES, items={"type": "string", "maxLength": lim.MAX_SERVICE,
                                                              "pattern": SERVICE})
    props["labels"].update(maxProperties=lim.MAX_LABELS, propertyNames={"maxLength": lim.MAX_LABEL,
                                                                       "pattern": NO_CONTROL},
                           additionalProperties={"type": "string", "maxLength": lim.MAX_LABEL, "pattern": NO_CONTROL})
    props["metrics"].update(maxProperties=lim.MAX_METRICS, propertyNames={"maxLength": lim.MAX_NAME,
                                                                         "pattern": NO_CONTROL},
                            additionalProperties={"type": "number", "minimum": -1.7976931348623157e308,
                                                  "maximum": 1.7976931348623157e308})
    props["links"].update(maxItems=lim.MAX_LINKS, items={"type": "string", "maxLength": lim.MAX_LINK})
    props["summary"].update(maxLength=lim.MAX_SUMMARY, pattern="^[^\\u0000]*$")
    props["source"].update(maxLength=lim.MAX_KEY, pattern=NO_CONTROL)
    for name in ("fingerprint", "alert_id", "model", "prompt_name", "deploy_id"):
        props[name]["anyOf"][0] = key
    props["detected_at"]["description"] = (f"when the alert started; from {lim.EARLIEST:%Y-%m-%d} to now + "
                                           f"{lim.AHEAD.days} day (UTC), else 422")


def finish(spec: dict[str, Any]) -> dict[str, Any]:
    """Components for every request body, the error body, and the Detection limits."""
    _hoist(spec)
    components = spec["components"]["schemas"]
    components["ErrorBody"] = ErrorBody.model_json_schema()
    if "Detection" in components:
        _tighten(components["Detection"])
    return spec
