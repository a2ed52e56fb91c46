"""The `leadflow` command line: users, tokens and the settings it starts from."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from leadflow.users.models import User

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_createuser_makes_a_user_with_a_role_in_a_team():
    output = run(
        "createuser", "--username", "sam", "--password", "s3cret-pass-word", "--role", "sales", "--team", "East"
    )
    user = User.objects.get(username="sam")
    assert (user.role, user.team.name) == ("sales", "East")
    assert user.check_password("s3cret-pass-word")
    assert "Created sales sam" in output


def test_createuser_refuses_a_taken_username():
    run("createuser", "--username", "sam", "--password", "s3cret-pass-word", "--role", "sales")
    with pytest.raises(CommandError, match="already exists"):
        run("createuser", "--username", "SAM", "--password", "s3cret-pass-word", "--role", "admin")


def test_createuser_refuses_a_weak_password():
    with pytest.raises(CommandError, match="password"):
        run("createuser", "--username", "sam", "--password", "123", "--role", "sales")
    assert not User.objects.exists()


def test_token_create_prints_a_working_token_as_the_last_line(rep):
    token = run("token", "create", rep.username).strip().splitlines()[-1]
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["username"] == rep.username


def test_token_create_for_an_unknown_user_fails():
    with pytest.raises(CommandError, match="No active user"):
        run("token", "create", "nobody")


def test_a_deactivated_users_token_stops_working(rep):
    token = run("token", "create", rep.username).strip()
    rep.is_active = False
    rep.save()
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def _settings_error(env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'leadflow.settings'; django.setup()"
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run([sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True)


def test_without_debug_a_secret_key_is_required(tmp_path):
    result = _settings_error({"LEADFLOW_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_with_debug_a_secret_key_is_generated_into_the_var_dir(tmp_path):
    result = _settings_error({"DEBUG": "1", "LEADFLOW_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "secret_key").read_text()) > 40
