"""An admin reviews a likely duplicate in the browser, merges it choosing values from both, and sees the merge on
the survivor's timeline."""

import pytest
from playwright.sync_api import expect

from leadflow.accounts.models import Contact, DuplicatePair
from leadflow.accounts.services import create_account, create_contact
from leadflow.leads.services import create_lead

from .conftest import log_in

# The browser talks to a live server in another thread, so the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_merges_a_pair_choosing_fields_from_both(page, admin, rep):
    acme = create_account(name="Northwind", domain="northwind.example", country="US")
    lead = create_lead(by=rep, email="ana@northwind.example", first_name="Ana", last_name="Lima", job_title="Buyer",
                       account=acme)  # fmt: skip
    other = create_contact(first_name="Ána", last_name="Lima", email="a.lima@northwind.example",
                           phone="(415) 555-0132", job_title="Head of Purchasing", account=acme)  # fmt: skip
    pair = DuplicatePair.objects.get()
    log_in(page, admin.username)

    page.get_by_role("link", name="Duplicates").click()
    row = page.locator(f"#pair-{pair.pk}")
    expect(row).to_contain_text("same name at the same company")
    expect(row).to_contain_text("a.lima@northwind.example")
    row.get_by_role("link", name="Review and merge").click()

    expect(page.get_by_role("heading", name="Merge Ana Lima and Ána Lima")).to_be_visible()
    page.locator("input[name=survivor][value=first]").check()
    page.locator("input[name=keep_job_title][value=second]").check()  # the other record's job title
    expect(page.locator("input[name=keep_phone][value=second]")).to_be_checked()  # a blank filled by default
    page.locator("input[name=keep_email][value=first]").check()
    page.get_by_role("button", name="Merge", exact=True).click()

    expect(page.locator(".messages")).to_contain_text("Merged Ána Lima into Ana Lima.")
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text("Merged Ána Lima <a.lima@northwind.example>")
    expect(history).to_contain_text("job title “Head of Purchasing”")
    expect(history).to_contain_text(str(admin))

    page.goto(f"/leads/{lead.pk}/")
    expect(page.locator(".timeline")).to_contain_text("Merged Ána Lima")
    survivor = Contact.objects.get()
    assert (survivor.pk, survivor.email, survivor.job_title, survivor.phone) == (
        lead.contact_id, "ana@northwind.example", "Head of Purchasing", "(415) 555-0132"
    )  # fmt: skip
    assert not Contact.objects.filter(pk=other.pk).exists()
