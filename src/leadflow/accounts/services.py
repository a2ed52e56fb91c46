"""Writes for accounts and contacts, with the normalisation that dedupe relies on."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from leadflow.errors import Conflict, InvalidInput, clash_with, save_or_conflict

from .models import Account, Contact, EmployeeBand, RevenueBand, Seniority

ACCOUNT_FIELDS = {
    "name",
    "domain",
    "industry",
    "employee_band",
    "revenue_band",
    "region",
    "country",
    "owner",
    "external_id",
}
CONTACT_FIELDS = {
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "seniority",
    "role_function",
    "account",
    "email_opt_in",
    "do_not_contact",
    "external_id",
}


def normalise_email(email: str | None) -> str | None:
    """Lower-cased, trimmed email, or None when blank; raises InvalidInput on bad syntax."""
    if email is None or not email.strip():
        return None
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput.on("email", "Enter a valid email address.") from exc
    return email


def normalise_domain(domain: str | None) -> str | None:
    """A bare lower-case host name ('Https://www.Acme.com/x' → 'acme.com'), or None when blank."""
    if domain is None or not domain.strip():
        return None
    host = domain.strip().lower()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0].split(":", 1)[0].removeprefix("www.")
    if "." not in host or " " in host:
        raise InvalidInput.on("domain", "Enter a domain such as example.com.")
    return host


def email_domain(email: str | None) -> str | None:
    return email.rsplit("@", 1)[1] if email and "@" in email else None


def _check_choice(field: str, value: str, choices: type) -> None:
    if value and value not in choices.values:  # type: ignore[attr-defined]
        raise InvalidInput.on(field, f"Must be one of: {', '.join(choices.values)}.")  # type: ignore[attr-defined]


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _apply(instance: Model, fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput.on(name, "Unknown field.")
    for name, value in fields.items():
        setattr(instance, name, value)


def _clean_account(account: Account) -> None:
    account.name = (account.name or "").strip()
    if not account.name:
        raise InvalidInput.on("name", "This field is required.")
    account.domain = normalise_domain(account.domain)
    account.external_id = _blank_to_none(account.external_id)
    account.country = (account.country or "").strip().upper()
    if account.country and len(account.country) != 2:
        raise InvalidInput.on("country", "Use a two-letter ISO country code.")
    _check_choice("employee_band", account.employee_band, EmployeeBand)
    _check_choice("revenue_band", account.revenue_band, RevenueBand)
    clash = clash_with(account)
    if clash is not None:
        raise clash


def create_account(**fields: Any) -> Account:
    """Create an account; the domain is normalised and must be unique."""
    account = Account()
    _apply(account, fields, ACCOUNT_FIELDS)
    _clean_account(account)
    save_or_conflict(account)
    return account


def update_account(account: Account, **fields: Any) -> Account:
    """Change an account's fields."""
    _apply(account, fields, ACCOUNT_FIELDS)
    _clean_account(account)
    save_or_conflict(account)
    return account


def _clean_contact(contact: Contact) -> None:
    contact.first_name = (contact.first_name or "").strip()
    contact.last_name = (contact.last_name or "").strip()
    contact.email = normalise_email(contact.email)
    contact.external_id = _blank_to_none(contact.external_id)
    _check_choice("seniority", contact.seniority, Seniority)
    if not (contact.first_name or contact.last_name or contact.email):
        raise InvalidInput("A contact needs a name or an email.", errors={"email": ["Give a name or an email."]})
    same_email = Contact.objects.exclude(pk=contact.pk).filter(email__iexact=contact.email).first()
    if contact.email and same_email is not None:
        raise Conflict(
            f"A contact with email {contact.email} already exists (id {same_email.pk}).",
            errors={"email": [f"Already used by contact {same_email.pk}."]},
            extra={"existing_id": same_email.pk},
        )
    if (external := clash_with(contact)) is not None:
        raise external


def _record_consent(contact: Contact, before: tuple[bool, bool]) -> None:
    if (contact.email_opt_in, contact.do_not_contact) != before:
        contact.consent_recorded_at = timezone.now()


def create_contact(**fields: Any) -> Contact:
    """Create a contact; the email is normalised and unique regardless of case."""
    contact = Contact()
    _apply(contact, fields, CONTACT_FIELDS)
    _clean_contact(contact)
    _record_consent(contact, (False, False))
    save_or_conflict(contact)
    return contact


def update_contact(contact: Contact, **fields: Any) -> Contact:
    """Change a contact's fields; a change of consent is time-stamped."""
    before = (contact.email_opt_in, contact.do_not_contact)
    _apply(contact, fields, CONTACT_FIELDS)
    _clean_contact(contact)
    _record_consent(contact, before)
    save_or_conflict(contact)
    return contact


def find_or_create_contact(*, email: str | None, **fields: Any) -> tuple[Contact, bool]:
    """The contact with this email (any case), or a new one; returns (contact, created)."""
    email = normalise_email(email)
    if email:
        existing = Contact.objects.filter(email__iexact=email).first()
        if existing is not None:
            return existing, False
    return create_contact(email=email, **fields), True


@transaction.atomic
def find_or_create_account(*, name: str | None, domain: str | None) -> Account | None:
    """The account for a domain (else an exact name), created when neither matches; None without either."""
    domain = normalise_domain(domain)
    name = (name or "").strip()
    if domain:
        account = Account.objects.filter(domain=domain).first()
        if account is not None:
            return account
    if name:
        account = Account.objects.filter(name__iexact=name).first()
        if account is not None:
            if domain and not account.domain:
                account.domain = domain
                account.save(update_fields=["domain", "updated_at"])
            return account
    if not (name or domain):
        return None
    return create_account(name=name or (domain or ""), domain=domain)


def delete_account(account: Account) -> None:
    """Delete an account that has no contacts or opportunities left."""
    if account.contacts.exists() or account.opportunities.exists():
        raise Conflict("The account still has contacts or opportunities; move or delete them first.")
    account.delete()


def delete_contact(contact: Contact) -> None:
    """Delete a contact that has no leads."""
    if contact.leads.exists():
        raise Conflict("The contact still has leads; delete or merge them first.")
    contact.delete()
