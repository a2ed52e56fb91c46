"""Worlds for the fault tests: a database of their own (a SQLite file, or a PostgreSQL database beside the test
run's) that `leadflow` processes work on, seeded once and copied for each run, so a run cut off by a fault can be
compared, count for count, with a clean run of the same job on the same data."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.db import connection

# The seed: an admin with an API token, scoring rules, LEADS leads (KNOWN of them with a known outcome a model can
# learn), an uploaded import of IMPORT_ROWS rows (some invalid), and a training job finished just now so the
# worker's weekly training chore stays quiet.
SEED = """
import os
from datetime import timedelta
from pathlib import Path
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from leadflow.accounts.models import Account, Contact
from leadflow.engagement.models import Event
from leadflow.imports.services import upload_import
from leadflow.leads.models import Lead, LifecycleStage, StageChange
from leadflow.scoring.models import ScoringRule, TrainingJob
from leadflow.users.models import User
from leadflow.users.services import create_api_token

admin = User.objects.create_user(username="admin", password="fault-test-pw", role="admin")
print("token", create_api_token(user=admin)[1])
ScoringRule.objects.create(name="Software", kind="fit", field="industry", matcher="equals", value="Software",
                           points=20)
ScoringRule.objects.create(name="Pricing", kind="engagement", event_type="pricing_page_view", points=15)
created = timezone.now() - timedelta(days=150)
account = Account.objects.create(name="Acme", domain="acme.example", industry="Software")
contacts = Contact.objects.bulk_create(Contact(first_name=f"P{i}", email=f"p{i}@acme.example", account=account)
                                       for i in range(LEADS))
leads = Lead.objects.bulk_create(Lead(contact=contact, external_id=f"L{i}", created_at=created, source="web_form")
                                 for i, contact in enumerate(contacts))
events, steps = [], []
for i, lead in enumerate(leads):
    if i % 2:
        events += [Event(lead=lead, type="pricing_page_view", occurred_at=created + timedelta(days=d)) for d in (2, 5)]
    if i < KNOWN:
        won = i % 10 != 1 if i % 2 else i % 10 == 0
        lead.lifecycle_stage = LifecycleStage.CUSTOMER if won else LifecycleStage.DISQUALIFIED
        steps.append(StageChange(lead=lead, from_stage="lead", to_stage=lead.lifecycle_stage,
                                 at=created + timedelta(days=40)))
