"""Lead-ads webhooks: a signed endpoint per source taking Facebook Lead Ads', LinkedIn Lead Gen Forms' and a generic
JSON shape; each lead delivered is logged with its result, idempotent by the payload's id, and replayable."""

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from leadflow.errors import Conflict, DomainError, InvalidInput
from leadflow.leads.models import LeadSource
from leadflow.users.models import User

from ..models import DeliveryResult, Target, WebhookAuth, WebhookDelivery, WebhookKind, WebhookSource
from .forms import ensure_can_manage_capture
from .intake import capture_lead, clean_answer

SOURCE_SETTINGS = {
    "name", "kind", "auth", "secret", "field_mapping", "lead_source", "is_explicit_intent", "sequence", "notify",
    "is_active",
}  # fmt: skip
# The header each kind signs its body in; a generic source may use either, or a shared secret.
SIGNATURE_HEADERS = {
    WebhookKind.FACEBOOK: "X-Hub-Signature-256",
    WebhookKind.LINKEDIN: "X-LI-Signature",
    WebhookKind.GENERIC: "X-Leadflow-Signature",
}
SECRET_HEADER = "X-Leadflow-Secret"
# What each kind calls our fields when the source's mapping does not say.
DEFAULT_MAPPING = {
    "email": Target.EMAIL, "first_name": Target.FIRST_NAME, "last_name": Target.LAST_NAME,
    "phone_number": Target.PHONE, "phone": Target.PHONE, "job_title": Target.JOB_TITLE,
    "company_name": Target.COMPANY, "company": Target.COMPANY, "emailAddress": Target.EMAIL,
    "firstName": Target.FIRST_NAME, "lastName": Target.LAST_NAME, "companyName": Target.COMPANY,
    "jobTitle": Target.JOB_TITLE, "phoneNumber": Target.PHONE,
}  # fmt: skip


@transaction.atomic
def save_source(source: WebhookSource | None, *, by: User, **settings: Any) -> WebhookSource:
    """Create a lead-ads source (`source` None) or change one."""
    ensure_can_manage_capture(by)
    unknown = set(settings) - SOURCE_SETTINGS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    source = source or WebhookSource(created_by=by, lead_source=LeadSource.INBOUND_MARKETING)
    for name, value in settings.items():
        setattr(source, name, value.strip() if isinstance(value, str) else value)
    if not source.name:
        raise InvalidInput.on("name", "This field is required.")
    if source.kind not in WebhookKind.values:
        raise InvalidInput.on("kind", f"Must be one of: {', '.join(WebhookKind.values)}.")
    if source.auth not in WebhookAuth.values:
        raise InvalidInput.on("auth", f"Must be one of: {', '.join(WebhookAuth.values)}.")
    if len(source.secret or "") < 8:
        raise InvalidInput.on("secret", "Use a secret of at least 8 characters.")
    mapping = source.field_mapping
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise InvalidInput.on("field_mapping", "Map each of their field names to one of ours.")
    for theirs, ours in mapping.items():
        if ours not in Target.values and not ours.startswith("property:"):
            raise InvalidInput.on("field_mapping", f"{theirs}: {ours} is not a field (or property:name).")
    source.save()
    return source


def is_signed(source: WebhookSource, body: bytes, headers: Any) -> bool:
    """Whether the request carries the source's HMAC-SHA256 signature of the body (hex, with or without a
    'sha256=' or 'hmacsha256=' prefix) or, for a shared-secret source, the secret itself."""
    if source.auth == WebhookAuth.SHARED_SECRET:
        return hmac.compare_digest(headers.get(SECRET_HEADER, ""), source.secret)
    given = headers.get(SIGNATURE_HEADERS[WebhookKind(source.kind)], "")
    given = given.split("=", 1)[1] if "=" in given else given
    expected = hmac.new(source.secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.lower(), expected)


def _facebook(payload: dict) -> Iterator[tuple[str, dict[str, str]]]:
    """The leads of a Page webhook (`entry[].changes[].value` with the lead's `field_data`, as retrieved from the
    Graph API and forwarded) or of one lead object (`{id, field_data: [{name, values}]}`)."""
    leads = [payload] if "field_data" in payload else [
        change.get("value", {}) for entry in payload.get("entry", []) for change in entry.get("changes", [])
        if change.get("field") == "leadgen"
    ]  # fmt: skip
    for lead in leads:
        answers = {item["name"]: (item.get("values") or [""])[0] for item in lead.get("field_data", [])}
        yield str(lead.get("leadgen_id") or lead.get("id") or ""), answers


