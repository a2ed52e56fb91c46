"""A server on the internet: HTTPS settings, security headers, and sign-in throttling with an admin's unlock."""

import os
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client

from ..clients import signed_in

pytestmark = pytest.mark.django_db


def _settings_under(env: dict[str, str], code: str) -> str:
    """Run `code` with leadflow's own settings loaded under these environment variables; its output."""
    # Not the test run's own relaxations (the browser tests allow async-unsafe calls), which a deploy check flags.
    inherited = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {**inherited, "DJANGO_SETTINGS_MODULE": "leadflow.settings", **env}
    program = f"import django; django.setup(); from django.conf import settings as s; {code}"
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


SERVER = {"SECRET_KEY": "k" * 20 + "-a-long-random-looking-key-0123456789-XYZ", "ALLOWED_HOSTS": "crm.example.com"}


def test_the_deploy_check_passes_behind_tls(tmp_path):
    env = {**SERVER, "LEADFLOW_HTTPS": "1", "LEADFLOW_VAR_DIR": str(tmp_path)}
    code = "from django.core.management import call_command; call_command('check', deploy=True)"
    assert "no issues" in _settings_under(env, code)


def test_https_turns_on_hsts_secure_cookies_and_the_redirect(tmp_path):
    code = (
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0,"
        " s.SECURE_PROXY_SSL_HEADER is not None)"
    )
    on = _settings_under({**SERVER, "LEADFLOW_HTTPS": "1", "LEADFLOW_VAR_DIR": str(tmp_path)}, code)
    off = _settings_under({**SERVER, "LEADFLOW_VAR_DIR": str(tmp_path)}, code)
    assert on.split() == ["True"] * 5
    assert off.split() == ["False"] * 5


def test_pages_carry_the_security_headers():
    response = Client().get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def _log_in(username, password, address="198.51.100.7"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_username_with_a_clear_message(rep):
    for _ in range(4):
        assert _log_in(rep.username, "wrong", address="198.51.100.1").status_code == 200
    assert _log_in(rep.username, "wrong", address="198.51.100.1").status_code == 429
    response = _log_in(rep.username, "correct-horse-battery", address="198.51.100.2")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


def test_five_failures_from_one_address_lock_that_address(rep, teammate):
    for name in ("a", "b", "c", "d", "e"):
        _log_in(name, "wrong", address="203.0.113.9")
    assert _log_in(rep.username, "correct-horse-battery", address="203.0.113.9").status_code == 429
    assert _log_in(teammate.username, "correct-horse-battery", address="203.0.113.10").status_code == 302


def test_a_successful_sign_in_forgets_earlier_failures(rep):
    for _ in range(4):
        _log_in(rep.username, "wrong")
    assert _log_in(rep.username, "correct-horse-battery").status_code == 302
    for _ in range(4):
        _log_in(rep.username, "wrong")
    assert _log_in(rep.username, "correct-horse-battery").status_code == 302


def test_an_admin_sees_the_lock_and_unlocks_a_username(rep, admin):
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"):
        _log_in(rep.username, "wrong", address=address)
    page = signed_in(admin).get("/settings/").content.decode()
    assert "locked out" in page and f"Unlock sign-in for {rep.username}" in page
    response = signed_in(admin).post("/settings/sign-in/unlock/", {"username": rep.username}, follow=True)
    assert f"Sign-in unlocked for {rep.username}" in response.content.decode()
    assert _log_in(rep.username, "correct-horse-battery", address="198.51.100.6").status_code == 302


def test_an_admin_unlocks_an_address(rep, admin):
    for name in ("a", "b", "c", "d", "e"):
        _log_in(name, "wrong", address="203.0.113.9")
    signed_in(admin).post("/settings/sign-in/unlock/", {"address": "203.0.113.9"})
    assert _log_in(rep.username, "correct-horse-battery", address="203.0.113.9").status_code == 302


def test_only_an_admin_unlocks(rep, manager):
    assert signed_in(manager).post("/settings/sign-in/unlock/", {"username": rep.username}).status_code == 404
