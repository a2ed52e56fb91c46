"""The match keys stored on each contact: Gmail mailboxes, phones in E.164, names at the company's domain."""

import pytest
from django.test import override_settings

from leadflow.accounts.matching import mailbox_key, name_key, phone_key, plain_name
from leadflow.accounts.services import create_account, create_contact, update_account


@pytest.mark.parametrize(
    "email",
    ["jane.doe@gmail.com", "JaneDoe@gmail.com", "j.a.n.e.doe+newsletter@gmail.com", "janedoe+x@googlemail.com",
     " Jane.Doe@GoogleMail.com "],
)  # fmt: skip
def test_every_spelling_of_one_gmail_inbox_has_one_mailbox_key(email):
    assert mailbox_key(email) == "janedoe@gmail.com"


def test_other_providers_keep_their_dots_and_tags_so_have_no_mailbox_key():
    assert mailbox_key("jane.doe+x@acme.example") is None
    assert mailbox_key("jane.doe@outlook.com") is None
    assert mailbox_key(None) is None


@pytest.mark.parametrize(
    ("phone", "country", "e164"),
    [
        ("(415) 555-0132", "US", "+14155550132"),
        ("415.555.0132", "", "+14155550132"),  # the default region
        ("+1 415 555 0132", "DE", "+14155550132"),  # a country code wins over the country
        ("030 1234567", "DE", "+49301234567"),
        ("+49 (0)30 123 4567", "", "+49301234567"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("01 23 45 67 89", "FR", "+33123456789"),
        ("0033 1 23 45 67 89", "DE", "+33123456789"),
    ],
)
def test_phones_in_any_format_become_e164_read_in_the_country(phone, country, e164):
    assert phone_key(phone, country=country) == e164


def test_a_phone_that_cannot_be_a_number_has_no_key():
    assert phone_key("call me", country="US") is None
    assert phone_key("12", country="US") is None
    assert phone_key("", country="US") is None


@override_settings(DEFAULT_PHONE_REGION="GB")
def test_the_default_region_is_a_setting():
    assert phone_key("020 7946 0018") == "+442079460018"


def test_names_are_compared_without_accents_case_or_punctuation():
    assert plain_name("  Ana  O'Brien-Smith ") == "ana obriensmith"
    assert plain_name("Jürgen Weiß") == plain_name("Juergen Weiss") == plain_name("JURGEN WEISS")
    assert name_key("Zoë", "O'Brien", "acme.example") == name_key("ZOE", "obrien", "acme.example")
    assert name_key("Zoë", "", "acme.example") is None
    assert name_key("Zoë", "O'Brien", None) is None


@pytest.mark.django_db
def test_a_contact_written_through_the_service_stores_its_keys():
    account = create_account(name="Acme", domain="acme.example", country="DE")
    contact = create_contact(first_name="Jürgen", last_name="Weiß", email="J.Weiss+crm@gmail.com", phone="030 1234567",
                             account=account)  # fmt: skip
    assert (contact.mailbox_key, contact.phone_key, contact.name_key) == (
        "jweiss@gmail.com",
        "+49301234567",
        "jurgen weiss@acme.example",
    )


@pytest.mark.django_db
def test_the_contacts_own_country_reads_its_phone_before_the_accounts():
    account = create_account(name="Acme", domain="acme.example", country="DE")
    contact = create_contact(first_name="Ann", phone="020 7946 0018", country="GB", account=account)
    assert contact.phone_key == "+442079460018"


@pytest.mark.django_db
def test_a_work_email_gives_the_name_key_its_domain_but_a_free_mailbox_does_not():
    ann = create_contact(first_name="Ann", last_name="Lee", email="ann@lee-co.example")
    assert ann.name_key == "ann lee@lee-co.example"
    assert create_contact(first_name="Bob", last_name="Lee", email="bob@yahoo.com").name_key is None


@pytest.mark.django_db
def test_an_accounts_new_country_or_domain_rekeys_its_contacts():
    account = create_account(name="Acme", domain="acme.example")
    contact = create_contact(first_name="Ann", last_name="Lee", phone="030 1234567", account=account)
    assert contact.phone_key is None  # no US number starts with 0
    update_account(account, country="DE", domain="acme.de")
    contact.refresh_from_db()
    assert (contact.phone_key, contact.name_key) == ("+49301234567", "ann lee@acme.de")
