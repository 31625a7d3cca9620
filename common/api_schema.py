"""The OpenAPI schema declares every status code each operation answers (S9).

drf-spectacular documents what a view says it returns; the answers every operation may give
whatever it is come from the layers around it, and are added here once (a postprocessing hook,
``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``) rather than on every view:

- 400: input that cannot be used (a NUL character, malformed or too-deep JSON: common/input.py;
  a field's error: DRF). An operation that declares its own 400 (the problems of an import)
  keeps it, and may also give the plain form.
- 401, 403: not signed in, or not allowed; 404: not found or out of the caller's scope (ADR 3),
  a page past the last; 415: a body in a format the operation does not read; 429: the API's
  rate limit (common/throttling.py); 503: the database briefly unreachable, with Retry-After
  (common/failures.py).

Every such answer is JSON with a ``detail`` sentence (field errors name their field instead).
"""

from __future__ import annotations

from typing import Any, Final

ERROR: Final = "Error"
ERROR_SCHEMA: Final = {
    "type": "object",
    "description": (
        "Why the request was not served: `detail` in plain words, or each field's errors "
        "under the field's name."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
WHY: Final = {
    "400": "The request could not be used (a field's error, malformed input).",
    "401": "Not signed in, or the credentials are not valid.",
    "403": "Signed in, but not allowed to do this.",
    "404": "Not found, or not within what the caller may see.",
    "415": "The body is in a format this operation does not read.",
    "429": "Too many requests: try again later.",
    "503": "The service is briefly unavailable (see Retry-After); nothing was saved.",
}
EVERY_OPERATION: Final = ("400", "401", "403", "404", "429", "503")
WITH_A_BODY: Final = ("415",)
METHODS: Final = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def declare_error_responses(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the answers every operation may give."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(ERROR, ERROR_SCHEMA)
    reference = {"$ref": f"#/components/schemas/{ERROR}"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = EVERY_OPERATION + (WITH_A_BODY if "requestBody" in operation else ())
            for code in codes:
                declared = responses.get(code)
                if declared is None:
                    responses[code] = {
                        "description": WHY[code],
                        "content": {"application/json": {"schema": reference}},
                    }
                    continue
                for media in declared.get("content", {}).values():
                    schema = media.get("schema")
                    if schema is not None and schema != reference:
                        media["schema"] = {"anyOf": [schema, reference]}
    return result
