"""Taking a form submission from the public: the guards (signed token, honeypot, fill time, rate limit, origin),
the answers validated against the form's fields, the capture itself, refusals counted, and double opt-in."""

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from leadflow.consent.models import Consent, Purpose
from leadflow.consent.services import confirm_consent
from leadflow.prepared import insert
from leadflow.throttle import within_rate
from leadflow.tracking.services import identify_by_cookie

from ..models import Door, FieldKind, Form, Refusal, RefusalReason, Submission, Target
from .intake import UTM_KEYS, capture_lead, clean_answer

TOKEN_SALT = "leadflow.capture.form"
CONFIRM_SALT = "leadflow.capture.confirm"
HONEYPOT = "_lf_website"  # hidden from people by the form's CSS; bots fill every field they find
TOKEN = "_lf_token"
DOOR = "_lf_door"


class Refused(Exception):
    """A submission the guards turned away; counted per form, reason and day."""

    def __init__(self, reason: str) -> None:
        super().__init__(RefusalReason(reason).label)
        self.reason = reason


@dataclass
class Outcome:
    """What the visitor is told: the submission, or the answers' errors by field name."""

    submission: Submission | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def form_token(form: Form) -> str:
    """A signed token for this form carrying the moment the form was shown (for the minimum fill time)."""
    return signing.TimestampSigner(salt=TOKEN_SALT).sign(form.key)


def _check_token(form: Form, token: str) -> None:
    signer = signing.TimestampSigner(salt=TOKEN_SALT)
    try:
        key, shown = signer.unsign(token, max_age=None), signing.b62_decode(token.rsplit(":", 2)[-2])
    except (signing.BadSignature, ValueError, IndexError):
        raise Refused(RefusalReason.TOKEN) from None
    if key != form.key:
        raise Refused(RefusalReason.TOKEN)
    if time.time() - shown < settings.LEADFLOW_CAPTURE_MIN_FILL_SECONDS:
        raise Refused(RefusalReason.TOO_FAST)


def origin_allowed(form: Form, origin: str | None) -> bool:
    """Whether a page on `origin` may embed or post the form: the app's own origin, or one the form lists. A
    request without an Origin header (not from a browser page) is judged by the other guards alone."""
    if not origin:
        return True
    origin = origin.rstrip("/").lower()
    return origin in form.origins() or origin == settings.PUBLIC_URL.lower()


def _take_rate(ip_address: str | None) -> None:
    """Count the submission against its IP address in the shared cache; refuse past the limit per minute."""
    if not within_rate("capture", ip_address, settings.LEADFLOW_CAPTURE_RATE_PER_MINUTE):
        raise Refused(RefusalReason.RATE_LIMIT)


def count_refusal(form: Form, reason: str, *, day: date | None = None) -> None:
    """Add one to the form's refusals for this reason today."""
    day = day or timezone.localdate()
    with transaction.atomic():
        if Refusal.objects.filter(form=form, reason=reason, day=day).update(count=F("count") + 1):
            return
        try:
            with transaction.atomic():
                Refusal.objects.create(form=form, reason=reason, day=day, count=1)
        except IntegrityError:  # another refusal created today's row first
            Refusal.objects.filter(form=form, reason=reason, day=day).update(count=F("count") + 1)


def answer_form(form: Form, data: Any = None) -> forms.Form:
    """A Django form of this form's fields and consent checkbox, bound to `data` when given (for validation and
    for rendering the hosted page)."""
    declared: dict[str, forms.Field] = {}
    for row in form.fields.all():
        options: dict[str, Any] = {"label": row.label, "required": row.required, "help_text": row.help_text}
        if row.kind == FieldKind.EMAIL:
            declared[row.name] = forms.EmailField(max_length=254, **options)
        elif row.kind == FieldKind.NUMBER:
            declared[row.name] = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, **options)
        elif row.kind == FieldKind.DATE:
            declared[row.name] = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **options)
        elif row.kind == FieldKind.CHOICE:
            choices = [("", "—"), *((option, option) for option in row.options())]
            declared[row.name] = forms.ChoiceField(choices=choices, **options)
        elif row.kind == FieldKind.TEXTAREA:
            declared[row.name] = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 4}), **options)
        else:
            widget = forms.TextInput(attrs={"type": "tel"} if row.kind == FieldKind.PHONE else {})
            declared[row.name] = forms.CharField(max_length=200, widget=widget, **options)
    if form.consent_wording:
        declared["consent"] = forms.BooleanField(label=form.consent_wording, required=form.consent_required)
    return type("AnswerForm", (forms.Form,), declared)(data)


def _through(form: Form, door: str) -> str:
    return f"Form: {form.name} ({Door(door).label.lower()})"


