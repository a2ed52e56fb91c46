"""Per-address rate limits for the public endpoints, counted in the cache every process shares."""

import time

from django.core.cache import cache


def within_rate(scope: str, address: str | None, per_minute: int) -> bool:
    """Count one request from `address` under `scope` in this minute; False once there were more than
    `per_minute`. A limit of 0 (or no address) lets everything through."""
    if not per_minute or not address:
        return True
    key = f"rate:{scope}:{address}:{int(time.time() // 60)}"
    if cache.add(key, 1, timeout=90):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # it expired between the two calls
        cache.add(key, 1, timeout=90)
        return True
    return count <= per_minute
