"""Building forms: their settings and fields (marketing and admins), checked before they are saved."""

import re
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from leadflow.errors import Conflict, InvalidInput, NotAllowed, save_or_conflict
from leadflow.leads.models import LeadSource
from leadflow.users.models import User

from ..models import FieldKind, Form, FormField, Target

FORM_SETTINGS = {
    "name", "slug", "title", "intro", "submit_label", "consent_wording", "consent_required", "double_opt_in",
    "thank_you_message", "redirect_url", "allowed_origins", "lead_source", "is_explicit_intent", "sequence",
    "notify", "is_active",
}  # fmt: skip
FIELD_KEYS = {"label", "name", "kind", "target", "property_name", "required", "choices", "help_text"}
ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:\d{1,5})?")


def can_manage_capture(user: User) -> bool:
    """Forms and lead-ads sources are marketing's (and the admins')."""
    return user.is_admin or user.is_marketing


def ensure_can_manage_capture(user: User) -> None:
    if not can_manage_capture(user):
        raise NotAllowed("Only marketing and admins may change forms and lead-ads sources.")


def clean_origins(text: str) -> str:
    """Origins one a line, lower case, without a trailing slash; InvalidInput naming the first that is not one."""
    origins = []
    for line in text.splitlines():
        origin = line.strip().rstrip("/").lower()
        if not origin:
            continue
        if not ORIGIN.fullmatch(origin):
            raise InvalidInput.on("allowed_origins", f"{origin} is not an origin like https://www.example.com.")
        origins.append(origin)
    return "\n".join(dict.fromkeys(origins))


def _clean_fields(rows: list[dict[str, Any]]) -> list[FormField]:
    fields: list[FormField] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        where = f"fields[{index}]"
        unknown = set(row) - FIELD_KEYS
        if unknown:
            raise InvalidInput.on(f"{where}.{sorted(unknown)[0]}", "Unknown field.")
        field = FormField(**{key: value for key, value in row.items()})
        field.label = (field.label or "").strip()
        if not field.label:
            raise InvalidInput.on(f"{where}.label", "This field is required.")
        field.name = slugify(field.name or field.label).replace("-", "_")[:60]
        if not field.name:
            raise InvalidInput.on(f"{where}.name", "Give a name of letters or digits.")
        if field.name in seen or field.name.startswith("_"):
            raise InvalidInput.on(f"{where}.name", f"{field.name} is used twice or starts with _; name it apart.")
        seen.add(field.name)
        if field.kind not in FieldKind.values:
            raise InvalidInput.on(f"{where}.kind", f"Must be one of: {', '.join(FieldKind.values)}.")
        if field.target not in Target.values:
            raise InvalidInput.on(f"{where}.target", f"Must be one of: {', '.join(Target.values)}.")
        field.property_name = slugify(field.property_name or "").replace("-", "_")[:60]
        if field.target == Target.PROPERTY and not field.property_name:
            raise InvalidInput.on(f"{where}.property_name", "Name the custom property this answer goes to.")
        if field.kind == FieldKind.CHOICE and not field.options():
            raise InvalidInput.on(f"{where}.choices", "Give the options, one a line.")
        if field.target == Target.EMAIL:
            field.kind, field.required = FieldKind.EMAIL, True
        field.position = index
        fields.append(field)
    if not any(field.target == Target.EMAIL for field in fields):
        raise InvalidInput.on("fields", "A form needs a field for the email address.")
    return fields


@transaction.atomic
def save_form(form: Form | None, *, by: User, fields: list[dict[str, Any]] | None = None, **settings: Any) -> Form:
    """Create a form (`form` None) or change one; `fields`, when given, replace its fields in that order."""
    ensure_can_manage_capture(by)
    unknown = set(settings) - FORM_SETTINGS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    if form is None:
        form = Form(created_by=by)
        if fields is None:
            raise InvalidInput.on("fields", "A form needs a field for the email address.")
    for name, value in settings.items():
        setattr(form, name, value.strip() if isinstance(value, str) else value)
    if not form.name:
        raise InvalidInput.on("name", "This field is required.")
    form.slug = slugify(form.slug or form.name)[:80]
    if not form.slug:
        raise InvalidInput.on("slug", "Give an address of letters or digits.")
    if Form.objects.exclude(pk=form.pk).filter(slug=form.slug).exists():
        raise Conflict(f"Another form has the address /f/{form.slug}.", errors={"slug": ["Already in use."]})
    if form.lead_source not in LeadSource.values:
        raise InvalidInput.on("lead_source", f"Must be one of: {', '.join(LeadSource.values)}.")
    form.allowed_origins = clean_origins(form.allowed_origins)
    if form.redirect_url and not form.redirect_url.startswith(("https://", "http://")):
        raise InvalidInput.on("redirect_url", "Give a full address starting with https://.")
    if (form.double_opt_in or form.consent_required) and not form.consent_wording:
        raise InvalidInput.on("consent_wording", "Write the words of the consent checkbox.")
    if not form.submit_label:
        form.submit_label = "Send"
    cleaned = _clean_fields(fields) if fields is not None else None
    save_or_conflict(form)
    if cleaned is not None:
        form.fields.all().delete()
        for field in cleaned:
            field.form = form
        FormField.objects.bulk_create(cleaned)
    return form


def delete_form(form: Form, *, by: User) -> None:
    """Delete a form that nobody has sent yet; one with submissions is switched off instead."""
    ensure_can_manage_capture(by)
    if form.submissions.exists():
        raise Conflict("The form has submissions: switch it off instead, so its leads keep their door.")
    form.delete()
