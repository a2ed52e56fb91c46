"""The error statuses each operation documents, all with the one error body.

Every operation may answer 401 (no valid token or session); one with path parameters 404 (no such row, or one the
caller may not see); one with parameters or a body 422 (invalid input, naming the field) and 400 (malformed JSON,
or more query fields than Django reads); a write 403 (the caller's role may not do it). A status only some
operations return (409) is declared on its view: `@may_conflict` for 409 (a duplicate, or a step the row's state
does not allow).
"""

from collections.abc import Callable
from typing import Any, TypeVar

from ninja import Schema
from ninja.openapi.schema import OpenAPISchema
from pydantic import Field

WRITES = {"post", "put", "patch", "delete"}
DESCRIPTIONS = {
    400: "Malformed request",
    401: "Authentication required",
    403: "The caller's role may not do this",
    404: "No such row, or one the caller may not see",
    409: "Conflicts with the current state (a duplicate names the existing row)",
    422: "Invalid input; `errors` names each field",
}

View = TypeVar("View", bound=Callable[..., Any])
CONFLICTING: set[str] = set()  # operation ids


def may_conflict(view: View) -> View:
    """Mark a view that may answer 409; put it under the `@router` line."""
    CONFLICTING.add(f"{view.__module__.replace('.', '_')}_{view.__name__}")  # django-ninja's operation id
    return view


class ErrorOut(Schema):
    """Every error the API answers: what went wrong, and the messages per field."""

    detail: str
    errors: dict[str, list[str]] = Field(description="Messages per field ('body' when no field is to blame)")


def statuses_of(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from its shape."""
    parameters = operation.get("parameters", [])
    statuses = {401}
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if parameters or "requestBody" in operation:
        statuses.update((400, 422))  # 400: malformed JSON, or more query fields than Django reads
    if method in WRITES:
        statuses.add(403)
    if operation["operationId"] in CONFLICTING:
        statuses.add(409)
    return statuses


def document_errors(schema: OpenAPISchema) -> OpenAPISchema:
    """Add each operation's error statuses, with the error body, to the OpenAPI schema."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    schema["components"]["schemas"]["ErrorOut"] = ErrorOut.model_json_schema()
    for path in schema["paths"].values():
        for method, operation in path.items():
            responses = operation["responses"]
            for status in sorted(statuses_of(method, operation)):
                responses.setdefault(status, {"description": DESCRIPTIONS[status], "content": error})
            for status, response in responses.items():
                if status in DESCRIPTIONS:
                    response["description"] = DESCRIPTIONS[status]
    return schema
