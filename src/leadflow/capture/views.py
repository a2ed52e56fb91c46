"""The public doors, reached from any site without signing in: the hosted form page, the embed script, the
submission endpoint (CSRF-exempt: guarded by the form's signed token, honeypot, fill time, rate limit and
origins), the double opt-in link, and the lead-ads webhook endpoints. Each sets its own CORS and frame-ancestors
headers from the form's origins, whatever the app's pages use."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from leadflow.errors import DomainError

from . import selectors, services
from .models import Door, Form, WebhookSource
from .services.intake import UTM_KEYS


def _origin(request: HttpRequest) -> str | None:
    return request.headers.get("Origin")


def _with_cors(response: HttpResponseBase, form: Form, request: HttpRequest) -> HttpResponseBase:
    """Let a page on an allowed origin read the answer (the embed posts with fetch)."""
    origin = _origin(request)
    response["Vary"] = "Origin"
    if origin and services.origin_allowed(form, origin):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Accept, Content-Type"
        response["Access-Control-Max-Age"] = "600"
    return response


def _frame_ancestors(response: HttpResponse, form: Form) -> HttpResponse:
    """Only the form's own sites (and this app) may show the hosted page in a frame."""
    response["Content-Security-Policy"] = " ".join(["frame-ancestors 'self'", *form.origins()])
    response["Cache-Control"] = "no-store"
    return response


def _hosted_page(request: HttpRequest, form: Form, answers: object, *, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "answers": answers,
        "token": services.form_token(form),
        "action": reverse("capture:submit", args=[form.key]),
        "utm": {key: request.GET.get(key, "")[:200] for key in UTM_KEYS if request.GET.get(key)},
        "referrer": request.headers.get("Referer", "")[:500],
        "honeypot": services.HONEYPOT,
    }
    return _frame_ancestors(render(request, "capture/hosted.html", context, status=status), form)


@xframe_options_exempt
@require_GET
def hosted(request: HttpRequest, slug: str) -> HttpResponse:
    """The form on a page of its own, /f/<slug>/."""
    form = get_object_or_404(Form.objects.filter(is_active=True), slug=slug)
    return _hosted_page(request, form, services.answer_form(form))


@require_GET
def embed_script(request: HttpRequest, key: str) -> HttpResponse:
    """The script a site includes to render the form into its page, with a freshly signed token."""
    form = get_object_or_404(Form.objects.filter(is_active=True), key=key)
    fields = [
        {"name": f.name, "label": f.label, "kind": f.kind, "required": f.required, "help": f.help_text,
         "options": f.options()}
        for f in form.fields.all()
    ]  # fmt: skip
    spec = {
        "key": form.key,
        "title": form.title,
        "intro": form.intro,
        "submit": form.submit_label,
        "fields": fields,
        "consent": form.consent_wording,
        "consentRequired": form.consent_required,
        "token": services.form_token(form),
        "action": request.build_absolute_uri(reverse("capture:submit", args=[form.key])),
        "stylesheet": request.build_absolute_uri("/static/capture/form.css"),
        "origins": [*form.origins(), request.build_absolute_uri("/").rstrip("/")],
        "honeypot": services.HONEYPOT,
        "utm": list(UTM_KEYS),
    }
    source = json.dumps(spec, cls=DjangoJSONEncoder).replace("<", "\\u003c")
    response = render(request, "capture/embed.js", {"spec": source}, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-store"  # the token inside carries the moment it was shown
    return response


def _ip(request: HttpRequest) -> str | None:
    """The peer's address as the server saw it: a forwarded header is the client's word, not evidence."""
    return request.META.get("REMOTE_ADDR") or None


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def submit(request: HttpRequest, key: str) -> HttpResponseBase:
    """Where every form posts: hosted, embedded, or a site's own HTML form."""
    form = selectors.form_to_submit(key)
    if request.method == "OPTIONS":
        return _with_cors(HttpResponse(status=204), form, request)
    door = request.POST.get(services.DOOR, Door.POST)
    try:
        outcome = services.submit(
            form, request.POST, door=door, ip_address=_ip(request), origin=_origin(request),
            own_origin=request.build_absolute_uri("/").rstrip("/"), referrer=request.headers.get("Referer", ""),
        )  # fmt: skip
    except services.Refused as refused:
        message = "This submission was refused." if refused.reason != "rate_limit" else "Too many submissions."
        status = 429 if refused.reason == "rate_limit" else 403
        if _wants_json(request):
            return _with_cors(JsonResponse({"detail": message, "reason": refused.reason}, status=status), form, request)
        return _with_cors(render(request, "capture/result.html", {"form": form, "refused": message}, status=status),
                          form, request)  # fmt: skip
    if outcome.errors:
        if _wants_json(request):
            body = {"detail": "Please correct the marked fields.", "errors": outcome.errors}
            return _with_cors(JsonResponse(body, status=422), form, request)
        if door == Door.HOSTED:
            return _hosted_page(request, form, services.answer_form(form, request.POST), status=422)
        return _with_cors(render(request, "capture/result.html", {"form": form, "errors": outcome.errors},
                                 status=422), form, request)  # fmt: skip
    if _wants_json(request):
        body = {"detail": form.thank_you_message, "redirect": form.redirect_url}
        return _with_cors(JsonResponse(body, status=201), form, request)
    if form.redirect_url:
        return redirect(form.redirect_url)
    return _with_cors(render(request, "capture/result.html", {"form": form}, status=201), form, request)


@require_GET
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The double opt-in link: the person's consent counts from now."""
    submission = services.confirm_submission(token)
    status = 200 if submission is not None else 404
    return render(request, "capture/confirmed.html", {"submission": submission}, status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, key: str) -> HttpResponse:
    """A lead-ads source's endpoint. GET answers Facebook's subscription check (hub.verify_token is the secret);
    POST must be signed, else 401; each lead in it is logged as a delivery."""
    source = get_object_or_404(WebhookSource.objects.filter(is_active=True), key=key)
    if request.method == "GET":
        if request.GET.get("hub.mode") == "subscribe" and request.GET.get("hub.verify_token") == source.secret:
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return JsonResponse({"detail": "Verification failed."}, status=403)
    if not services.is_signed(source, request.body, request.headers):
        return JsonResponse({"detail": "Missing or wrong signature."}, status=401)
    try:
        payload = json.loads(request.body)
        deliveries = services.receive(source, payload)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"detail": "Send a JSON body.", "errors": {"body": ["Not JSON."]}}, status=400)
    except DomainError as error:
        return JsonResponse({"detail": error.detail, "errors": error.errors}, status=error.status)
    return JsonResponse(
        {"deliveries": [{"id": d.pk, "payload_id": d.payload_id, "result": d.result, "lead_id": d.lead_id}
                        for d in deliveries]}
    )  # fmt: skip
