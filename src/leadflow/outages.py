"""When the database is away for a moment rather than broken: a dropped connection, or SQLite's write lock held
past the busy timeout. The web app answers 503 with Retry-After and the worker reconnects and tries the job again;
every other database error is a bug and is raised as usual."""

from django.db import InterfaceError, OperationalError, connection

RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is unreachable or busy for now (not that a query was wrong)."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if connection.vendor == "sqlite":
        return "database is locked" in str(exc) or "database table is locked" in str(exc)
    # The server's own codes: connection exceptions (08…) and an operator ending the session (57P01-57P03).
    # An error without one was raised by the driver: it could not connect, or the connection closed under it.
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(("08", "57P0"))


def deadlocked(exc: BaseException) -> bool:
    """Whether PostgreSQL undid this transaction to break a deadlock (or a serialization failure): the same work,
    done again, may well succeed."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) in ("40P01", "40001")


def drop_lost_connection() -> None:
    """Close this thread's connection if it no longer works, so the next query opens a new one. (By the time an
    error has left a transaction, Django may have opened a new one already.)"""
    if connection.vendor != "sqlite" and connection.connection is not None and not connection.is_usable():
        connection.close()
