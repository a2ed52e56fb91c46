"""Set-based writing: rows written over those with the same key; rows made in a helper process; a first load checked
once at its end."""

import json
import os
import time
from datetime import timedelta

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from leadflow import bulk
from leadflow.accounts.models import Account, Contact
from leadflow.bulk import (
    database_datetime,
    drawn_aside,
    first_load,
    insert_rows,
    insert_rows_returning_ids,
    one_of,
    upsert_rows,
    worked_out_aside,
)
from leadflow.engagement.models import Event
from leadflow.imports.leadforge import LOADED
from leadflow.leads.models import Lead
from leadflow.scoring.models import LeadScore

from .factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("copy_from", [2, bulk.COPY_FROM], ids=["copied", "one by one"])
def test_upserted_rows_replace_those_with_their_key_and_add_the_rest(monkeypatch, copy_from):
    monkeypatch.setattr(bulk, "COPY_FROM", copy_from)  # PostgreSQL COPies big batches
    kept, new = LeadFactory(), LeadFactory()
    qualified = timezone.now().replace(microsecond=0)
    LeadScore.objects.create(lead=kept, fit=5, total=5, breakdown=[{"rule": 1}], mql_at=qualified)
    moment = database_datetime(timezone.now())
    fields = ["lead", "fit", "total", "breakdown", "decaying", "computed_at"]
    with transaction.atomic():
        for fit in (10, 20):  # twice in one transaction, as a rescore's batches are
            upsert_rows(
                LeadScore, fields, [(lead.pk, fit, fit, "[]", json.dumps({"7": 1.5}), moment) for lead in (kept, new)]
            )
    written = {score.lead_id: score for score in LeadScore.objects.all()}
    assert {lead: (score.fit, score.breakdown, score.decaying) for lead, score in written.items()} == {
        kept.pk: (20, [], {"7": 1.5}),
        new.pk: (20, [], {"7": 1.5}),
    }
    assert (written[kept.pk].mql_at, written[new.pk].mql_at) == (qualified, None)  # columns not written keep theirs


def test_inserted_rows_come_back_as_their_ids_in_order(monkeypatch):
    leads = [LeadFactory() for _ in range(5)]
    moment = database_datetime(timezone.now())
    fields = ["lead", "fit", "total", "breakdown", "decaying", "computed_at"]
    rows = [(lead.pk, place, place, "[]", "{}", moment) for place, lead in enumerate(reversed(leads))]
    monkeypatch.setattr(bulk, "ROWS_PER_INSERT", 2)  # three statements
    ids = bulk.insert_rows_returning_ids(LeadScore, fields, rows)
    assert [LeadScore.objects.get(pk=pk).fit for pk in ids] == [0, 1, 2, 3, 4]
    assert [LeadScore.objects.get(pk=pk).lead_id for pk in ids] == [lead.pk for lead in reversed(leads)]


def test_rows_are_picked_by_a_list_of_keys_sent_as_one_value():
    leads = [LeadFactory(external_id=external_id) for external_id in ("a'b", 'say "hi"', "c,{d}")]
    picked = Lead.objects.filter(one_of(Lead, "id", [leads[0].pk, leads[2].pk, 2**40]))
    assert sorted(picked.values_list("pk", flat=True)) == [leads[0].pk, leads[2].pk]
    named = Lead.objects.filter(one_of(Lead, "external_id", ['say "hi"', "c,{d}", "nobody"]))
    assert sorted(named.values_list("pk", flat=True)) == [leads[1].pk, leads[2].pk]
    assert not Lead.objects.filter(one_of(Lead, "id", [])).exists()
    _, params = Lead.objects.filter(one_of(Lead, "id", range(40_000))).query.sql_with_params()
    assert len(params) == 1  # past SQLite's limit of bound values, were they one each


