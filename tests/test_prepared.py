"""Reads whose SQL is compiled once: the same rows as their queryset, with the model's types, for new values on
every run; a value the SQL would not carry as given is refused when the read is first made."""

import pytest
from django.db import DatabaseError, DataError, connection
from django.test.utils import CaptureQueriesContext

from leadflow.accounts.models import Contact
from leadflow.capture.models import Form, FormField
from leadflow.leads.models import Lead
from leadflow.prepared import Prepared, insert, keep_related, send_prepared

from .factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_a_prepared_read_gives_what_its_queryset_gives_for_each_new_value():
    leads = [LeadFactory(company_name=f"Company {n}", budget_amount=n * 1000) for n in range(3)]
    for n, lead in enumerate(leads):
        lead.contact.attributes = {"plan": f"tier {n}", "seats": n}
        lead.contact.save()
    by_contact = Prepared(lambda contact_id: Lead.objects.filter(contact_id=contact_id), contact_id=int)
    contact_by_email = Prepared(lambda email: Contact.objects.filter(email=email), email=str)
    for lead in leads:
        (found,) = by_contact(contact_id=lead.contact_id)
        expected = Lead.objects.get(pk=lead.pk)
        assert (found.pk, found.company_name) == (lead.pk, expected.company_name)
        assert (found.created_at, found.budget_amount) == (expected.created_at, expected.budget_amount)
        (contact,) = contact_by_email(email=lead.contact.email)
        assert (contact.pk, contact.attributes, contact.email_opt_in) == (
            lead.contact_id,
            lead.contact.attributes,
            False,
        )  # dates, decimals, JSON and booleans come back as their types
    assert by_contact(contact_id=10**9) == []


def test_constants_stay_and_named_values_change():
    ContactFactory(email="a@x.example", first_name="Ada")
    ContactFactory(email="b@x.example", first_name="Ada")
    ContactFactory(email="c@x.example", first_name="Bo")
    named = Prepared(lambda email: Contact.objects.filter(first_name="Ada", email=email), email=str)
    assert [c.email for c in named(email="b@x.example")] == ["b@x.example"]
    assert named(email="c@x.example") == []  # Bo is not Ada


def test_a_value_the_sql_would_change_is_refused():
    contains = Prepared(lambda email: Contact.objects.filter(email__contains=email), email=str)
    with pytest.raises(ValueError, match="email"):
        contains(email="x")


def test_kept_related_rows_are_read_without_a_query():
    form = Form.objects.create(name="Kept")
    rows = [FormField(form=form, position=1, label="Email", name="email", target="email")]
    keep_related(form, "fields", rows)
    with CaptureQueriesContext(connection) as queries:
        assert list(form.fields.all()) == rows
    assert len(queries) == 0


def test_an_inserted_row_is_what_save_would_have_written():
    saved, inserted = (
        Contact(first_name="Ada", email=f"{who}@x.example", attributes={"plan": "pro"}) for who in ("saved", "inserted")
    )
    saved.save()
    insert(inserted)
    assert inserted.pk is not None and not inserted._state.adding and inserted._state.db == "default"
    fresh = Contact.objects.get(pk=inserted.pk)
    assert fresh.created_at == inserted.created_at and fresh.updated_at == inserted.updated_at  # auto_now(_add)
    columns = [f.attname for f in Contact._meta.concrete_fields if f.attname not in ("id", "email", "created_at",
                                                                                     "updated_at")]  # fmt: skip
    assert [getattr(fresh, c) for c in columns] == [getattr(Contact.objects.get(pk=saved.pk), c) for c in columns]


def test_an_insert_takes_the_key_of_a_related_row_saved_after_it_was_set():
    contact = Contact(first_name="Bo", email="bo@x.example")
    lead = Lead(contact=contact)
    insert(contact)
    insert(lead)
    assert Lead.objects.get(pk=lead.pk).contact_id == contact.pk


def test_a_row_given_its_key_is_saved_the_usual_way():
    contact = ContactFactory()
    copy = Contact(pk=contact.pk + 1000, first_name="Cy", email="cy@x.example")
    insert(copy)
    assert Contact.objects.filter(pk=contact.pk + 1000, first_name="Cy").exists()


def test_a_statement_run_over_and_over_is_prepared_once_with_its_values_bound_by_the_server():
    contact = ContactFactory(first_name="O'Brien; --")
    sql = "SELECT first_name FROM accounts_contact WHERE id = %s AND first_name = %s"
    for _ in range(3):
        assert send_prepared(sql, [contact.pk, "O'Brien; --"]).rows() == [("O'Brien; --",)]
    assert send_prepared(sql, [contact.pk, "O'Brien"]).rows() == []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT first_name %%'")
            assert cursor.fetchone() == (1,)


def test_a_prepared_statement_that_fails_raises_djangos_database_error():
    with pytest.raises(DatabaseError, match="no_such_column"):
        send_prepared("SELECT no_such_column FROM accounts_contact WHERE id = %s", [1]).rows()


def test_a_sent_statement_that_fails_as_it_runs_raises_when_its_rows_are_read():
    assert send_prepared("SELECT 100 / %s, '50%%'", [4]).rows() == [(25, "50%")]
    if connection.vendor == "postgresql":  # SQLite divides by zero into NULL
        pending = send_prepared("SELECT 100 / %s", [0])  # sent: its error comes back with its rows
        with pytest.raises(DataError, match="division by zero"):
            pending.rows()
