"""Errors the user caused: one family that the web and the API each turn into their own response.

`errors` maps a field to its messages; `extra` carries facts a client can act on (the id of a clashing lead).
"""


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
