"""The REST API (django-ninja): token auth, one error shape, a router per domain app."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from leadflow.errors import DomainError
from leadflow.outages import RETRY_AFTER_SECONDS, database_unavailable, drop_lost_connection

from . import (
    accounts,
    analytics,
    capture,
    chat,
    duplicates,
    engagement,
    exports,
    leads,
    nurture,
    pipeline,
    qualification,
    scoring,
)
from .auth import ActiveSession, BearerToken
from .docs import VendoredSwagger
from .statuses import document_errors


class ObjectBodies(Parser):
    """JSON bodies are objects: null, a list or a number is malformed, not an empty object (django-ninja's schemas
    would read any of them as one)."""

    def parse_body(self, request: HttpRequest) -> dict:
        body = super().parse_body(request)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body


class LeadflowAPI(NinjaAPI):
    """django-ninja's API, whose OpenAPI schema also documents each operation's error statuses."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None) -> OpenAPISchema:
        return document_errors(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))


api = LeadflowAPI(
    title="leadflow API",
    version="1",
    description="Leads, prospects and opportunities. Authenticate with `Authorization: Bearer <token>`.",
    auth=[BearerToken(), ActiveSession()],
    urls_namespace="api",
    docs=VendoredSwagger(),
    parser=ObjectBodies(),
)

# Services name a related row by its field ("owner"); the API's bodies name it by id ("owner_id").
FIELD_NAMES = {
    "owner": "owner_id",
    "team": "team_id",
    "account": "account_id",
    "contact": "contact_id",
    "pipeline": "pipeline_id",
}


def _error(request: HttpRequest, status: int, detail: str, errors: dict | None = None, **extra) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or {}, **extra}, status=status)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    errors = {FIELD_NAMES.get(field, field): messages for field, messages in exc.errors.items()}
    return _error(request, exc.status, exc.detail, errors, **exc.extra)


@api.exception_handler(ValidationError)
def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        # loc is ("body", "payload", "field", ...) or ("query", "field"): keep what names the field.
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "payload")]
        loc = [part for part in loc if not part.endswith("Params") and part not in ("page", "filters")]
        errors.setdefault(".".join(loc) or "body", []).append(error.get("msg", "Invalid value."))
    fields = ", ".join(errors)
    return _error(request, 422, f"Invalid input: {fields}.", errors)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, 401, "Authentication required: send Authorization: Bearer <token>.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return _error(request, 400, f"Malformed request: {exc}.", {"body": [str(exc)]})
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(SuspiciousOperation)
def suspicious_request(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """Django refuses some requests as it reads them (more query fields than DATA_UPLOAD_MAX_NUMBER_FIELDS, a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE): a 400 in the API's own shape instead of Django's HTML page."""
    return _error(request, 400, f"Malformed request: {exc}", {"request": [str(exc)]})


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "Forbidden.")


@api.exception_handler(DatabaseError)
def database_error(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    """503 with Retry-After when the database is away for a moment (see leadflow.outages); any other database
    error is a bug, raised as usual."""
    if not database_unavailable(exc):
        raise exc
    drop_lost_connection()
    response = _error(request, 503, "The database is unavailable for a moment; try again in a few seconds.")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


api.add_router("/", exports.router)  # before the others: /leads/export.csv is not a lead id
api.add_router("/", accounts.router)
api.add_router("/", leads.router)
api.add_router("/", pipeline.router)
api.add_router("/", engagement.router)
api.add_router("/", analytics.router)
api.add_router("/", scoring.router)
api.add_router("/", qualification.router)
api.add_router("/", nurture.router)
api.add_router("/", duplicates.router)
api.add_router("/", capture.router)
api.add_router("/", chat.router)
