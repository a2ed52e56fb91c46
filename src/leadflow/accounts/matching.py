"""When two contacts are likely the same person: the match keys stored on each contact, and the judgement of a
pair (a score out of 100 and the evidence behind it) that both the capture of a person and the duplicate scan use.

Keys (computed on every write of a contact, stored and indexed):
- `mailbox_key`: a Gmail address without dots and `+tag` in its local part, googlemail.com read as gmail.com — the
  same key is the same inbox, but a different address, so a likely duplicate rather than the same contact;
- `phone_key`: the phone in E.164, read with the contact's country, else its account's, else the
  `DEFAULT_PHONE_REGION` setting;
- `name_key`: the name (accents, case and punctuation dropped) at the company's domain (the account's, else a work
  email's).
A first name and its short forms (Robert, Bob, Bobby) are one name for the judgement, by the hand-curated English
table of the `nicknames` package.
"""

import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import phonenumbers
from django.conf import settings
from nicknames import NickNamer
from rapidfuzz import fuzz

from .models import FREE_MAIL_DOMAINS

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
KEY_NAMES = {"mailbox": "same Gmail mailbox", "phone": "same phone", "name_domain": "same name at the same company"}
# Name closeness (0-100) from which two people who share a block (domain, phone prefix, initial and company) are
# flagged by the scan.
CLOSE_NAMES = 88
# How close a first name and its short form (Bob and Robert) with the same last name count: as a one-letter typo.
SHORT_FORM_CLOSENESS = 95
# A key shared by more contacts than this is a switchboard or a team mailbox, not a person: it flags no one.
CROWDED_KEY = 50
# Pairs whose keys leave no real doubt; they may be merged in bulk.
EXACT_KEYS = frozenset({"mailbox", "name_domain"})


def mailbox_key(email: str | None) -> str | None:
    """The Gmail inbox an address reaches ('J.Doe+news@googlemail.com' → 'jdoe@gmail.com'); None for others."""
    if not email or "@" not in email:
        return None
    local, domain = email.strip().lower().rsplit("@", 1)
    if domain not in GMAIL_DOMAINS:
        return None
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@gmail.com" if local else None


def phone_key(phone: str | None, *, country: str = "") -> str | None:
    """The phone in E.164 ('(415) 555-0132' in the US → '+14155550132'); None when blank or not a valid number there."""
    if not phone or not phone.strip():
        return None
    region = (country or settings.DEFAULT_PHONE_REGION or "US").upper()
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Spellings of one letter without its accent (German: Müller, Mueller, Muller), folded to the bare letter.
FOLDED = (("ß", "ss"), ("æ", "ae"), ("ø", "o"), ("ae", "a"), ("oe", "o"), ("ue", "u"))


def plain_name(text: str) -> str:
    """A name without accents, case or punctuation, single-spaced, transliterations folded ("  Ana  O'Brien-Smith"
    → 'ana obriensmith'; Weiß and Weiss; Müller, Mueller and Muller)."""
    decomposed = unicodedata.normalize("NFKD", (text or "").lower())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    for spelling, letter in FOLDED:
        letters = letters.replace(spelling, letter)
    return " ".join("".join(ch for ch in word if ch.isalnum()) for word in letters.split()).strip()


@cache
def _nicknamer() -> NickNamer:
    return NickNamer()  # reads the package's table once


def short_forms(first_name: str) -> set[str]:
    """The plain first names that are short or long forms of this one ('bob' → {'robert', 'bobby', …})."""
    namer = _nicknamer()
    return namer.nicknames_of(first_name) | namer.canonicals_of(first_name) if first_name else set()


def company_domain(account_domain: str | None, email: str | None) -> str | None:
    """The person's company domain: the account's, else a work email's (a free mailbox says nothing)."""
    if account_domain:
        return account_domain
    domain = email.rsplit("@", 1)[1].lower() if email and "@" in email else None
    return domain if domain and domain not in FREE_MAIL_DOMAINS else None


def name_key(first_name: str, last_name: str, domain: str | None) -> str | None:
    """'first last@domain' in plain letters; None without a first name, a last name or a domain."""
    first, last = plain_name(first_name), plain_name(last_name)
    if not (first and last and domain):
        return None
    return f"{first} {last}@{domain}"


def keys_of(contact: Any) -> dict[str, str | None]:
    """The match keys of a contact (a model instance with its account, current or historical)."""
    account = contact.account
    domain = company_domain(account.domain if account else None, contact.email)
    return {
        "mailbox_key": mailbox_key(contact.email),
        "phone_key": phone_key(contact.phone, country=contact.country or (account.country if account else "")),
        "name_key": name_key(contact.first_name, contact.last_name, domain),
    }


@dataclass(frozen=True)
class Person:
    """What the judgement of a pair reads of one contact."""

    id: int
    first_name: str  # plain_name of each
    last_name: str
    domain: str | None
    mailbox_key: str | None
    phone_key: str | None
    name_key: str | None
    account_id: int | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class Judgement:
    """How likely two contacts are one person: a score out of 100 and why."""

    score: int
    keys: list[str] = field(default_factory=list)
    name_closeness: int = 0
    same_domain: bool = False
    short_form: bool = False  # the first names are one name (Bob, Robert) and the last names equal

    @property
    def evidence(self) -> dict:
        evidence = {"keys": self.keys, "name_closeness": self.name_closeness, "same_domain": self.same_domain}
        return {**evidence, "short_form": True} if self.short_form else evidence


def short_form_of_one_name(a: "Person", b: "Person") -> bool:
    """Whether two people have the same last name and first names that are forms of one name (Bob and Robert)."""
    return bool(
        a.last_name
        and a.last_name == b.last_name
        and a.first_name != b.first_name
        and b.first_name in short_forms(a.first_name)
    )


def name_closeness(a: str, b: str) -> int:
    """How close two plain names are, 0-100, whatever the order of their words."""
    return round(fuzz.token_sort_ratio(a, b)) if a and b else 0


def judge(a: Person, b: Person, *, closeness: int | None = None) -> Judgement | None:
    """The judgement of a pair, or None when nothing but chance links them: a shared key (mailbox, phone, name at
    the company's domain) always counts; otherwise the names must be close (CLOSE_NAMES; a short form of the first
    name with the same last name counts as close) within one company or one block of phone numbers."""
    keys = [
        name
        for name, mine, theirs in (
            ("mailbox", a.mailbox_key, b.mailbox_key),
            ("phone", a.phone_key, b.phone_key),
            ("name_domain", a.name_key, b.name_key),
        )
        if mine and mine == theirs
    ]
    close = name_closeness(a.name, b.name) if closeness is None else closeness
    short_form = short_form_of_one_name(a, b)
    alike = max(close, SHORT_FORM_CLOSENESS) if short_form else close
    same_company = bool(a.domain and a.domain == b.domain) or bool(a.account_id and a.account_id == b.account_id)
    same_line = bool(a.phone_key and b.phone_key and a.phone_key[:-3] == b.phone_key[:-3])
    close_and_near = alike >= CLOSE_NAMES and (same_company or same_line)
    if not keys and not close_and_near:
        return None
    # The strongest piece of evidence sets the score; each further one adds to it.
    parts = sorted(
        [{"mailbox": 95, "phone": 60 + alike // 4, "name_domain": 90}[key] for key in keys]
        + ([round(alike * 0.85)] if close_and_near else []),
        reverse=True,
    )
    score = min(100, parts[0] + 5 * (len(parts) - 1))
    same_domain = bool(a.domain and a.domain == b.domain)
    return Judgement(score=score, keys=keys, name_closeness=close, same_domain=same_domain, short_form=short_form)
