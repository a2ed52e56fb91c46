"""The web app's answer when the database is away for a moment: 503 with Retry-After, never a 500."""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from leadflow.outages import RETRY_AFTER_SECONDS, database_unavailable, drop_lost_connection

logger = logging.getLogger(__name__)
MESSAGE = "leadflow cannot reach its database for a moment; nothing was lost. Try again in a few seconds."


class DatabaseUnavailableMiddleware:
    """A view cut off by a dropped database connection, or by SQLite staying busy past its timeout, answers 503
    with Retry-After; the dropped connection is closed so the next request opens a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        logger.warning("%s %s: the database is unavailable (%s)", request.method, request.path, exception)
        drop_lost_connection()
        if request.headers.get("HX-Request"):
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
        else:
            response = HttpResponse(render_to_string("web/unavailable.html", {"message": MESSAGE}), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
