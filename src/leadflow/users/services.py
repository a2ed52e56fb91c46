"""Writes for users, teams, API tokens and notifications."""

import logging
from smtplib import SMTPException

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from leadflow.errors import Conflict, InvalidInput, NotAllowed

from .models import ApiToken, Notification, Role, Team, User, hash_token, new_token_key

logger = logging.getLogger(__name__)


def create_user(
    *,
    username: str,
    password: str,
    role: str,
    team_name: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    check_password: bool = True,
) -> User:
    """Create an active user with a role, in a team (created if new)."""
    username = username.strip()
    if not username:
        raise InvalidInput.on("username", "This field is required.")
    if role not in Role.values:
        raise InvalidInput.on("role", f"Must be one of: {', '.join(Role.values)}.")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"User {username!r} already exists.", errors={"username": ["Already taken."]})
    user = User(username=username, role=role, email=email, first_name=first_name, last_name=last_name)
    if check_password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise InvalidInput("password: " + " ".join(exc.messages), errors={"password": exc.messages}) from exc
    with transaction.atomic():
        if team_name:
            user.team, _ = Team.objects.get_or_create(name=team_name.strip())
        user.set_password(password)
        user.save()
    return user


def create_api_token(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Issue a new API token; the plain key is returned once and only its hash is kept."""
    key = new_token_key()
    token = ApiToken.objects.create(user=user, name=name, key_hash=hash_token(key), prefix=key[:10])
    return token, key


def user_for_token(key: str) -> User | None:
    """The active user a bearer token belongs to, or None; marks the token used."""
    try:  # a unique key: `get` spares the ordering that `first` would compile on every request
        token = ApiToken.objects.select_related("user", "user__team").get(key_hash=hash_token(key))
    except ApiToken.DoesNotExist:
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def ensure_admin(by: User) -> None:
    """Refuse settings changes to anyone but an admin."""
    if not by.is_admin:
        raise NotAllowed("Only admins may change settings.")


@transaction.atomic
def update_user(
    user: User, *, by: User, role: str | None = None, team: Team | None = None, is_active: bool | None = None
) -> User:
    """Change a user's role, team or whether they may sign in; an admin cannot lock themselves out."""
    ensure_admin(by)
    if role is not None:
        if role not in Role.values:
            raise InvalidInput.on("role", f"Must be one of: {', '.join(Role.values)}.")
        if user == by and role != Role.ADMIN:
            raise Conflict("You cannot take away your own admin role.", errors={"role": ["That would lock you out."]})
        user.role = role
    if is_active is not None:
        if user == by and not is_active:
            raise Conflict("You cannot deactivate yourself.", errors={"is_active": ["That would lock you out."]})
        user.is_active = is_active
    user.team = team
    user.save()
    return user


def create_team(*, by: User, name: str) -> Team:
    """Add a team."""
    ensure_admin(by)
    name = name.strip()
    if not name:
        raise InvalidInput.on("name", "This field is required.")
    if Team.objects.filter(name__iexact=name).exists():
        raise Conflict(f"Team {name} exists.", errors={"name": ["Already taken."]})
    return Team.objects.create(name=name)


def notify(users: list[User], text: str, *, url: str = "", subject: str = "") -> list[Notification]:
    """Tell each user (once, however often they are listed) in the app and by email; the email goes once the
    transaction commits, and a mail server that refuses it is logged, not fatal: the in-app message stands."""
    unique = list({user.pk: user for user in users}.values())
    made = Notification.objects.bulk_create([Notification(user=user, text=text, url=url) for user in unique])
    addresses = [user.email for user in unique if user.email]
    if addresses:
        message = f"{text}\n\n{url}" if url else text

        def send() -> None:
            try:
                send_mail(subject or text[:78], message, None, addresses)
            except (OSError, SMTPException) as exc:
                logger.warning("could not email %s: %s", ", ".join(addresses), exc)

        transaction.on_commit(send)
    return made


def mark_notifications_read(user: User) -> int:
    """Mark every unread notification of the user read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