def test_updated_rows_take_their_values_many_to_a_statement_and_no_value_is_cut(monkeypatch):
    accounts = Account.objects.bulk_create([Account(name=f"Company {n}", domain=f"c{n}.example") for n in range(5)])
    moment = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(bulk, "ROWS_PER_INSERT", 2)  # three statements on PostgreSQL
    rows = [  # the first row's values are empty: their types come from the columns all the same
        (None, "GB" if place else "", connection.ops.adapt_json_value({"place": place}, None), None,
         database_datetime(moment + timedelta(days=place)), account.pk)
        for place, account in enumerate(accounts)
    ]  # fmt: skip
    bulk.update_rows(Account, ["domain", "country", "attributes", "owner", "updated_at"], rows)
    written = Account.objects.order_by("pk").values_list("domain", "country", "attributes", "owner", "updated_at")
    assert list(written) == [
        (None, "GB" if place else "", {"place": place}, None, moment + timedelta(days=place)) for place in range(5)
    ]
    if connection.vendor == "postgresql":  # SQLite keeps any length
        with pytest.raises(DataError), transaction.atomic():  # too long for the column: refused, not cut to fit
            bulk.update_rows(Account, ["country"], [("GBR", accounts[0].pk)])


def keys_and_indexes(models) -> set[tuple[str, str]]:
    """The foreign keys (PostgreSQL) and indexes of the models' tables, by name with their definitions."""
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) "
                "UNION SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = ANY(%s::regclass[])",
                [tables, tables],
            )
        else:
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({marks})", tables
            )
        return set(cursor.fetchall())


def test_a_first_load_puts_back_every_key_and_index_it_set_aside():
    before = keys_and_indexes(LOADED)
    with first_load(LOADED):
        during = keys_and_indexes(LOADED)
    names = {name for name, _ in during}
    assert "engagement__lead_id_9331d4_idx" not in names  # a plain index
    assert {"engagement_event_pkey", "sqlite_autoindex_engagement_event_1"} & names  # the key, or its unique index
    if connection.vendor == "postgresql":
        assert "engagement_event_lead_id_9e916fc4_fk_leads_lead_id" not in names  # a key between two loaded tables
    assert during < before
    assert keys_and_indexes(LOADED) == before


def key_checks_are_on() -> bool:
    """Whether the connection checks foreign keys row by row (always on PostgreSQL; a pragma on SQLite)."""
    if connection.vendor != "sqlite":
        return True
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        return bool(cursor.fetchone()[0])


def sqlite_settings() -> list[int]:
    """The SQLite connection settings a first load changes for a while (none on PostgreSQL)."""
    if connection.vendor != "sqlite":
        return []
    settings = []
    with connection.cursor() as cursor:
        for name in ("temp_store", "threads", "cache_size"):
            cursor.execute(f"PRAGMA {name}")
            settings.append(cursor.fetchone()[0])
    return settings


@pytest.mark.django_db(transaction=True)  # the load opens its own transaction, as an import does
def test_a_first_load_refuses_a_row_whose_key_points_nowhere():
    before, settings = keys_and_indexes([Account, Contact]), sqlite_settings()
    fields = ["first_name", "last_name", "phone", "job_title", "seniority", "role_function", "account_id"]
    with pytest.raises(IntegrityError, match="account_id"), first_load([Account, Contact]):
        assert key_checks_are_on() == (connection.vendor != "sqlite")  # SQLite checks every key once, at the end
        insert_rows(Account, ["name", "domain"], [("Acme", "acme.example")])
        insert_rows(Contact, fields, [("Ann", "Lee", "", "", "", "", 987654)])
    assert not Account.objects.exists() and not Contact.objects.exists()
    assert keys_and_indexes([Account, Contact]) == before
    assert key_checks_are_on() and sqlite_settings() == settings


@pytest.mark.django_db(transaction=True)
def test_a_first_load_keeps_rows_whose_keys_hold_and_rolls_back_a_dry_run():
    settings = sqlite_settings()
    for rollback, kept in ((True, 0), (False, 1)):
        with first_load([Account, Contact], rollback=rollback):
            account = insert_rows_returning_ids(Account, ["name", "domain"], [("Acme", "acme.example")])[0]
            insert_rows(Contact, ["first_name", "last_name", "account_id"], [("Ann", "Lee", account)])
        assert Contact.objects.filter(account__name="Acme").count() == kept
        assert key_checks_are_on() and sqlite_settings() == settings


def test_a_first_load_inside_a_transaction_checks_keys_row_by_row():
    with first_load([Account, Contact]):
        assert key_checks_are_on()  # SQLite cannot turn them off inside a transaction


