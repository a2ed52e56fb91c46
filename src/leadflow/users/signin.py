"""Sign-in throttling (django-axes counts failures in the shared cache): who is locked out, and unlocking them."""

from axes.helpers import get_failure_limit, make_cache_key_list
from axes.utils import reset
from django.core.cache import cache

from leadflow.errors import InvalidInput, NotAllowed

from .models import User


def locked_usernames(usernames: list[str]) -> set[str]:
    """Which of these usernames are locked out after too many failed sign-ins."""
    keys = {name: make_cache_key_list([{"username": name}])[0] for name in usernames}
    counts = cache.get_many(list(keys.values()))
    limit = get_failure_limit(None, None)
    return {name for name, key in keys.items() if counts.get(key, 0) >= limit}


def unlock_sign_in(*, by: User, username: str = "", address: str = "") -> None:
    """Forget the failed sign-ins of a username and/or an address (an admin's unlock)."""
    if not by.is_admin:
        raise NotAllowed("Only an admin can unlock sign-in.")
    username, address = username.strip(), address.strip()
    if not username and not address:
        raise InvalidInput.on("username", "Name a username or an address to unlock.")
    if username:
        reset(username=username)
    if address:
        reset(ip=address)