Event.objects.bulk_create(events)
StageChange.objects.bulk_create(steps)
Lead.objects.bulk_update(leads, ["lifecycle_stage"])
rows = ["email,first_name,last_name,company"] + [
    f"{'not-an-email' if i % 50 == 7 else f'new{i}@firm{i % 40}.example'},N{i},Row{i},Firm {i % 40}"
    for i in range(IMPORT_ROWS)
]
upload = SimpleUploadedFile("people.csv", "\\n".join(rows).encode())
print("import", upload_import(by=admin, file=upload, preset="generic").pk)
TrainingJob.objects.create(status="done", message="Seeded", finished_at=timezone.now())
"""

# Queue one job of a kind in a world; prints its id.
QUEUE = {
    "import": "from leadflow.imports.models import ImportJob\n"
    "from leadflow.imports.services import queue_import\n"
    "job = ImportJob.objects.get()\n"
    "print(queue_import(job, by=job.created_by, mapping=job.mapping).pk)",
    "rescore": "from leadflow.scoring.services import queue_rescore\n"
    "from leadflow.users.models import User\n"
    "print(queue_rescore(by=User.objects.get(username='admin')).pk)",
    "training": "from leadflow.scoring.services import queue_training\n"
    "from leadflow.users.models import User\n"
    "print(queue_training(by=User.objects.get(username='admin')).pk)",
}
JOB_TABLE = {"import": "imports_importjob", "rescore": "scoring_rescorejob", "training": "scoring_trainingjob"}
# Rows that say when or how a job ran rather than what it did: left out of the census.
NOT_COUNTED = ("jobs_", "django_", "imports_importjob", "scoring_rescorejob", "scoring_trainingjob", "auth_")


class World:
    """One database a `leadflow` process can reach, and the environment that points it there."""

    def __init__(self, url: str, var_dir: Path) -> None:
        self.url, self.var_dir = url, var_dir
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))},
            "DATABASE_URL": url, "SECRET_KEY": "fault-test", "LEADFLOW_VAR_DIR": str(var_dir),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", "PYTHONUNBUFFERED": "1",
        }  # fmt: skip

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgres")

    def leadflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "leadflow.cli", *args], env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        assert result.returncode == 0, f"leadflow {' '.join(args)}: {result.stderr}"
        return result

    def start(self, *args: str, log: Path) -> subprocess.Popen:
        """A long-running `leadflow` process (its output goes to `log`)."""
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "leadflow.cli", *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def queue(self, kind: str) -> int:
        return int(self.leadflow("shell", "-c", QUEUE[kind]).stdout.split()[-1])

    def query(self, sql: str) -> list[tuple]:
        """Rows of a query, on a connection of the test's own."""
        if self.is_postgres:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as db:
                return db.execute(sql).fetchall()
        with sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30) as db:
            return db.execute(sql).fetchall()

    def job(self, kind: str, pk: int) -> dict:
        columns = ["status", "progress", "progress_total", "attempts", "message"]
        if kind == "import":
            columns.append("counts")
        if kind == "training":
            columns.append("model_id")
        row = self.query(f"SELECT {', '.join(columns)} FROM {JOB_TABLE[kind]} WHERE id = {int(pk)}")[0]
        job = dict(zip(columns, row, strict=True))
        if isinstance(job.get("counts"), str):
            job["counts"] = json.loads(job["counts"])
        return job

    def census(self) -> dict[str, int]:
        """How many rows each table holds, but for the job system's own."""
        if self.is_postgres:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        tables = sorted(name for (name,) in self.query(sql) if not name.startswith(NOT_COUNTED))
        return {table: self.query(f'SELECT COUNT(*) FROM "{table}"')[0][0] for table in tables}

    def wait_for(self, kind: str, pk: int, until, *, timeout: float = 300) -> dict:
        """The job's row once `until(job)` holds (polled every 20 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(kind, pk)
            if until(job):
                return job
            time.sleep(0.02)
        raise AssertionError(f"{kind} job {pk} never got there: {self.job(kind, pk)}")

    def catch(self, kind: str, pk: int, until, worker: subprocess.Popen, *, timeout: float = 300) -> dict:
        """The job's row once `until(job)` holds, with `worker` stopped (SIGSTOP) right there. The worker runs in
        short steps and is stopped whenever the row is read, so it cannot finish the job unseen however slowly
        this test is scheduled; the caller kills it, or lets it go on with `resume`."""
        deadline = time.monotonic() + timeout
        while True:
            worker.send_signal(signal.SIGSTOP)
            _, status = os.waitpid(worker.pid, os.WUNTRACED)
            assert os.WIFSTOPPED(status), f"the worker ended: status {status}"
            job = self.job(kind, pk)
            if until(job):
                return job
            assert time.monotonic() < deadline, f"{kind} job {pk} never got there: {job}"
            resume(worker)
            time.sleep(0.02)

    def wait_for_heartbeat(self, *, timeout: float = 120) -> None:
        """Until a worker has said it is alive."""
        deadline = time.monotonic() + timeout
        while not self.query("SELECT COUNT(*) FROM jobs_workerheartbeat")[0][0]:
            assert time.monotonic() < deadline, "no worker started"
            time.sleep(0.1)

    def terminate_backends(self) -> int:
        """End every other connection to this PostgreSQL database (what a failover or a network cut does)."""
        name = self.url.rsplit("/", 1)[1]
        rows = self.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        return sum(1 for (ended,) in rows if ended)


class Template:
    """The seeded world every run of a module's tests copies."""

    def __init__(self, tmp: Path, *, leads: int, known: int, import_rows: int) -> None:
        self.tmp = tmp
        self.admin = None
        if connection.vendor == "postgresql":
            import psycopg

            params = connection.get_connection_params()
            self.host = params.get("host") or "127.0.0.1"
            self.port = params.get("port") or 5432
            self.user = params.get("user")
            self.admin = psycopg.connect(
                host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
            )
            self.prefix = f"leadflow_fault_{uuid.uuid4().hex[:8]}"
            self.names: list[str] = []
            url = self._new_database("template", None)
        else:
            url = f"sqlite:///{tmp / 'template.sqlite3'}"
        self.world = World(url, tmp / "var")
        self.world.leadflow("migrate", "-v0")
        seed = SEED.replace("IMPORT_ROWS", str(import_rows)).replace("KNOWN", str(known)).replace("LEADS", str(leads))
        self.token = self.world.leadflow("shell", "-c", seed).stdout.split("token ", 1)[1].split()[0]

    def _new_database(self, suffix: str, template: str | None) -> str:
        name = f"{self.prefix}_{suffix}"
        self.admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.names.append(name)
        return f"postgres://{self.user}@{self.host}:{self.port}/{name}"

    def copy(self, name: str) -> World:
        """A world of its own with the seeded data."""
        if self.admin is not None:
            url = self._new_database(name, f"{self.prefix}_template")
        else:
            path = self.tmp / f"{name}.sqlite3"
            shutil.copy(self.tmp / "template.sqlite3", path)
            url = f"sqlite:///{path}"
        return World(url, self.world.var_dir)

    def drop(self) -> None:
        if self.admin is not None:
            for name in self.names:
                self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.close()


def resume(process: subprocess.Popen) -> None:
    """Let a process stopped with SIGSTOP go on."""
    process.send_signal(signal.SIGCONT)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL, and reap it (a zombie still counts as a running process)."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