def submit(
    form: Form,
    data: Any,
    *,
    door: str,
    ip_address: str | None,
    origin: str | None,
    own_origin: str = "",
    referrer: str = "",
) -> Outcome:
    """Take a public submission: refuse (Refused, counted) what the guards stop, then accept it. `own_origin` is
    the origin this server was reached on (a page of its own may post its forms)."""
    try:
        if not form.is_active:
            raise Refused(RefusalReason.INACTIVE)
        if origin and origin.rstrip("/").lower() != own_origin.lower() and not origin_allowed(form, origin):
            raise Refused(RefusalReason.ORIGIN)
        _take_rate(ip_address)
        if data.get(HONEYPOT):
            raise Refused(RefusalReason.HONEYPOT)
        _check_token(form, data.get(TOKEN, ""))
    except Refused as refused:
        count_refusal(form, refused.reason)
        raise
    return accept(form, data, door=door, ip_address=ip_address, referrer=referrer)


def accept(
    form: Form, data: Any, *, door: str, ip_address: str | None = None, referrer: str = "", at: datetime | None = None
) -> Outcome:
    """Validate the answers against the form's fields (errors by field name, counted as refused), else capture the
    lead before returning. With double opt-in the consent waits for the emailed link."""
    answers = answer_form(form, data)
    if not answers.is_valid():
        count_refusal(form, RefusalReason.INVALID)
        return Outcome(errors={name: [str(e) for e in errors] for name, errors in answers.errors.items()})
    door = door if door in (Door.HOSTED, Door.EMBED) else Door.POST
    cleaned, at = answers.cleaned_data, at or timezone.now()
    return Outcome(submission=_capture(form, cleaned, data, door, ip_address, referrer, at))


def _capture(
    form: Form, cleaned: dict, data: Any, door: str, ip_address: str | None, referrer: str, at: datetime
) -> Submission:
    mapped: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for row in form.fields.all():
        value = cleaned.get(row.name)
        if value in (None, ""):
            continue
        if row.target == Target.PROPERTY:
            properties[row.property_name] = str(value)
        else:
            mapped[row.target] = clean_answer(row.target, value)
    utm = {key: str(data.get(key, ""))[:200] for key in UTM_KEYS if data.get(key)}
    wording = form.consent_wording if cleaned.get("consent") else ""
    through = _through(form, door)
    with transaction.atomic():
        captured = capture_lead(
            door=form, through=through, answers=mapped, properties=properties, utm=utm, consent_wording=wording,
            consent_confirmed=not form.double_opt_in, ip_address=ip_address, at=at,
        )  # fmt: skip
        submission = Submission(
            form=form, door=door, lead=captured.lead, contact=captured.contact, created_lead=captured.created,
            answers={key: str(value) for key, value in cleaned.items()}, utm=utm,
            referrer=(str(data.get("_lf_referrer", "")) or referrer)[:500],
            page_url=str(data.get("_lf_page", ""))[:500], ip_address=ip_address, consent_wording=wording,
            submitted_at=at,
        )  # fmt: skip
        insert(submission)
        if wording and form.double_opt_in:
            _send_confirmation(submission)
        site_key, visitor = str(data.get("_lf_site", ""))[:32], str(data.get("_lf_visitor", ""))[:64]
        if site_key and visitor and captured.lead is not None:
            identify_by_cookie(site_key, visitor, captured.lead, how="form")
    return submission


def confirmation_link(submission: Submission) -> str:
    token = signing.Signer(salt=CONFIRM_SALT).sign_object({"s": submission.pk}, compress=True)
    return f"{settings.PUBLIC_URL}/f/confirm/{token}/"


def _send_confirmation(submission: Submission) -> None:
    """Email the person the signed link that confirms their consent (once the capture commits)."""
    form, email = submission.form, submission.contact.email if submission.contact else None
    if not email:
        return
    submission.confirmation_sent_at = timezone.now()
    submission.save(update_fields=["confirmation_sent_at"])
    body = (
        f"Please confirm that you want email from us. You agreed to:\n\n{submission.consent_wording}\n\n"
        f"Confirm here: {confirmation_link(submission)}\n\nIf this was not you, ignore this email."
    )
    transaction.on_commit(lambda: send_mail(f"Please confirm: {form.title or form.name}", body, None, [email]))


@transaction.atomic
def confirm_submission(token: str) -> Submission | None:
    """Confirm the consent of the submission the emailed link names; None for a link that is not ours."""
    try:
        found = signing.Signer(salt=CONFIRM_SALT).unsign_object(token)
        submission = Submission.objects.select_related("form").get(pk=found["s"])
    except (signing.BadSignature, KeyError, TypeError, Submission.DoesNotExist):
        return None
    if submission.confirmed_at is None:
        submission.confirmed_at = timezone.now()
        submission.save(update_fields=["confirmed_at"])
    consent = Consent.objects.filter(contact=submission.contact_id, purpose=Purpose.MARKETING_EMAIL).first()
    if consent is not None:
        confirm_consent(consent, at=submission.confirmed_at)
    return submission