def _linkedin(payload: dict) -> Iterator[tuple[str, dict[str, str]]]:
    """A lead form response (`{id, formResponse: {answers: [{questionId, answerDetails: {textQuestionAnswer:
    {answer}}}]}}`), alone or as `elements` of a page of them."""
    for lead in payload.get("elements", [payload]):
        answers = {}
        for answer in lead.get("formResponse", {}).get("answers", []):
            details = answer.get("answerDetails", {})
            text = details.get("textQuestionAnswer", {}).get("answer")
            if text is None:
                text = ", ".join(str(o) for o in details.get("multipleChoiceAnswer", {}).get("options", []))
            answers[str(answer.get("questionId", ""))] = text or ""
        yield str(lead.get("id") or lead.get("leadId") or ""), answers


def _generic(payload: dict) -> Iterator[tuple[str, dict[str, str]]]:
    """`{id, fields: {name: value}}`, or a list of them under `leads`."""
    for lead in payload.get("leads", [payload]):
        yield (
            str(lead.get("id") or ""),
            {str(k): "" if v is None else str(v) for k, v in lead.get("fields", {}).items()},
        )


READERS = {WebhookKind.FACEBOOK: _facebook, WebhookKind.LINKEDIN: _linkedin, WebhookKind.GENERIC: _generic}


def receive(source: WebhookSource, payload: Any) -> list[WebhookDelivery]:
    """Log and capture each lead of a signed payload; the same payload id twice is logged as a duplicate and
    changes nothing."""
    if not isinstance(payload, dict):
        raise InvalidInput.on("body", "Send a JSON object.")
    deliveries = []
    for payload_id, answers in READERS[WebhookKind(source.kind)](payload):
        delivery = WebhookDelivery(source=source, payload_id=payload_id[:200], payload={"id": payload_id, **answers})
        deliveries.append(_deliver(delivery))
    if not deliveries:
        raise InvalidInput.on("body", f"No lead found in the {source.get_kind_display()} payload.")
    return deliveries


def _deliver(delivery: WebhookDelivery, *, at: datetime | None = None) -> WebhookDelivery:
    source = delivery.source
    answers = {k: v for k, v in delivery.payload.items() if k != "id"}
    if not delivery.payload_id:
        return _log(delivery, DeliveryResult.REFUSED, "The payload has no id: it could not be made idempotent.")
    done = WebhookDelivery.objects.filter(
        source=source, payload_id=delivery.payload_id, result__in=[DeliveryResult.CREATED, DeliveryResult.UPDATED]
    ).exclude(pk=delivery.pk)
    first = done.order_by("pk").first()
    if first is not None:
        return _log(delivery, DeliveryResult.DUPLICATE, f"Already received as delivery {first.pk}.")
    mapping = {**{target: target for target in Target.values}, **DEFAULT_MAPPING, **source.field_mapping}
    mapped: dict[str, Any] = {}
    properties: dict[str, str] = {}
    try:
        for theirs, value in answers.items():
            ours = mapping.get(theirs)
            if ours is None or value in ("", None):
                continue
            if ours.startswith("property:"):
                properties[ours.removeprefix("property:")] = str(value)[:500]
            elif ours != Target.PROPERTY:
                mapped[ours] = clean_answer(ours, value)
        with transaction.atomic():
            captured = capture_lead(
                door=source, through=f"Lead ads: {source.name} ({source.get_kind_display()})", answers=mapped,
                properties=properties, at=at or timezone.now(),
            )  # fmt: skip
            delivery.lead = captured.lead
            result = DeliveryResult.CREATED if captured.created else DeliveryResult.UPDATED
            return _log(delivery, result, f"Lead {captured.lead.pk}")
    except DomainError as error:
        return _log(delivery, DeliveryResult.FAILED, error.detail[:500])
    except IntegrityError:  # the same id delivered at the same moment: the other one won
        return _log(delivery, DeliveryResult.DUPLICATE, "Received twice at once; the other delivery counts.")


def _log(delivery: WebhookDelivery, result: str, message: str) -> WebhookDelivery:
    delivery.result, delivery.message = result, message
    if result not in (DeliveryResult.CREATED, DeliveryResult.UPDATED):
        delivery.lead = None
    delivery.save()
    return delivery


def replay(delivery: WebhookDelivery, *, by: User) -> WebhookDelivery:
    """Run a logged delivery again (after its mapping was fixed, say); a delivery that made its lead is not
    replayed."""
    ensure_can_manage_capture(by)
    if delivery.result in (DeliveryResult.CREATED, DeliveryResult.UPDATED):
        raise Conflict("This delivery already made its lead.")
    delivery.replayed_at = timezone.now()
    return _deliver(delivery)
