"""Writes for accounts and contacts, with the normalisation that dedupe relies on."""

import operator
from functools import cache, reduce
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from leadflow.errors import Conflict, InvalidInput, clash_with, save_or_conflict
from leadflow.prepared import Prepared

from .matching import CROWDED_KEY, Person, company_domain, judge, keys_of, plain_name
from .models import Account, Contact, DuplicatePair, EmployeeBand, PairStatus, RevenueBand, Seniority
from .selectors import contact_with_email, contacts_with_email

ACCOUNT_FIELDS = {
    "name",
    "domain",
    "industry",
    "employee_band",
    "revenue_band",
    "region",
    "country",
    "owner",
    "attributes",
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
    "attributes",
    "external_id",
    "country",
    "time_zone",
}
KEY_FIELDS = ["mailbox_key", "phone_key", "name_key"]


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


@transaction.atomic
def update_account(account: Account, **fields: Any) -> Account:
    """Change an account's fields; a new domain or country re-keys its contacts (their phones and name keys)."""
    before = (account.domain, account.country)
    _apply(account, fields, ACCOUNT_FIELDS)
    _clean_account(account)
    save_or_conflict(account)
    if (account.domain, account.country) != before:
        contacts = list(account.contacts.all())
        for contact in contacts:
            contact.account = account
            set_keys(contact)
        Contact.objects.bulk_update(contacts, KEY_FIELDS, batch_size=1000)
    return account


def set_keys(contact: Contact) -> None:
    """Work out the contact's match keys from its email, phone, name, country and account (see matching)."""
    for key, value in keys_of(contact).items():
        setattr(contact, key, value)


def person_of(contact: Contact) -> Person:
    """What the judgement of a pair reads of a contact."""
    return Person(
        id=contact.pk,
        first_name=plain_name(contact.first_name),
        last_name=plain_name(contact.last_name),
        domain=company_domain(contact.account.domain if contact.account else None, contact.email),
        mailbox_key=contact.mailbox_key,
        phone_key=contact.phone_key,
        name_key=contact.name_key,
        account_id=contact.account_id,
    )


def record_pair(a: Contact | Person, b: Contact | Person, *, found_by: str) -> DuplicatePair | None:
    """Flag two contacts as likely the same person (or refresh the score of a pair still to review); None when
    they do not look alike. A pair someone called different people stays so."""
    first, second = sorted((a, b), key=lambda contact: contact.id)
    judgement = judge(*(c if isinstance(c, Person) else person_of(c) for c in (first, second)))
    if judgement is None:
        return None
    pair, created = DuplicatePair.objects.get_or_create(
        first_id=first.id,
        second_id=second.id,
        defaults={"score": judgement.score, "evidence": judgement.evidence, "found_by": found_by},
    )
    if (
        not created
        and pair.status == PairStatus.OPEN
        and (pair.score, pair.evidence)
        != (
            judgement.score,
            judgement.evidence,
        )
    ):
        pair.score, pair.evidence = judgement.score, judgement.evidence
        pair.save(update_fields=["score", "evidence"])
    return pair


def _sharing_any(keys: dict[str, str]) -> Q:
    """Contacts with any of these match keys."""
    return reduce(operator.or_, (Q(**{key: value}) for key, value in keys.items()))


@cache
def _first_sharing(keys: tuple[str, ...]) -> Prepared[Contact]:
    """A read of one other contact sharing any of these match keys (the pk alone), prepared per set of keys."""

    def build(pk: int, **values: str) -> QuerySet[Contact]:
        return Contact.objects.filter(_sharing_any(values)).exclude(pk=pk).order_by().only("pk")[:1]

    return Prepared(build, pk=int, **dict.fromkeys(keys, str))


