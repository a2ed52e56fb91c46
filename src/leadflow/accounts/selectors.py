"""Reads of accounts and contacts (shared records: every signed-in user may see them)."""

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from leadflow.prepared import Prepared

from .models import Account, Contact


def account_list(*, search: str | None = None) -> QuerySet[Account]:
    accounts = Account.objects.all()
    if search:
        term = search.strip()
        accounts = accounts.filter(Q(name__icontains=term) | Q(domain__icontains=term))
    return accounts


def contact_list(*, search: str | None = None, account_id: int | None = None) -> QuerySet[Contact]:
    contacts = Contact.objects.select_related("account")
    if account_id is not None:
        contacts = contacts.filter(account_id=account_id)
    if search:
        term = search.strip()
        contacts = contacts.filter(
            Q(email__icontains=term) | Q(first_name__icontains=term) | Q(last_name__icontains=term)
        )
    return contacts


def contacts_with_email(email: str) -> QuerySet[Contact]:
    """Contacts whose email is this normalised (lower-case) one, in any case: at most one, found through the
    case-blind unique index rather than by reading every contact."""
    return Contact.objects.alias(email_lower=Lower("email")).filter(email_lower=email, email__isnull=False)


_CONTACT_WITH_EMAIL = Prepared(lambda email: contacts_with_email(email).order_by()[:1], email=str)
_ACCOUNT_WITH_DOMAIN = Prepared(lambda domain: Account.objects.filter(domain=domain).order_by()[:1], domain=str)


def contact_with_email(email: str) -> Contact | None:
    """The contact whose email is this normalised one, in any case, or None (a read every capture makes)."""
    return next(iter(_CONTACT_WITH_EMAIL(email=email)), None)


def account_with_domain(domain: str) -> Account | None:
    """The account of this company domain, or None (a read every capture of a work email makes)."""
    return next(iter(_ACCOUNT_WITH_DOMAIN(domain=domain)), None)