def test_a_table_holding_rows_keeps_its_keys_and_indexes_through_a_first_load():
    LeadFactory()
    before = keys_and_indexes([Contact, Lead, Event])
    with first_load([Contact, Lead, Event]):
        during = keys_and_indexes([Contact, Lead, Event])
    lead_and_contact = {(name, definition) for name, definition in before if "engagement" not in name}
    assert lead_and_contact <= during < before  # the contact and lead tables hold rows; only the events' indexes went
    assert keys_and_indexes([Contact, Lead, Event]) == before


# --- rows made in a helper process ----------------------------------------------------------------------------------


def _no_child_left() -> bool:
    """Whether this process has no child process, running or waiting to be reaped."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_rows_made_aside_come_in_order_with_the_news_after_the_rows_before_it(monkeypatch):
    monkeypatch.setattr(bulk, "ASIDE", 3)
    made: list[int] = []  # what the helper changes in its own memory stays there
    seen: list[tuple] = []

    def rows():
        for number in range(7):
            made.append(number)
            yield (number, f"row {number}", {"n": number})

    taken: list[tuple] = []
    with drawn_aside(
        rows, news=lambda final: (final, list(made)), apply=lambda told: seen.append((len(taken), told))
    ) as rows_made:
        taken.extend(rows_made)
    assert taken == [(number, f"row {number}", {"n": number}) for number in range(7)]
    assert seen == [(3, (False, [0, 1, 2])), (6, (False, [0, 1, 2, 3, 4, 5])), (7, (False, list(range(7)))),
                    (7, (True, list(range(7))))]  # fmt: skip
    assert made == [] and _no_child_left()


def test_an_error_in_the_helper_is_raised_where_its_rows_are_taken(monkeypatch):
    monkeypatch.setattr(bulk, "ASIDE", 2)

    def failing():
        yield (1,)
        yield (2,)
        raise ValueError("row 3 is broken")

    taken = []
    with pytest.raises(ValueError, match="row 3 is broken"), drawn_aside(failing) as rows:
        taken.extend(rows)
    assert taken == [(1,), (2,)] and _no_child_left()

    def unpicklable():
        raise type("Local", (Exception,), {})("made inside a function")  # its class cannot be found by name
        yield

    with pytest.raises(RuntimeError, match="made inside a function"), drawn_aside(unpicklable) as rows:
        list(rows)


def test_the_helper_may_not_use_the_database():
    def querying():
        yield (Account.objects.count(),)

    with pytest.raises(RuntimeError, match="may not use the database"), drawn_aside(querying) as rows:
        list(rows)
    assert Account.objects.count() == 0  # and this process's connection still works


def test_a_writer_that_stops_early_stops_the_helper(monkeypatch):
    monkeypatch.setattr(bulk, "ASIDE", 10)
    with drawn_aside(lambda: ((number,) for number in range(10**9))) as rows:  # would run for hours
        assert next(rows) == (0,)
    assert _no_child_left()


def _a_child_has_finished(within: float) -> bool:
    """Whether a child process of this one ends within `within` seconds (it is left to be reaped)."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.01)
    return False


def test_a_helper_makes_all_its_rows_before_any_is_taken():
    rows = [(number, "x" * 1000) for number in range(20_000)]  # 20 MB: far more than a pipe holds
    with drawn_aside(lambda: iter(rows)) as made:
        assert _a_child_has_finished(within=30)  # it never waited for this process
        assert list(made) == rows
    assert _no_child_left()


def test_work_done_aside_gives_its_result_while_this_process_goes_on():
    with worked_out_aside(lambda: {"lead_1": "2024-01-02", "lead_2": "2024-03-04"}) as result:
        assert Account.objects.count() == 0  # this process uses the database meanwhile
        assert result() == {"lead_1": "2024-01-02", "lead_2": "2024-03-04"}
    assert _no_child_left()

    def failing():
        raise ValueError("no such file")

    with pytest.raises(ValueError, match="no such file"), worked_out_aside(failing) as result:
        result()
    with worked_out_aside(lambda: time.sleep(3600)):  # left without asking: the helper is stopped
        pass
    assert _no_child_left()
