"""Settings for the test run: the project's own, with a throwaway secret key and fast password hashing."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only")

from leadflow.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Many submissions come from 127.0.0.1 in the tests; those about the limit set it lower.
LEADFLOW_CAPTURE_RATE_PER_MINUTE = 10_000
LEADFLOW_CHAT_RATE_PER_MINUTE = 10_000

if DATABASES["default"]["ENGINE"] == "leadflow.sqlite":  # noqa: F405
    # A file, not memory: an in-memory test database is one connection, which the live server shares between its
    # request threads, so two requests at once (a page's beacons) interleaved their transactions. pytest-xdist adds
    # a suffix per worker.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-leadflow.sqlite3")}  # noqa: F405
