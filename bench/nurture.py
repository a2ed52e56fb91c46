"""Time the nurture engine: 100,000 enrolments whose next step is an email, run and sent by N worker processes.

Usage: .venv/bin/python bench/nurture.py [--enrolments 100000] [--workers 1] [--database-url URL]
Builds the leads, a two-step sequence (an email with merge fields and a link, then a wait) and the enrolments in a
fresh database (a temporary SQLite file unless --database-url is given; not timed), then runs the worker's code in
--workers processes at once — run_due_steps until no step is due, then send_queued, batch after batch — through
Django's locmem email backend (each process's outbox emptied after each batch, as a mail server would take the
messages) and prints steps per second. Every email must be sent exactly once: the emails the workers sent add up to
the enrolments, as do the deliveries marked sent. On PostgreSQL the tables are vacuumed and analyzed after the
set-up and once the emails are queued, as autovacuum would, and the bench ends with the rate of durable commits
the same number of processes manage on that server (each email costs one commit: the wall).
Targets: ≥ 2,000 steps/s (issue 8); ≥ 2,000 email steps/s with two workers on PostgreSQL (issue 22).
"""

import argparse
import gc
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable

from fresh_database import settle, use_fresh_database


def in_workers(count: int, work: Callable[[], int]) -> list[int]:
    """Run `work` in `count` forked processes at once (each opens its own database connection); what each returned."""
    from django.db import connections

    connections.close_all()  # a forked process must not share the parent's connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=lambda: results.put(work())) for _ in range(count)]
    for process in processes:
        process.start()
    done: list[int] = []
    while len(done) < count:  # a process that dies sends nothing: stop then instead of waiting for ever
        try:
            done.append(results.get(timeout=1))
        except queue.Empty:
            failed = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
            if failed:
                for process in processes:
                    process.terminate()
                raise SystemExit(f"a worker process failed (exit code {failed[0]})") from None
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a worker process failed (exit code {process.exitcode})")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrolments", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    use_fresh_database(args.database_url, prefix="leadflow-nurture-")

    from django.core import mail
    from django.db import connection
    from django.utils import timezone

    from leadflow.accounts.models import Account, Contact
    from leadflow.leads.models import Lead
    from leadflow.nurture.models import Delivery, DeliveryStatus, Enrolment, NurtureSettings
    from leadflow.nurture.services import add_step, run_due_steps, save_sequence, save_template, send_queued
    from leadflow.users.models import Role, User

    count = args.enrolments
    started = time.perf_counter()
    mia = User.objects.create(username="mia", role=Role.MARKETING, first_name="Mia")
    NurtureSettings.objects.create(pk=1, quiet_from=0, quiet_until=0, per_domain_per_hour=count, per_hour=count)
    accounts = Account.objects.bulk_create(
        [Account(name=f"Company {i}", domain=f"company{i}.example") for i in range(count // 20)], batch_size=5000
    )
    contacts = Contact.objects.bulk_create(
        [
            Contact(first_name=f"Person{i}", email=f"person{i}@company{i % len(accounts)}.example",
                    account=accounts[i % len(accounts)], email_opt_in=True)
            for i in range(count)
        ],
        batch_size=5000,
    )  # fmt: skip
    leads = Lead.objects.bulk_create([Lead(contact=contact, owner=mia) for contact in contacts], batch_size=5000)
    template = save_template(
        None, by=mia, name="Guide", subject="{{ contact.first_name }}, the spend guide",
        body='<p>Hi {{ contact.first_name|default:"there" }} at {{ account.name }},</p>'
             '<p><a href="https://example.com/guide">Get the guide</a></p>'
             '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )  # fmt: skip
    sequence = save_sequence(None, by=mia, name="Guide drip")
    add_step(sequence, by=mia, kind="email", template=template)
    add_step(sequence, by=mia, kind="wait", config={"days": 3})
    save_sequence(sequence, by=mia, is_active=True)
    now = timezone.now()
    Enrolment.objects.bulk_create(
        [Enrolment(sequence=sequence, lead=lead, entered_at=now, due_at=now) for lead in leads], batch_size=5000
    )
    print(f"set-up: {count:,} leads and enrolments in {time.perf_counter() - started:.1f} s", flush=True)
    del accounts, contacts, leads  # a worker holds none of the set-up's objects: its cycle collector has less to scan
    gc.collect()
    settle()

    at = timezone.now()

    def run_steps() -> int:
        steps = 0
        while ran := run_due_steps(at=at):
            steps += ran
        return steps

    def send_emails() -> int:
        sent = 0
        while batch := send_queued(at=at):
            sent += batch["sent"]
            mail.outbox.clear()
        return sent

    started = time.perf_counter()
    steps = sum(in_workers(args.workers, run_steps))
    queued_in = time.perf_counter() - started
    settle()  # the new deliveries, as autovacuum would analyze them (timed: a worker would wait for it)
    sent_by = in_workers(args.workers, send_emails)
    elapsed = time.perf_counter() - started
    sent, marked = sum(sent_by), Delivery.objects.filter(status=DeliveryStatus.SENT).count()
    print(f"{args.workers} worker process(es); load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"ran {steps:,} steps (an email step queued and the wait after it, per enrolment) in {queued_in:.1f} s")
    print(
        f"sent {sent:,} emails ({' + '.join(f'{n:,}' for n in sent_by)}), {marked:,} marked sent; total {elapsed:.1f} s"
    )
    print(
        f"email steps (queued and sent): {sent / elapsed:,.0f} /s; all steps: {steps / elapsed:,.0f} /s "
        "(target ≥ 2,000 steps/s)"
    )
    once = sent == marked == count
    print("every email sent exactly once" if once else f"MISMATCH: {count:,} enrolments")
    if connection.vendor == "postgresql":
        rate = commit_rate(args.workers)
        print(f"the disk's wall: {rate:,.0f} durable commits/s from {args.workers} process(es) doing nothing else")
    return 0 if once else 1


def commit_rate(workers: int, seconds: float = 5.0) -> float:
    """Commits per second `workers` processes manage at once, each committing one row at a time into a scratch table
    (dropped after): the most emails a second when each email costs one durable commit."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_commit_rate (worker integer, at timestamptz DEFAULT now())")

    def commit_rows() -> int:
        done, until = 0, time.perf_counter() + seconds
        with connection.cursor() as cursor:
            while time.perf_counter() < until:
                cursor.execute("INSERT INTO bench_commit_rate (worker) VALUES (%s)", [os.getpid()])  # autocommit
                done += 1
        return done

    committed = sum(in_workers(workers, commit_rows))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_commit_rate")
    return committed / seconds


if __name__ == "__main__":
    sys.exit(main())
