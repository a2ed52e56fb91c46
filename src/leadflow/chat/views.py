"""The public chat endpoints a site's pages call without signing in (mounted at /chat/): the widget script, the
offer (which script this page shows), starting or resuming a conversation, and answering it.

CSRF-exempt and guarded instead: the site's key, the page's origin against the site's allowed origins (403
otherwise; CORS headers name only an allowed origin), a per-IP limit per minute, a size limit, and a signed
conversation token, so one visitor can neither read nor answer another's conversation."""

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from leadflow.errors import DomainError
from leadflow.throttle import within_rate
from leadflow.tracking.models import Site
from leadflow.tracking.origins import may_send, page_origin, with_cors

from . import services
from .models import ChatScript, Conversation
from .selectors import script_for_page

WIDGET = Path(__file__).resolve().parent / "static" / "chat" / "widget.js"
MAX_BODY = 8 * 1024


@cache
def _widget() -> bytes:
    return WIDGET.read_bytes()


@require_GET
def widget(request: HttpRequest) -> HttpResponse:
    """The widget a site's pages load with `<script async src=".../chat/widget.js" data-site="KEY">`."""
    response = HttpResponse(_widget(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _refusal(status: int, origin: str, detail: str, errors: dict[str, list[str]] | None = None) -> HttpResponseBase:
    return with_cors(JsonResponse({"detail": detail, "errors": errors or {}}, status=status), origin, "GET, POST")


def _guard(request: HttpRequest, key: str) -> tuple[Site | None, str, HttpResponseBase | None]:
    """The site, the page's origin, and the refusal to send instead of an answer (None when all is well)."""
    site = Site.objects.filter(key=key, is_active=True).first()
    origin = page_origin(request)
    if site is None:
        return None, "", _refusal(404, "", "No such site.")
    if not may_send(site, origin, request):
        message = f"{origin or 'No origin'} is not one of the site's origins."
        return None, "", _refusal(403, "", "This page's origin may not use this site's chat.", {"origin": [message]})
    if request.method == "OPTIONS":
        return site, origin, with_cors(HttpResponse(status=204), origin, "GET, POST")
    if not within_rate("chat", request.META.get("REMOTE_ADDR"), settings.LEADFLOW_CHAT_RATE_PER_MINUTE):
        response = _refusal(429, origin, "Too many messages from this address; try again in a minute.")
        response["Retry-After"] = "60"
        return site, origin, response
    if len(request.body) > MAX_BODY:
        return site, origin, _refusal(413, origin, "A message holds at most 8 KiB.", {"body": ["Too large."]})
    return site, origin, None


def _payload(request: HttpRequest) -> dict[str, Any]:
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise DomainError("The message is not JSON.", errors={"body": ["Not JSON."]}) from None
    if not isinstance(payload, dict):
        raise DomainError("Send a JSON object.", errors={"body": ["Not an object."]})
    return payload


def _text(payload: dict[str, Any], key: str, limit: int) -> str:
    value = payload.get(key, "")
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def _path(page_url: str) -> str:
    return urlsplit(page_url).path or "/"


def state(conversation: Conversation) -> dict[str, Any]:
    """What the widget shows: the transcript, and the question waiting for an answer (its kind and buttons)."""
    script = conversation.script
    step = next((s for s in conversation.steps if s["id"] == conversation.current_step), None)
    prompt = None
    if step is not None and not conversation.is_finished:
        prompt = {"kind": step["answer"], "options": [option["label"] for option in step["options"]]}
    return {
        "token": services.conversation_token(conversation),
        "title": script.title,
        "finished": conversation.is_finished,
        "prompt": prompt,
        "messages": [
            {"author": message.author, "text": message.text, "options": message.options}
            for message in conversation.messages.all()
        ],
    }


@csrf_exempt
def offer(request: HttpRequest, key: str) -> HttpResponseBase:
    """GET ?page=<url>: whether this page offers a chat, and its heading (so the widget shows its button)."""
    site, origin, refusal = _guard(request, key)
    if refusal is not None:
        return refusal
    assert site is not None
    if request.method != "GET":
        return _refusal(405, origin, "GET the offer.")
    script = script_for_page(site, _path(request.GET.get("page", "")[:500]))
    if script is None:
        return _refusal(404, origin, "This page offers no chat.")
    return with_cors(JsonResponse({"title": script.title}), origin, "GET, POST")


@csrf_exempt
def start(request: HttpRequest, key: str) -> HttpResponseBase:
    """POST {"token" (to resume), "visitor" (the tracking snippet's id), "page"}: the conversation the token names,
    or a new one of the script the page offers."""
    site, origin, refusal = _guard(request, key)
    if refusal is not None:
        return refusal
    assert site is not None
    if request.method != "POST":
        return _refusal(405, origin, "POST to start a conversation.")
    try:
        payload = _payload(request)
        visitor, page = _text(payload, "visitor", 64), _text(payload, "page", 500)
        conversation = services.conversation_for(site, payload.get("token"))
        if conversation is not None:
            services.join_visitor(conversation, visitor)
            return with_cors(JsonResponse(state(conversation)), origin, "GET, POST")
        if payload.get("resume_only"):
            return _refusal(404, origin, "No such conversation.", {"token": ["Unknown or expired."]})
        script: ChatScript | None = script_for_page(site, _path(page))
        if script is None:
            return _refusal(404, origin, "This page offers no chat.")
        conversation = services.start_conversation(site, script, visitor_uid=visitor, page_url=page)
    except DomainError as error:
        return _refusal(error.status, origin, error.detail, error.errors)
    return with_cors(JsonResponse(state(conversation), status=201), origin, "GET, POST")


@csrf_exempt
def answer(request: HttpRequest, key: str) -> HttpResponseBase:
    """POST {"token", "answer"}: the visitor's answer to the waiting question; 422 naming what is wrong with it."""
    site, origin, refusal = _guard(request, key)
    if refusal is not None:
        return refusal
    assert site is not None
    if request.method != "POST":
        return _refusal(405, origin, "POST an answer.")
    try:
        payload = _payload(request)
        conversation = services.conversation_for(site, payload.get("token"))
        if conversation is None:
            return _refusal(404, origin, "No such conversation.", {"token": ["Unknown or expired."]})
        conversation = services.answer(conversation, payload.get("answer"))
    except DomainError as error:
        return _refusal(error.status, origin, error.detail, error.errors)
    return with_cors(JsonResponse(state(conversation)), origin, "GET, POST")
