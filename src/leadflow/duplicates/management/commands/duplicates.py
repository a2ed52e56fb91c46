"""`leadflow duplicates scan | list | merge | not-duplicate`: find likely duplicate contacts, list them best first,
merge a pair (or every exact-key pair) or remember that two are different people. For admins: merges and
decisions are recorded in the name of `--as` (the first admin by default)."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from leadflow.accounts.models import DuplicatePair, PairStatus
from leadflow.duplicates.selectors import evidence_in_words, get_pair, pairs_to_review
from leadflow.duplicates.services import (
    MERGE_FIELDS,
    SIDES,
    mark_not_duplicate,
    merge_exact_pairs,
    merge_pair,
    scan_for_duplicates,
)
from leadflow.errors import DomainError
from leadflow.users.models import Role, User


class Command(BaseCommand):
    help = "Find, list and merge duplicate contacts."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True)
        verbs.add_parser("scan", help="Compare candidate contacts now and flag the likely duplicates")
        listing = verbs.add_parser("list", help="The pairs to review, most likely first")
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--status", choices=PairStatus.values, default=PairStatus.OPEN)
        merge = verbs.add_parser("merge", help="Merge a pair (PAIR) or every exact-key pair (--exact)")
        merge.add_argument("pair", type=int, nargs="?", help="The pair's id (from `list`)")
        merge.add_argument("--exact", action="store_true", help="Merge every pair that shares an exact key")
        merge.add_argument("--survivor", type=int, help="The contact id that stays (default: the older)")
        merge.add_argument(
            "--keep", action="append", default=[], metavar="FIELD=SIDE",
            help=f"Take FIELD from SIDE ({' or '.join(SIDES)}); fields: {', '.join(MERGE_FIELDS)}",
        )  # fmt: skip
        merge.add_argument("--as", dest="username", help="An admin (the first admin by default)")
        different = verbs.add_parser("not-duplicate", help="Remember that a pair are different people")
        different.add_argument("pair", type=int)
        different.add_argument("--as", dest="username", help="An admin (the first admin by default)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, options["verb"].replace("-", "_"))(options)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc

    def scan(self, options: dict[str, Any]) -> None:
        started = time.perf_counter()
        result = scan_for_duplicates()
        self.stdout.write(
            f"{result.contacts:,} contacts, {result.compared:,} pairs of names compared in "
            f"{time.perf_counter() - started:.1f} s: {result.flagged:,} new likely duplicates, "
            f"{result.updated:,} re-scored."
        )

    def list(self, options: dict[str, Any]) -> None:
        pairs = pairs_to_review(_admin(None), status=options["status"])
        for pair in pairs[: options["limit"]]:
            self.stdout.write(
                f"{pair.pk:>7}  {pair.score:>3}  {_person(pair.first):<45} {_person(pair.second):<45} "
                f"{'; '.join(evidence_in_words(pair))}"
            )
        self.stderr.write(f"{pairs.count():,} pairs ({options['status']}).")

    def merge(self, options: dict[str, Any]) -> None:
        by = _admin(options["username"])
        if options["exact"]:
            merged, refusals = merge_exact_pairs(by=by)
            for refusal in refusals:
                self.stderr.write(refusal)
            self.stdout.write(f"Merged {merged:,} exact-key pairs; {len(refusals)} refused.")
            return
        if options["pair"] is None:
            raise CommandError("Name a pair (its id from `leadflow duplicates list`) or use --exact.")
        keep = {}
        for choice in options["keep"]:
            field, _, side = choice.partition("=")
            keep[field] = side
        pair = _pair(by, options["pair"])
        record = merge_pair(pair, by=by, survivor_id=options["survivor"], keep=keep)
        self.stdout.write(f"Merged {record.merged_name} into contact {record.survivor_id}.")

    def not_duplicate(self, options: dict[str, Any]) -> None:
        by = _admin(options["username"])
        mark_not_duplicate(_pair(by, options["pair"]), by=by)
        self.stdout.write(f"Pair {options['pair']} will not be flagged again.")


def _admin(username: str | None) -> User:
    admins = User.objects.filter(is_active=True, role=Role.ADMIN)
    user = admins.filter(username=username).first() if username else admins.order_by("pk").first()
    if user is None:
        raise CommandError(f"No active admin {username!r}." if username else "There is no admin; create one first.")
    return user


def _pair(by: User, pair_id: int) -> DuplicatePair:
    try:
        return get_pair(by, pair_id)
    except Http404 as exc:
        raise CommandError(f"No pair {pair_id}.") from exc


def _person(contact: Any) -> str:
    return f"{contact} <{contact.email}>" if contact.email else str(contact)
