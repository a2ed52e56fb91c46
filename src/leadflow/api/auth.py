"""API authentication: a bearer token, or the web app's signed-in session."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from leadflow.users.services import user_for_token


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return user_for_token(token)


class ActiveSession(SessionAuth):
    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


def current_user(request: HttpRequest) -> Any:
    """The signed-in user of an authenticated API request."""
    return request.auth  # type: ignore[attr-defined]
