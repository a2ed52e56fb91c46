"""Errors the user caused: one family that the web and the API each turn into their own response.

`errors` maps a field to its messages; `extra` carries facts a client can act on (the id of a clashing lead).
"""

from django.db import IntegrityError, transaction
from django.db.models import Model

from leadflow.prepared import insert


class DomainError(Exception):
    """A request the domain refuses; `errors` maps a field name to its messages."""

    status = 400

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None, extra: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}
        self.extra = extra or {}


class InvalidInput(DomainError):
    """Input that breaks a rule of the domain (bad email, unknown choice, missing reason)."""

    status = 422

    @classmethod
    def on(cls, field: str, message: str) -> "InvalidInput":
        """One message about one field."""
        return cls(f"{field}: {message}", errors={field: [message]})


class Conflict(DomainError):
    """The request clashes with the current state: an illegal transition, a duplicate."""

    status = 409


class NotAllowed(DomainError):
    """The user's role may not do this."""

    status = 403


def clash_with(instance: Model) -> Conflict | None:
    """A Conflict naming the row that already holds one of `instance`'s unique values, or None."""
    opts = instance._meta
    attnames = {field.name: field.attname for field in opts.concrete_fields}
    groups = [[field.name] for field in opts.concrete_fields if field.unique and not field.primary_key]
    # Constraints with a condition or an expression (a case-blind email) are the service's to check.
    groups += [list(c.fields) for c in opts.total_unique_constraints if c.fields]
    for names in groups:
        lookup = {name: getattr(instance, attnames[name]) for name in names}
        if any(value is None for value in lookup.values()):
            continue
        existing = type(instance)._default_manager.exclude(pk=instance.pk).filter(**lookup).only("pk").first()
        if existing is not None:
            what = " and ".join(name.replace("_", " ") for name in names)
            message = f"Already used by {opts.verbose_name} {existing.pk}."
            article = "An" if str(opts.verbose_name)[:1] in "aeiou" else "A"
            return Conflict(
                f"{article} {opts.verbose_name} with this {what} already exists (id {existing.pk}).",
                errors={name: [message] for name in names},
                extra={"existing_id": existing.pk},
            )
    return None


def save_or_conflict(instance: Model) -> None:
    """Save `instance`; a clash with another row's unique value (one a concurrent request wrote a moment ago too)
    is a Conflict naming that row, never an IntegrityError."""
    try:
        with transaction.atomic():
            if instance._state.adding:
                insert(instance)
            else:
                instance.save()
    except IntegrityError:
        clash = clash_with(instance)
        if clash is None:
            raise
        raise clash from None
