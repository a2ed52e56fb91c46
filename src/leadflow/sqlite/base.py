"""Django's SQLite backend, with a write transaction that waits for the write lock by trying again often.

A transaction starts with BEGIN IMMEDIATE: it takes the database's one write lock up front. While another process
holds it, SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, so a writer waiting for a
5 ms transaction slept 8 ms and more, and two web workers spent much of a busy minute asleep with the lock free.
Here BEGIN tries again after a quarter of a millisecond, the pause growing to one millisecond, or to a quarter of
the time waited so far when that is longer (but never past 20 ms), until the busy timeout; other statements keep
SQLite's handler. The quarter matters under long transactions (an event batch holds the lock for 100 ms and more):
three writers trying every millisecond took a tenth of the two cores from the writer holding the lock. The cap and
the last rule keep it fair: the lock goes to whoever tries first once it is free, so a writer that tried less and
less often the longer it waited lost to newer ones again and again (20 s, and a 503, under the event ingest); one
that has waited a second tries every millisecond again."""

import sqlite3
import time

from django.db.backends.sqlite3 import base

FIRST_PAUSE_SECONDS = 0.00025
SHORT_PAUSE_SECONDS = 0.001  # the longest pause while the wait is short
SHARE_OF_WAIT = 0.25  # past that, a pause may grow to this share of the time waited
LONGEST_PAUSE_SECONDS = 0.02
URGENT_AFTER_SECONDS = 1.0  # a writer that has waited this long tries every SHORT_PAUSE_SECONDS again


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) != "IMMEDIATE":  # (neither is in django-stubs)
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        began = time.monotonic()
        deadline = began + timeout
        pause = FIRST_PAUSE_SECONDS
        with self.wrap_database_errors:
            self.connection.execute("PRAGMA busy_timeout = 0")
            try:
                while True:
                    try:
                        self.connection.execute("BEGIN IMMEDIATE")
                        return
                    except sqlite3.OperationalError as error:
                        now = time.monotonic()
                        if "locked" not in str(error) or now >= deadline:
                            raise
                    time.sleep(min(pause, deadline - now))
                    pause = _next_pause(pause, now - began)
            finally:
                self.connection.execute(f"PRAGMA busy_timeout = {timeout * 1000:.0f}")


def _next_pause(pause: float, waited: float) -> float:
    if waited >= URGENT_AFTER_SECONDS:
        return SHORT_PAUSE_SECONDS
    return min(pause * 1.5, max(SHORT_PAUSE_SECONDS, waited * SHARE_OF_WAIT), LONGEST_PAUSE_SECONDS)
