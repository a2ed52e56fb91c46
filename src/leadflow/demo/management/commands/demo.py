"""`leadflow demo [--seed N] [--leads N] [--password P] [--if-empty]`: load the demo world."""

import secrets
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.demo.world import PEOPLE, build_demo_world
from leadflow.leads.models import Lead


class Command(BaseCommand):
    help = "Build a reproducible demo world (users in every role, accounts, leads, deals, activities) from a seed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--leads", type=int, default=3000)
        parser.add_argument("--password", help="Password for every demo user (random when not given)")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the database already has leads")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)  # a new database file gets its tables first
        if Lead.objects.exists():
            if options["if_empty"]:
                self.stdout.write("The database already has leads; the demo world is not loaded again.")
                return
            raise CommandError(
                "The database already has leads; the demo world goes into an empty database only "
                "(use --if-empty to skip quietly)."
            )
        if options["leads"] < 1:
            raise CommandError("--leads must be at least 1.")
        password = options["password"] or secrets.token_urlsafe(9)
        self.stdout.write(f"Building the demo world (seed {options['seed']}, {options['leads']} leads)…")
        started = time.perf_counter()
        counts = build_demo_world(
            seed=options["seed"], leads=options["leads"], password=password, progress=self.stdout.write
        )
        took = time.perf_counter() - started
        self.stdout.write(
            "Built "
            + ", ".join(f"{value} {name}" for name, value in counts.items() if name != "admin")
            + f" in {took:.1f} s"
        )
        others = [
            f"  {username}: {role.label}" + (f", team {team}" if team else "")
            for username, _, _, role, team in PEOPLE
            if username != counts["admin"]
        ]
        login = "\n".join(
            [
                "url: http://127.0.0.1:8000/",
                f"username: {counts['admin']}",
                f"password: {password}",
                "other users (same password):",
                *others,
            ]
        )
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        login_file = settings.VAR_DIR / "demo-login.txt"
        login_file.touch(mode=0o600)
        login_file.chmod(0o600)  # also when it was left behind by an earlier world
        login_file.write_text(login + "\n")
        self.stdout.write(f"Login written to {login_file}:")
        self.stdout.write(login)
