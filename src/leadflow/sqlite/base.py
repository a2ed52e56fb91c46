"""Django's SQLite backend, with a write transaction that waits for the write lock by trying again often.

A transaction starts with BEGIN IMMEDIATE: it takes the database's one write lock up front. While another process
holds it, SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, so a writer waiting for a
5 ms transaction slept 8 ms and more, and two web workers spent much of a busy minute asleep with the lock free.
Here BEGIN tries again every quarter of a millisecond, growing to one, until the busy timeout; other statements
keep SQLite's handler."""

import sqlite3
import time

from django.db.backends.sqlite3 import base

FIRST_PAUSE_SECONDS = 0.00025
LONGEST_PAUSE_SECONDS = 0.001


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) != "IMMEDIATE":  # (neither is in django-stubs)
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        deadline = time.monotonic() + timeout
        pause = FIRST_PAUSE_SECONDS
        with self.wrap_database_errors:
            self.connection.execute("PRAGMA busy_timeout = 0")
            try:
                while True:
                    try:
                        self.connection.execute("BEGIN IMMEDIATE")
                        return
                    except sqlite3.OperationalError as error:
                        if "locked" not in str(error) or time.monotonic() >= deadline:
                            raise
                    time.sleep(pause)
                    pause = min(pause * 1.5, LONGEST_PAUSE_SECONDS)
            finally:
                self.connection.execute(f"PRAGMA busy_timeout = {timeout * 1000:.0f}")
