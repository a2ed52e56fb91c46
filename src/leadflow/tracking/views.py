"""The public tracking endpoints a site's pages reach without logging in: the snippet, and the beacons it sends.

A beacon is refused (403) unless its page's origin is one its site lists, or this server's own (the demo site);
under Do-Not-Track or Global Privacy Control nothing is stored, whatever the snippet did; IP addresses are used for
the rate limit and never stored."""

import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from leadflow.errors import DomainError
from leadflow.throttle import within_rate

from . import services
from .models import Site
from .origins import may_send, page_origin, with_cors

SNIPPET = Path(__file__).resolve().parent / "static" / "tracking" / "leadflow.js"
MAX_BODY = 64 * 1024


@cache
def _snippet() -> bytes:
    return SNIPPET.read_bytes()


def snippet(request: HttpRequest) -> HttpResponse:
    """The tracking script a site's pages load with `<script src=".../t/leadflow.js" data-site="KEY">`."""
    response = HttpResponse(_snippet(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _answer(status: int, origin: str, body: dict | None = None) -> HttpResponse:
    response = JsonResponse(body, status=status) if body is not None else HttpResponse(status=status)
    with_cors(response, origin, "POST")
    return response


@csrf_exempt  # beacons come from other sites' pages with no session; the origin list guards them
def collect(request: HttpRequest, key: str) -> HttpResponse:
    """POST a beacon: {"v": visitor id, "t": identity token (optional), "e": [up to 20 events]}."""
    site = Site.objects.filter(key=key, is_active=True).first()
    origin = page_origin(request)
    if site is None:
        return _answer(404, "", {"detail": "No such site."})
    if not may_send(site, origin, request):
        return _answer(
            403,
            "",
            {
                "detail": "This page's origin may not send to this site.",
                "errors": {"origin": [f"{origin or 'No origin'} is not one of the site's origins."]},
            },
        )
    if request.method == "OPTIONS":
        return _answer(204, origin)
    if request.method != "POST":
        return _answer(405, origin, {"detail": "POST a beacon."})
    if request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1":
        return _answer(204, origin)  # the browser asks not to be tracked: nothing is stored
    if not within_rate("tracking", request.META.get("REMOTE_ADDR"), settings.LEADFLOW_TRACKING_RATE_PER_MINUTE):
        response = _answer(429, origin, {"detail": "Too many beacons from this address; try again in a minute."})
        response["Retry-After"] = "60"
        return response
    if len(request.body) > MAX_BODY:
        return _answer(413, origin, {"detail": "A beacon holds at most 64 KiB.", "errors": {"body": ["Too large."]}})
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _answer(400, origin, {"detail": "The beacon is not JSON.", "errors": {"body": ["Not JSON."]}})
    try:
        services.collect(site, payload)
    except DomainError as error:
        return _answer(400, origin, {"detail": error.detail, "errors": error.errors})
    return _answer(204, origin)
