"""A nurture email's MIME message, built for the one shape it has (a text body and an HTML alternative, in UTF-8) and
written to bytes without the standard library's general generator.

Django's `message()` and the `as_bytes()` its SMTP backend calls took 0.8-1.0 ms an email, six times its rendering:
most of it in folding every header again through `email.header.Header`. Here the headers go through Django's own
checks as they are set (newlines refused, non-ASCII encoded), so they are written as they are; a message changed
since into something this writer does not know is written the general way.
"""

import random
import re
import sys
import time
from email.message import Message
from email.utils import formatdate, make_msgid
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, SafeMIMEMultipart, utf8_charset_qp
from django.core.mail.utils import DNS_NAME

SUBJECT_KEPT = 76  # Header.encode() leaves a printable ASCII value this long as it is (tested)
FOLD_AT = 78  # a header line longer than this is folded after its parameters' semicolons, as the generator does
LINE_END = re.compile(r"\r\n|\r|\n")
CONTINUED = re.compile(r"\n(?![ \t])")  # a line break inside a header value that is not a folded continuation


class NurtureEmail(EmailMultiAlternatives):
    """An email with a text body and one HTML alternative, whose `message()` is a WrittenMessage. Any other shape
    (attachments, copies, another alternative or charset) is Django's."""

    def message(self) -> Any:
        encoding = self.encoding or settings.DEFAULT_CHARSET
        kinds = [alternative[1] for alternative in self.alternatives]
        if self.attachments or self.cc or self.reply_to or kinds != ["text/html"] or encoding.lower() != "utf-8":
            return super().message()
        text, html = str(self.body), str(self.alternatives[0][0])
        message = WrittenMessage(_boundary(text, html))
        message["Subject"] = str(self.subject)
        message["From"] = self.extra_headers.get("From", self.from_email)
        if self.to:
            message["To"] = self.extra_headers.get("To", ", ".join(str(address) for address in self.to))
        given = {name.lower() for name in self.extra_headers}
        if "date" not in given:
            message["Date"] = _date(int(time.time()), settings.EMAIL_USE_LOCALTIME)
        if "message-id" not in given:
            message["Message-ID"] = make_msgid(domain=DNS_NAME)
        for name, value in self.extra_headers.items():
            if name.lower() not in {"from", "to", "cc", "reply-to"}:
                message[name] = value
        if text:  # as Django: an empty body is left out
            message.attach(_text_part("plain", text))
        message.attach(_text_part("html", html))
        return message


class WrittenMessage(SafeMIMEMultipart):
    """A multipart/alternative message as Django builds it (its headers checked as they are set), written to bytes
    directly while it holds only text parts and ASCII headers."""

    def __init__(self, boundary: str) -> None:
        Message.__init__(self)  # the MIME classes' constructors parse their own headers again: set them here
        self.encoding = "utf-8"
        self["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        self["MIME-Version"] = "1.0"

    def __setitem__(self, name: str, val: Any) -> None:
        """As Django's, but a subject `email.header.Header` would give back as it was (printable ASCII, at most
        SUBJECT_KEPT characters) is set without going through it: 30 us an email."""
        if name == "Subject" and isinstance(val, str) and _kept_as_is(val):
            Message.__setitem__(self, name, val)
        else:
            super().__setitem__(name, val)

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:  # type: ignore[override]
        written = None if unixfrom else self._written(linesep)
        return written if written is not None else super().as_bytes(unixfrom, linesep)

    def as_string(self, unixfrom: bool = False, linesep: str = "\n") -> str:  # type: ignore[override]
        return self.as_bytes(unixfrom, linesep).decode("ascii", "surrogateescape")

    def _written(self, linesep: str) -> bytes | None:
        """The message's bytes as the generator writes them; None for a message this writer does not know."""
        boundary, parts, head = self.get_boundary(), self.get_payload(), _head(self, linesep)
        if head is None or not boundary or not isinstance(parts, list) or {self.preamble, self.epilogue} != {None}:
            return None
        written = [head.encode()]
        for number, part in enumerate(parts):
            payload = part.get_payload() if isinstance(part, Message) and not part.is_multipart() else None
            part_head = _head(part, linesep) if isinstance(payload, str) else None
            if part_head is None or not isinstance(payload, str):
                return None
            written.append(f"{linesep if number else ''}--{boundary}{linesep}{part_head}".encode())
            try:  # the text in its part's charset (an 8bit part's UTF-8 comes back as it was given)
                written.append(linesep.join(LINE_END.split(payload)).encode(part.get_content_charset("ascii")))
            except (UnicodeEncodeError, LookupError):
                return None
        written.append(f"{linesep}--{boundary}--{linesep}".encode())
        return b"".join(written)


def _kept_as_is(subject: str) -> bool:
    return len(subject) <= SUBJECT_KEPT and subject.isascii() and subject.isprintable()


@lru_cache(maxsize=2)
def _date(second: int, localtime: bool) -> str:
    """The Date header of a message made in this second (its emails share it: 9 us an email)."""
    return formatdate(second, localtime=localtime)


def _head(message: Message, linesep: str) -> str | None:
    """The message's header lines and the blank line after them; None if a value is not plain ASCII text."""
    lines = []
    for name, value in message.items():
        if not isinstance(value, str) or not value.isascii() or CONTINUED.search(value):
            return None
        line = f"{name}: {value}"
        if "\n" in value:  # folded already (an encoded value)
            line = line.replace("\n", linesep)
        elif len(line) > FOLD_AT:
            line = line.replace("; ", f";{linesep} ")
        if any(len(part) > RFC5322_EMAIL_LINE_LENGTH_LIMIT for part in line.split(linesep)):
            return None
        lines.append(line + linesep)
    return "".join(lines) + linesep


def _text_part(subtype: str, content: str) -> Message:
    """A UTF-8 text part as Django makes it: 7bit when ASCII, 8bit otherwise, quoted-printable when a line is longer
    than RFC 5322 allows."""
    part = Message()
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["MIME-Version"] = "1.0"
    encoded = content.encode("utf-8", "surrogateescape")
    if len(encoded) > RFC5322_EMAIL_LINE_LENGTH_LIMIT and any(
        len(line.encode(errors="surrogateescape")) > RFC5322_EMAIL_LINE_LENGTH_LIMIT for line in content.splitlines()
    ):
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(utf8_charset_qp.body_encode(content))
    elif content.isascii():
        part["Content-Transfer-Encoding"] = "7bit"
        part.set_payload(content)
    else:
        part["Content-Transfer-Encoding"] = "8bit"
        part.set_payload(encoded.decode("ascii", "surrogateescape"))
    return part


def _boundary(*texts: str) -> str:
    """A boundary as the generator makes one, that none of the texts holds."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="
        if not any(boundary in text for text in texts):
            return boundary
