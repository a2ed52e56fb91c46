"""A nurture email's message, written directly, reads back as Django's own message of the same email."""

import email
import email.policy
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.utils import parsedate_to_datetime

import pytest
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.mail.message import SafeMIMEMultipart
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leadflow.nurture.mime import NurtureEmail, WrittenMessage

HEADERS = {
    "List-Unsubscribe": "<https://crm.example/e/u/123:QmDtMtLUz0CnPgpnPW7NQfP9wr32ASJsW93YK0F8gTk/>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "Message-ID": "<nurture-123@leadflow>",
    "Date": "Mon, 07 Dec 2026 03:18:05 -0000",  # both messages the same moment
}
# Text as templates render it: any character but the surrogates UTF-8 cannot carry, lines of any length.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=1500)


def email_of(kind, subject, text, html, sender="Mia <mia@crm.example>", to="zoe@company.example"):
    message = kind(subject, text, sender, [to], headers=HEADERS)
    message.attach_alternative(html, "text/html")
    return message


def read_back(data: bytes):
    """What a mail client sees: each header decoded, each part's type, charset, transfer encoding and text."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    # Stripped: the generator moves a long value with no space to fold at onto a line of its own, which a client
    # reads back with the space before it.
    headers = [(name, str(value).strip()) for name, value in message.items() if name != "Content-Type"]
    parts = [
        (part.get_content_type(), part.get_content_charset(), part["Content-Transfer-Encoding"], part.get_content())
        for part in message.iter_parts()
    ]
    return message.get_content_type(), headers, parts


@settings(max_examples=300, deadline=None)
@given(subject=TEXT, text=TEXT, html=TEXT)
@example(subject="Ça va? " * 30, text="é" * 600, html=f"<p>{'x' * 1200}</p>")  # lines over 998 bytes: encoded
@example(subject="The guide", text="Hi\r\nthere\rand\n", html="")
def test_a_written_message_reads_back_as_djangos_own(subject, text, html):
    ours, djangos = email_of(NurtureEmail, subject, text, html), email_of(EmailMultiAlternatives, subject, text, html)
    try:
        expected = djangos.message()
    except (BadHeaderError, HeaderParseError) as refused:  # a line break in the subject: refused both ways
        with pytest.raises(type(refused)):
            ours.message()
        return
    written = ours.message()
    assert isinstance(written, WrittenMessage)
    for linesep in ("\n", "\r\n"):
        data = written.as_bytes(linesep=linesep)
        assert read_back(data) == read_back(expected.as_bytes(linesep=linesep))
        assert all(len(line) <= 998 for line in data.split(linesep.encode()))  # RFC 5322's limit


@settings(max_examples=500, deadline=None)
@given(subject=st.one_of(st.text(st.characters(codec="ascii"), max_size=90), TEXT))
@example(subject="x" * 76)
@example(subject="x" * 77)
@example(subject=" The  guide, spaced\tand tabbed ")
@example(subject="0\x0b0:")  # a line break to Python, not to Django's check
def test_the_subject_header_is_the_one_django_sets(subject):
    try:
        expected = email_of(EmailMultiAlternatives, subject, "Hi", "<p>Hi</p>").message()["Subject"]
    except (BadHeaderError, HeaderParseError) as refused:
        with pytest.raises(type(refused)):
            email_of(NurtureEmail, subject, "Hi", "<p>Hi</p>").message()
        return
    assert email_of(NurtureEmail, subject, "Hi", "<p>Hi</p>").message()["Subject"] == expected


def test_a_message_made_without_a_date_is_dated_now():
    message = NurtureEmail("Hello", "Hi", "mia@crm.example", ["zoe@company.example"])
    message.attach_alternative("<p>Hi</p>", "text/html")
    before = datetime.now(UTC).replace(microsecond=0)
    dated = parsedate_to_datetime(message.message()["Date"])
    dated = dated.replace(tzinfo=dated.tzinfo or UTC)  # "-0000": in UTC, not local time
    assert before <= dated <= datetime.now(UTC)


def test_the_headers_and_parts_are_djangos_in_the_same_order():
    content = {"subject": "Zoë, ça va?", "text": "Hi Zoë\n", "html": "<p>Hi Zoë</p>", "sender": "Léa <lea@crm.example>"}
    written = email_of(NurtureEmail, **content).message()
    expected = email_of(EmailMultiAlternatives, **content).message()
    assert written.items()[1:] == expected.items()[1:]  # all but the Content-Type, whose boundary is random
    assert written.get_content_type() == "multipart/alternative"
    for part, twin in zip(written.get_payload(), expected.get_payload(), strict=True):
        assert part.items() == twin.items()
        assert part.get_payload(decode=True) == twin.get_payload(decode=True)
    assert written.as_string(linesep="\r\n").encode("ascii", "surrogateescape") == written.as_bytes(linesep="\r\n")


def test_a_message_changed_after_it_was_made_is_written_the_general_way():
    written = email_of(NurtureEmail, "Hello", "Hi", "<p>Hi</p>").message()
    written.preamble = "This is a multi-part message in MIME format."
    data = written.as_bytes(linesep="\r\n")
    assert data == SafeMIMEMultipart.as_bytes(written, linesep="\r\n")
    assert b"This is a multi-part message in MIME format.\r\n--" in data


def test_another_shape_of_email_is_djangos():
    message = email_of(NurtureEmail, "Hello", "Hi", "<p>Hi</p>")
    message.attach("guide.txt", "The guide", "text/plain")
    assert type(message.message()) is SafeMIMEMultipart
