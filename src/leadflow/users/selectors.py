"""Reads of users and their notifications."""

from django.db.models import QuerySet

from .models import Notification, Role, User


def unread_notification_count(user: User) -> int:
    """How many of the user's notifications are unread (the bell's count)."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for(user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def managers_of(user: User) -> list[User]:
    """The active managers of the user's team (none when the user has no team)."""
    if user.team_id is None:
        return []
    return list(User.objects.filter(team_id=user.team_id, role=Role.MANAGER, is_active=True).exclude(pk=user.pk))
