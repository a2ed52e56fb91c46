"""Reads of the consent ledger."""

from django.db.models import Exists, OuterRef, QuerySet

from leadflow.accounts.models import Contact

from .models import Consent, ConsentStatus, Purpose


def has_given_consent(contact_ref: str, purpose: str = Purpose.MARKETING_EMAIL) -> Exists:
    """An expression for querysets: the person named by `contact_ref` (an outer field, e.g. "lead__contact") has
    given consent to the purpose and not withdrawn it."""
    return Exists(Consent.objects.filter(contact=OuterRef(contact_ref), purpose=purpose, status=ConsentStatus.GIVEN))


def consents_of(contact: Contact) -> QuerySet[Consent]:
    """The person's consents, one per purpose."""
    return contact.consents.order_by("purpose")
