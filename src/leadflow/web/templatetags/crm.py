"""Template helpers for the CRM's pages: money, initials, percentages, the notification bell's count, the
silent-worker warning."""

from decimal import Decimal

from django import template

from leadflow.jobs.heartbeat import SILENT_AFTER, worker_silent_since
from leadflow.users.selectors import unread_notification_count

register = template.Library()


@register.filter
def money(value: Decimal | int | None, currency: str = "") -> str:
    """12345.6 → '12,346' (with a currency code when given); blank for no value."""
    if value is None:
        return "—"
    text = f"{Decimal(value):,.0f}"
    return f"{text} {currency}".strip()


@register.filter
def compact_money(value: Decimal | int | None) -> str:
    """1234567 → '1.2M', 45300 → '45k': for column headers."""
    if value is None:
        return "—"
    amount = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= size:
            return f"{amount / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{amount:.0f}"


@register.filter
def initial(value: object) -> str:
    text = str(value or "?").strip()
    return text[:1].upper() or "?"


@register.filter
def percent(value: float | None) -> str:
    """0.4732 → '47.3%'; a dash when there is nothing to divide."""
    return "—" if value is None else f"{value * 100:.1f}%"


@register.simple_tag(takes_context=True)
def silent_worker(context: template.Context) -> dict[str, object] | None:
    """For an admin, when no background worker has been heard from for a few minutes: when one last was (None:
    never) and how long counts as silent; None when a worker is running, or for anyone else."""
    user = context["request"].user
    if not (user.is_authenticated and user.is_admin):
        return None
    silent, last = worker_silent_since()
    return {"last": last, "minutes": int(SILENT_AFTER.total_seconds() // 60)} if silent else None


@register.simple_tag(takes_context=True)
def unread_notifications(context: template.Context) -> int:
    """How many notifications the signed-in user has not read (the bell)."""
    user = context["request"].user
    return unread_notification_count(user) if user.is_authenticated else 0
