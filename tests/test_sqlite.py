"""The SQLite backend: a write transaction waits for another writer's lock, starts once it is free, and gives up
at the busy timeout as before."""

import sqlite3
import threading

import pytest
from django.db import OperationalError, connection, transaction

from leadflow.users.models import Team

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's one write lock"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def other_writer():
    """Another connection to the test database that holds the write lock until told to let go."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def busy_timeout_ms() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return cursor.fetchone()[0]


def test_a_transaction_waits_for_another_writer_and_starts_once_it_is_done(other_writer):
    connection.ensure_connection()
    before = busy_timeout_ms()
    let_go = threading.Timer(0.3, other_writer.execute, ["ROLLBACK"])
    let_go.start()
    with transaction.atomic():
        assert not other_writer.in_transaction  # this transaction began only once the other writer let go
        Team.objects.create(name="Waited")
    let_go.join()
    assert Team.objects.filter(name="Waited").exists()
    assert busy_timeout_ms() == before  # other statements keep SQLite's own busy handler


def test_a_writer_that_keeps_the_lock_past_the_timeout_is_an_error_naming_the_lock(other_writer, monkeypatch):
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
        Team.objects.create(name="Never")
    assert busy_timeout_ms() == 200  # the timeout in force again for other statements
    other_writer.execute("ROLLBACK")
    assert not Team.objects.filter(name="Never").exists()


def pauses_waiting_for(other_writer, monkeypatch, *, held: float, name: str) -> list[tuple[float, float]]:
    """Each pause (seconds waited so far, pause) a transaction took while `other_writer` kept the lock `held` s."""
    from leadflow.sqlite import base

    connection.ensure_connection()
    pauses, sleep, began = [], base.time.sleep, base.time.monotonic()

    def recorded(seconds: float) -> None:
        pauses.append((base.time.monotonic() - began, seconds))
        sleep(seconds)

    monkeypatch.setattr(base.time, "sleep", recorded)
    let_go = threading.Timer(held, other_writer.execute, ["ROLLBACK"])
    let_go.start()
    with transaction.atomic():
        Team.objects.create(name=name)
    let_go.join()
    return pauses


def test_a_long_wait_tries_less_often_a_short_one_every_millisecond(other_writer, monkeypatch):
    from leadflow.sqlite import base

    pauses = pauses_waiting_for(other_writer, monkeypatch, held=0.3, name="Waited long")
    early = [pause for waited, pause in pauses if waited < 0.004]
    assert early and max(early) <= base.SHORT_PAUSE_SECONDS  # a short wait tries at least every millisecond
    assert all(pause <= max(base.SHORT_PAUSE_SECONDS, waited * base.SHARE_OF_WAIT) + 0.001 for waited, pause in pauses)
    assert max(pause for _, pause in pauses) > 10 * base.SHORT_PAUSE_SECONDS  # 300 ms of waiting: pauses grew
    assert max(pause for _, pause in pauses) <= base.LONGEST_PAUSE_SECONDS


def test_a_writer_that_has_waited_long_tries_every_millisecond_again(other_writer, monkeypatch):
    from leadflow.sqlite import base

    monkeypatch.setattr(base, "URGENT_AFTER_SECONDS", 0.15)
    pauses = pauses_waiting_for(other_writer, monkeypatch, held=0.4, name="Waited longest")
    late = [pause for waited, pause in pauses if waited > 0.15 + base.LONGEST_PAUSE_SECONDS]
    assert late and max(late) <= base.SHORT_PAUSE_SECONDS  # not left behind by writers that came after it
    assert any(pause > 10 * base.SHORT_PAUSE_SECONDS for waited, pause in pauses if waited < 0.15)
