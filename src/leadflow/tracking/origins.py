"""Where a public request comes from and whether a site lets it in: shared by the tracking beacons and every other
endpoint a tracked site's pages call (the chat widget). A page on one of the site's origins, or on this server's own
(the demo site), may send; CORS headers name only such an origin."""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponseBase

from .models import Site


def page_origin(request: HttpRequest) -> str:
    """The sending page's origin: the Origin header, else the Referer's scheme and host."""
    origin = request.headers.get("Origin", "")
    if origin and origin != "null":
        return origin.rstrip("/").lower()
    parts = urlsplit(request.headers.get("Referer", ""))
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def may_send(site: Site, origin: str, request: HttpRequest) -> bool:
    """Whether a page on `origin` may call the site's endpoints: one of its origins, or this server's own."""
    return bool(origin) and (origin in site.origins or origin == f"{request.scheme}://{request.get_host()}".lower())


def with_cors(response: HttpResponseBase, origin: str, methods: str) -> HttpResponseBase:
    """Let a page on `origin` (already judged allowed) read the answer; nothing for no origin."""
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        response["Vary"] = "Origin"
    return response
