"""Nurture email through a real SMTP server on loopback (aiosmtpd, started here): what arrives is read back —
headers, merge fields, tracking links, unsubscribe — and a worker killed in the middle of a batch, then restarted,
delivers every due email exactly once (on SQLite; on PostgreSQL with a second worker running beside it)."""

import email
import os
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from email.message import Message
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.test import Client

from leadflow.nurture.models import Delivery, NurtureSettings, Suppression
from leadflow.nurture.services import add_step, enrol_leads, run_nurture, save_sequence, save_template

from ..factories import ContactFactory, LeadFactory


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting, so 0 will not do)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.mark.django_db
def test_a_sequence_email_as_it_arrives(smtp, settings, marketer, rep):
    inbox, port = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    NurtureSettings.objects.create(pk=1, quiet_from=0, quiet_until=0)  # sent now, whatever the hour
    template = save_template(
        None, by=marketer, name="Guide", subject="{{ contact.first_name }}, your guide from {{ owner.first_name }}",
        body='<p>Hi {{ contact.first_name|default:"there" }} at {{ account.name }},</p>'
             '<p><a href="https://example.com/guide">Get the guide</a></p>'
             '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )  # fmt: skip
    sequence = save_sequence(None, by=marketer, name="Guide drip")
    add_step(sequence, by=marketer, kind="email", template=template)
    save_sequence(sequence, by=marketer, is_active=True)
    lead = LeadFactory(owner=rep, contact=ContactFactory(first_name="Ana", email_opt_in=True))
    enrol_leads(sequence, [lead], by=marketer)
    assert run_nurture()["sent"] == 1
    [message] = inbox.messages
    assert message["To"] == lead.contact.email and message["Subject"] == f"Ana, your guide from {rep.first_name}"
    assert message["Message-ID"] == f"<nurture-{Delivery.objects.get().pk}@leadflow>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert f"Hi Ana at {lead.contact.account.name}" in html and f"Hi Ana at {lead.contact.account.name}" in text
    assert "https://example.com/guide" not in html and "/e/c/" in html and "/e/o/" in html
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>").removeprefix("http://127.0.0.1:8000")
    assert f'href="http://127.0.0.1:8000{unsubscribe}"' in html
    Client().post(unsubscribe, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert Suppression.objects.filter(email=lead.contact.email, reason="unsubscribed").exists()


# --- a worker killed mid-batch ------------------------------------------------------------------------------------

SETUP = textwrap.dedent(
    """
    from leadflow.accounts.models import Account, Contact
    from leadflow.leads.models import Lead
    from leadflow.nurture.models import NurtureSettings
    from leadflow.nurture.services import add_step, enrol_leads, run_due_steps, save_sequence, save_template
    from leadflow.users.models import User
    NurtureSettings.objects.create(pk=1, quiet_from=0, quiet_until=0, per_domain_per_hour=5000)  # any hour, no throttle
    mia = User.objects.create(username="mia", role="marketing")
    template = save_template(None, by=mia, name="T", subject="Hello {{ contact.first_name }}", body="<p>Hi</p>")
    sequence = save_sequence(None, by=mia, name="Drip")
    add_step(sequence, by=mia, kind="email", template=template)
    save_sequence(sequence, by=mia, is_active=True)
    account = Account.objects.create(name="Acme", domain="acme.example")
    leads = [
        Lead.objects.create(contact=Contact.objects.create(first_name=f"P{i}", email=f"p{i}@acme.example",
                                                           account=account, email_opt_in=True))
        for i in range(COUNT)
    ]
    enrol_leads(sequence, leads, by=mia)
    run_due_steps()
    print("queued", len(leads))
    """
)


def _database_url(tmp_path: Path) -> tuple[str, object]:
    """A database of the test's own that a worker process can reach: a SQLite file, or a fresh PostgreSQL
    database beside the test run's (dropped at the end)."""
    if connection.vendor != "postgresql":
        return f"sqlite:///{tmp_path / 'crash.sqlite3'}", None
    import psycopg

    params = connection.get_connection_params()
    name = f"leadflow_crash_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(host=params.get("host"), port=params.get("port"), user=params.get("user"),
                            dbname="postgres", autocommit=True)  # fmt: skip
    admin.execute(f'CREATE DATABASE "{name}"')
    host, port, user = params.get("host") or "127.0.0.1", params.get("port") or 5432, params.get("user")

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"postgres://{user}@{host}:{port}/{name}", drop


def _leadflow(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "leadflow.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_a_worker_killed_mid_batch_sends_each_email_exactly_once(smtp, tmp_path):
    inbox, port = smtp
    url, drop = _database_url(tmp_path)
    two_workers = url.startswith("postgres")
    # Beside a second worker, enough emails that both are surely sending before the first one dies after 15: more
    # than two batches, as each worker reserves a batch of its own.
    count = 1200 if two_workers else 40
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))},
        "DATABASE_URL": url, "SECRET_KEY": "crash-test", "LEADFLOW_VAR_DIR": str(tmp_path),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
    }  # fmt: skip
    try:
        assert _leadflow(["migrate", "-v0"], env).returncode == 0
        setup = _leadflow(["shell", "-c", SETUP.replace("COUNT", str(count))], env)
        assert f"queued {count}" in setup.stdout, setup.stderr
        crashing = {**env, "LEADFLOW_NURTURE_CRASH_AFTER": "15"}
        if two_workers:  # one dies after 15 emails, the other carries on
            command = [sys.executable, "-m", "leadflow.cli", "nurture", "run"]
            workers = [subprocess.Popen(command, env=e, stdout=subprocess.DEVNULL) for e in (crashing, env)]
            codes = sorted(worker.wait(timeout=300) for worker in workers)
            assert codes == [0, 3]
        else:
            assert _leadflow(["nurture", "run"], crashing).returncode == 3  # killed in the middle of the batch
            assert len(inbox.messages) == 15
        restarted = _leadflow(["nurture", "run"], env)
        assert restarted.returncode == 0, restarted.stderr
        ids = [message["Message-ID"] for message in inbox.messages]
        assert len(ids) == count and len(set(ids)) == count
        assert sorted(message["To"] for message in inbox.messages) == sorted(f"p{i}@acme.example" for i in range(count))
    finally:
        if drop is not None:
            drop()


@pytest.mark.django_db
def test_with_the_mail_server_away_emails_wait_unclaimed(settings, marketer):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    template = save_template(None, by=marketer, name="T", subject="Hi", body="<p>Hi</p>")
    sequence = save_sequence(None, by=marketer, name="Drip")
    add_step(sequence, by=marketer, kind="email", template=template)
    save_sequence(sequence, by=marketer, is_active=True)
    enrol_leads(sequence, [LeadFactory(contact=ContactFactory(email_opt_in=True))], by=marketer)
    assert run_nurture()["waiting"] == 1
    assert Delivery.objects.get().status == "queued"
