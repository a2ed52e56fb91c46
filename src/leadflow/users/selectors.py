"""Reads of users and their notifications."""

from django.db.models import QuerySet

from .models import Notification, Role, User


def unread_notification_count(user: User) -> int:
    """How many of the user's notifications are unread (the bell's count)."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for(user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def team_managers(team_id: int | None) -> QuerySet[User]:
    """The active managers of a team (every active manager for no team)."""
    managers = User.objects.filter(role=Role.MANAGER, is_active=True)
    return managers.filter(team_id=team_id) if team_id is not None else managers


def managers_of(user: User) -> list[User]:
    """The active managers of the user's team (none when the user has no team)."""
    if user.team_id is None:
        return []
    return list(team_managers(user.team_id).exclude(pk=user.pk))
