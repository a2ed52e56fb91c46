"""Django settings, configured from the environment.

DATABASE_URL (SQLite under ./var/ by default), SQLITE_BUSY_TIMEOUT, SECRET_KEY (generated into ./var/ when DEBUG is
on, required when it is off), DEBUG, ALLOWED_HOSTS, LEADFLOW_VAR_DIR, LEADFLOW_HTTPS, CACHE_URL, PUBLIC_URL and the
EMAIL_* settings.
"""

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("LEADFLOW_VAR_DIR", "var")).resolve()

DEBUG = _env_flag("DEBUG")


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (for local use, set DEBUG=1 and one is generated in ./var/)."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",  # the API docs page from its own static files, not a CDN
    "leadflow.jobs",
    "leadflow.users",
    "leadflow.accounts",
    "leadflow.leads",
    "leadflow.consent",
    "leadflow.pipeline",
    "leadflow.engagement",
    # Before scoring: its receivers run first, so a lead that shows explicit intent is qualified for that intent,
    # not for the score the same event earns.
    "leadflow.qualification",
    "leadflow.scoring",
    "leadflow.nurture",
    "leadflow.tracking",
    "leadflow.imports",
    "leadflow.duplicates",
    "leadflow.capture",
    "leadflow.analytics",
    "leadflow.chat",
    "leadflow.demo",
    "leadflow.api",
    "leadflow.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "leadflow.web.middleware.DatabaseUnavailableMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as its documentation asks: it turns a locked-out sign-in into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out user or address before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "leadflow.urls"
WSGI_APPLICATION = "leadflow.wsgi.application"
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:my_day"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    default_url = f"sqlite:///{VAR_DIR / 'leadflow.sqlite3'}"
    url = os.environ.get("DATABASE_URL") or default_url
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    except ValueError as exc:  # an unknown scheme, unquoted characters, a port that is not a number
        scheme = url.partition("://")[0] if "://" in url else ""
        why = (
            f"unknown scheme {scheme!r}"
            if isinstance(exc, dj_database_url.UnknownSchemeError)
            else "it does not parse; quote characters such as @ : / in the password, and give the port as a number"
        )
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a database URL ({why}): use sqlite:///path/to/file or postgres://user@host:5432/name."
        ) from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["ENGINE"] = "leadflow.sqlite"  # Django's, with a BEGIN that waits for the write lock without dozing
        # How long a write waits for another writer before giving up (the web app then answers 503).
        busy = os.environ.get("SQLITE_BUSY_TIMEOUT") or "20"
        try:
            busy_seconds = float(busy)
        except ValueError:
            raise ImproperlyConfigured(f"SQLITE_BUSY_TIMEOUT must be a number of seconds, not {busy!r}") from None
        config["OPTIONS"] = {
            # WAL lets readers work while a writer commits; IMMEDIATE takes the write lock up front so two
            # writers queue instead of failing on a lock upgrade.
            # A 64 MiB page cache keeps index pages of bulk imports in memory instead of re-reading them.
            # Checkpoints every 10,000 pages (~40 MiB of WAL) rather than 1,000: each one syncs the files to disk,
            # which made many small commits (a nurture worker commits once per email) pay for ten times as many.
            # Connections are kept between requests (CONN_MAX_AGE, as on PostgreSQL): opening one and running these
            # pragmas took more CPU than a whole API write.
            "init_command": (
                f"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={busy_seconds * 1000:.0f}; "
                "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=10000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": busy_seconds,
        }
        if config["NAME"] not in ("", ":memory:"):
            Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    return config


DATABASES = {"default": _database()}


def _cache() -> dict[str, Any]:
    """Redis when CACHE_URL names one, else a table in the database: one store every server process shares (the
    sign-in throttle counts failures there, the public doors their requests per address)."""
    url = os.environ.get("CACHE_URL", "")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if url:
        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, not {url!r}")
    return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "leadflow_cache"}


CACHES = {"default": _cache()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# WhiteNoise serves static files straight from the apps (finders); set STATIC_ROOT only to collect them.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Uploads (import files and their error reports) stay private under the var folder: there is no MEDIA_URL.
MEDIA_ROOT = VAR_DIR / "uploads"

# Without a mail server named, a local (DEBUG) run writes its emails to files under ./var/sent-mail/ to read.
_LOCAL_MAIL = DEBUG and "EMAIL_HOST" not in os.environ
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend"
    if _LOCAL_MAIL
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "sent-mail"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_flag("EMAIL_USE_TLS")
EMAIL_USE_SSL = _env_flag("EMAIL_USE_SSL")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "leadflow@localhost")
# Where recipients reach this server: tracking links and unsubscribe pages in emails start with it.
PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# The country a phone number without a country code is read in, when neither the contact nor its account has one.
DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "US").upper()

# Public form submissions per IP address (REMOTE_ADDR, never a forwarded header) and minute; 0 turns it off.
LEADFLOW_CAPTURE_RATE_PER_MINUTE = int(os.environ.get("LEADFLOW_CAPTURE_RATE_PER_MINUTE", "10"))
# A form sent sooner than this after it was shown is a bot's (at most 3 s, so no person waits).
LEADFLOW_CAPTURE_MIN_FILL_SECONDS = min(3.0, float(os.environ.get("LEADFLOW_CAPTURE_MIN_FILL_SECONDS", "3")))
# Serving on the internet behind TLS (a proxy that terminates it and sets X-Forwarded-Proto): HSTS, cookies only
# over HTTPS, and plain HTTP redirected. Off, the app serves plain HTTP (loopback, `make run`).
HTTPS = _env_flag("LEADFLOW_HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Pages run our own and the vendored scripts and styles only: no inline script or style, no other origin.
# frame-ancestors 'none' is the CSP twin of X-Frame-Options: DENY.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Sign-in throttling: after 5 failures for one username, or from one address, that username or address waits
# 15 minutes (or until an admin unlocks it on the settings page). Counts live in the shared cache.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "leadflow.web.views.signin.locked_out"
AXES_VERBOSE = False

LEADFLOW_DEFAULT_CURRENCY = os.environ.get("LEADFLOW_DEFAULT_CURRENCY", "USD")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Beacons one address may send to the tracking endpoint a minute (0: no limit, for benchmarks on loopback).
LEADFLOW_TRACKING_RATE_PER_MINUTE = int(os.environ.get("LEADFLOW_TRACKING_RATE_PER_MINUTE", "600"))
# Chat widget requests (offer, start, answer) per IP address and minute; 0 turns it off.
LEADFLOW_CHAT_RATE_PER_MINUTE = int(os.environ.get("LEADFLOW_CHAT_RATE_PER_MINUTE", "60"))
