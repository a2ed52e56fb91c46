"""Set-up mistakes end `leadflow` with one clear line, not a traceback; `leadflow --help` lists ours first."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LEADFLOW = str(Path(sys.executable).with_name("leadflow"))


def leadflow(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env = {"DEBUG": "1", "LEADFLOW_VAR_DIR": str(tmp_path), **env}
    return subprocess.run([LEADFLOW, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leadflow: ")
    return lines[0]


def test_a_missing_secret_key_is_one_line(tmp_path):
    line = one_line_error(leadflow("score", "--all", tmp_path=tmp_path, DEBUG="0"))
    assert "SECRET_KEY must be set" in line


@pytest.mark.parametrize(
    ("url", "says"),
    [("mongo://db.example", "unknown scheme 'mongo'"), ("postgres://user:p@ss@host:port/db", "does not parse")],
)
def test_a_malformed_database_url_is_one_line(tmp_path, url, says):
    line = one_line_error(leadflow("score", "--all", tmp_path=tmp_path, DATABASE_URL=url))
    assert "DATABASE_URL is not a database URL" in line and says in line


def test_an_unreachable_database_is_one_line(tmp_path):
    url = "postgres://postgres@127.0.0.1:9/leadflow"  # the discard port: nothing answers
    line = one_line_error(leadflow("score", "--all", tmp_path=tmp_path, DATABASE_URL=url))
    assert "cannot reach the database leadflow" in line


def test_an_unmigrated_database_is_one_line(tmp_path):
    line = one_line_error(leadflow("score", "--all", tmp_path=tmp_path))
    assert "is not migrated" in line and "leadflow migrate" in line


def test_demo_on_a_new_database_file_migrates_first(tmp_path):
    result = leadflow("demo", "--leads", "30", "--password", "demo-pass-123", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Built" in result.stdout and (tmp_path / "leadflow.sqlite3").exists()


def test_help_lists_leadflows_commands_first_one_line_each_then_djangos(tmp_path):
    result = leadflow("--help", tmp_path=tmp_path)
    assert result.returncode == 0
    ours, _, django = result.stdout.partition("Django's commands:")
    listed = [line.split()[0] for line in ours.splitlines() if line.startswith("  ")]
    assert {"serve", "demo", "import", "worker", "token", "score"} <= set(listed)
    assert "migrate" not in listed and "migrate" in django
    assert len(listed) == len(set(listed))  # one line each


def test_help_needs_no_database(tmp_path):
    result = leadflow("--help", tmp_path=tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:9/leadflow")
    assert result.returncode == 0 and "leadflow commands:" in result.stdout