def flag_likely_duplicates(contact: Contact, *, found_by: str = "capture") -> list[DuplicatePair]:
    """Flag the contacts that share a match key with this one (same Gmail mailbox, phone, or name at the company's
    domain) as likely duplicates of it."""
    keys = {key: getattr(contact, key) for key in KEY_FIELDS if getattr(contact, key)}
    if not keys:
        return []
    if not _first_sharing(tuple(keys))(pk=contact.pk or 0, **keys):  # most people share no key: a light read says so
        return []
    sharing = Contact.objects.filter(_sharing_any(keys)).exclude(pk=contact.pk)
    others = list(sharing.select_related("account")[: CROWDED_KEY + 1])
    if len(others) > CROWDED_KEY:  # a switchboard or team mailbox: only the stronger keys say anything
        strong = [key for key in ("mailbox_key", "name_key") if getattr(contact, key)]
        others = [o for o in others if any(getattr(o, key) == getattr(contact, key) for key in strong)]
    return [pair for other in others if (pair := record_pair(contact, other, found_by=found_by)) is not None]


def _clean_contact(contact: Contact, *, email_checked: bool = False) -> None:
    """Normalise and validate; `email_checked` when the caller has just looked the email up and found no one."""
    contact.first_name = (contact.first_name or "").strip()
    contact.last_name = (contact.last_name or "").strip()
    contact.email = normalise_email(contact.email)
    contact.external_id = _blank_to_none(contact.external_id)
    contact.country = (contact.country or "").strip().upper()
    if contact.country and len(contact.country) != 2:
        raise InvalidInput.on("country", "Use a two-letter ISO country code.")
    _check_choice("seniority", contact.seniority, Seniority)
    if not isinstance(contact.attributes, dict):
        raise InvalidInput.on("attributes", "Give the custom properties as names and values.")
    if not (contact.first_name or contact.last_name or contact.email):
        raise InvalidInput("A contact needs a name or an email.", errors={"email": ["Give a name or an email."]})
    if contact.email and not email_checked:
        same_email = contacts_with_email(contact.email).exclude(pk=contact.pk).first()
        if same_email is not None:
            raise Conflict(
                f"A contact with email {contact.email} already exists (id {same_email.pk}).",
                errors={"email": [f"Already used by contact {same_email.pk}."]},
                extra={"existing_id": same_email.pk},
            )
    if (external := clash_with(contact)) is not None:
        raise external
    set_keys(contact)


def _record_consent(contact: Contact, before: tuple[bool, bool]) -> None:
    if (contact.email_opt_in, contact.do_not_contact) != before:
        contact.consent_recorded_at = timezone.now()


@transaction.atomic
def create_contact(**fields: Any) -> Contact:
    """Create a contact; the email is normalised and unique regardless of case. Contacts sharing another match key
    with it are flagged as likely duplicates."""
    return _new_contact(fields, email_checked=False)


def _new_contact(fields: dict[str, Any], *, email_checked: bool) -> Contact:
    contact = Contact()
    _apply(contact, fields, CONTACT_FIELDS)
    _clean_contact(contact, email_checked=email_checked)
    _record_consent(contact, (False, False))
    save_or_conflict(contact)
    flag_likely_duplicates(contact)
    return contact


@transaction.atomic
def update_contact(contact: Contact, **fields: Any) -> Contact:
    """Change a contact's fields; a change of consent is time-stamped, a change of match keys flags the contacts
    that now share one."""
    before = (contact.email_opt_in, contact.do_not_contact)
    keys_before = [getattr(contact, key) for key in KEY_FIELDS]
    _apply(contact, fields, CONTACT_FIELDS)
    _clean_contact(contact)
    _record_consent(contact, before)
    save_or_conflict(contact)
    if [getattr(contact, key) for key in KEY_FIELDS] != keys_before:
        flag_likely_duplicates(contact)
    return contact


def find_or_create_contact(*, email: str | None, looked_up: bool = False, **fields: Any) -> tuple[Contact, bool]:
    """The contact with this email (any case), or a new one; returns (contact, created). `looked_up` when the
    caller has just looked the email up in this transaction and found no one (a second look would find no one)."""
    email = normalise_email(email)
    if email and not looked_up and (found := contact_with_email(email)) is not None:
        return found, False
    return _new_contact({**fields, "email": email}, email_checked=True), True


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
