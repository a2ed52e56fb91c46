"""Rendering nurture emails: merge fields in a small, safe template language, tracking links, the plain-text part,
and the headers for one-click unsubscribe.

Templates use Django's syntax restricted to variables, filters and the tags in SAFE_TAGS, rendered with autoescape
from plain dicts (no model methods reachable); a missing field renders empty, or as its `|default:"…"`.
"""

import html
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signing import BadSignature, Signer, b64_encode
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes

from leadflow.accounts.models import Contact
from leadflow.errors import InvalidInput
from leadflow.leads.models import Lead, LeadSource
from leadflow.users.models import User

SAFE_TAGS = {"if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "comment", "endcomment"}
ENGINE = Engine(autoescape=True, string_if_invalid="", libraries={})
TAG = re.compile(r"{%-?\s*(\w+)")
TAGS = re.compile(r"<[^>]*>")  # our own rendered HTML: a regex drops its tags far faster than an HTML parser
LINK = re.compile(r"""href=(["'])(https?://[^"']+)\1""", re.IGNORECASE)
ANCHOR = re.compile(r"""<a\s[^>]*href=(["'])([^"']+)\1[^>]*>(.*?)</a>""", re.IGNORECASE | re.DOTALL)
LINE_END = re.compile(r"<br\s*/?>|</p>|</div>|</li>|</h\d>", re.IGNORECASE)
BLANK_RUN = re.compile(r"\n{3,}")
OPEN_SALT, CLICK_SALT, UNSUBSCRIBE_SALT = "nurture.open", "nurture.click", "nurture.unsubscribe"


@lru_cache(maxsize=256)
def _compiled(text: str) -> Template:
    """A template compiled once per worker (a batch sends the same few templates thousands of times)."""
    return ENGINE.from_string(text)


def check_template(text: str, field: str) -> str:
    """The template text if it compiles and uses only safe tags, else an error naming the field."""
    for tag in TAG.findall(text):
        if tag not in SAFE_TAGS:
            raise InvalidInput.on(field, f"The tag {{% {tag} %}} is not allowed in emails.")
    try:
        ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput.on(field, f"Template error: {exc}.") from None
    return text


SOURCE_LABELS = dict(LeadSource.choices)

# What a template may say about a lead, as the lead's columns: a batch of emails reads just these, in one query.
MERGE_COLUMNS = (
    "company_name", "source", "contact__id", "contact__first_name", "contact__last_name", "contact__email",
    "contact__job_title", "contact__external_id", "contact__account__name", "contact__account__industry",
    "owner__first_name", "owner__last_name", "owner__email", "owner__username",
)  # fmt: skip


def merge_fields(lead: Lead) -> dict[str, Any]:
    """The lead's MERGE_COLUMNS read through its relations (None past a missing account or owner), as a batch reads
    them with `values_list`."""
    fields = {}
    for column in MERGE_COLUMNS:
        value: Any = lead
        for name in column.split("__"):
            value = getattr(value, name) if value is not None else None
        fields[column] = value
    return fields


def merge_context(fields: dict[str, Any], *, unsubscribe_url: str) -> dict[str, Any]:
    """What a template may say about the lead (`fields`: its MERGE_COLUMNS): its contact, account, owner and the
    unsubscribe link."""
    first, last, email = fields["contact__first_name"], fields["contact__last_name"], fields["contact__email"]
    has_account, has_owner = fields["contact__account__name"] is not None, fields["owner__username"] is not None
    owner_first, owner_last = fields["owner__first_name"] or "", fields["owner__last_name"] or ""
    source = fields["source"]
    return {
        "contact": {
            "first_name": first, "last_name": last, "email": email or "", "job_title": fields["contact__job_title"],
            "name": Contact.name_of(first, last, email, fields["contact__external_id"], fields["contact__id"]),
        },
        "account": {
            "name": fields["contact__account__name"] if has_account else fields["company_name"],
            "industry": fields["contact__account__industry"] if has_account else "",
        },
        "owner": {
            "first_name": owner_first, "last_name": owner_last, "email": fields["owner__email"] or "",
            "name": User.name_of(owner_first, owner_last, fields["owner__username"]) if has_owner else "",
        },
        "lead": {"company_name": fields["company_name"], "source": SOURCE_LABELS.get(source, source)},
        "unsubscribe_url": unsubscribe_url,
    }  # fmt: skip


@lru_cache(maxsize=8)
def _route(name: str) -> str:
    """The path of a tracking endpoint with TOKEN where its token goes (reversed once, not once per email)."""
    return reverse(name, args=["TOKEN"])


class _Signer(Signer):
    """Django's Signer (same tokens, same checks) with its HMAC key derived once instead of per signature: a worker
    signs three links for every email it sends."""

    def __init__(self, *, salt: str) -> None:
        super().__init__(salt=salt)
        self._keyed = salted_hmac(salt + "signer", b"", self.key, algorithm=self.algorithm)

    def signature(self, value: str | bytes, key: str | bytes | None = None) -> str:
        if key is not None and key != self.key:  # an old key (SECRET_KEY_FALLBACKS) checking an old token
            return super().signature(value, key)
        keyed = self._keyed.copy()
        keyed.update(force_bytes(value))
        return b64_encode(keyed.digest()).decode()


@lru_cache(maxsize=8)
def _signer(salt: str) -> Signer:
    return _Signer(salt=salt)


def _link(name: str, salt: str, value: str) -> str:
    return settings.PUBLIC_URL + _route(name).replace("TOKEN", _signer(salt).sign(value))


def tracking_urls(delivery_id: int) -> dict[str, str]:
    """The delivery's open pixel and its unsubscribe page (which also takes the one-click POST)."""
    return {
        "open": _link("nurture:open", OPEN_SALT, str(delivery_id)),
        "unsubscribe": _link("nurture:unsubscribe", UNSUBSCRIBE_SALT, str(delivery_id)),
    }


def click_url(delivery_id: int, target: str) -> str:
    encoded = urlsafe_b64encode(target.encode()).decode().rstrip("=")
    return _link("nurture:click", CLICK_SALT, f"{delivery_id}.{encoded}")


def read_token(token: str, salt: str) -> str | None:
    """What a signed tracking token carries; None when it was forged or mangled."""
    try:
        return _signer(salt).unsign(token)
    except BadSignature:
        return None


def read_click(token: str) -> tuple[str, str] | None:
    """The delivery id and the address a tracked link carries; None when it was forged or mangled."""
    value = read_token(token, CLICK_SALT)
    if value is None or "." not in value:
        return None
    delivery_id, encoded = value.split(".", 1)
    try:
        return delivery_id, urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    headers: dict[str, str]


def plain_text(body: str) -> str:
    """The plain-text part: links as 'text (address)', tags dropped, entities decoded, blank runs collapsed."""
    text = html.unescape(TAGS.sub("", LINE_END.sub("\n", ANCHOR.sub(r"\3 (\2)", body))))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return BLANK_RUN.sub("\n\n", "\n".join(lines)).strip() + "\n"


def _tracked(match: re.Match[str], delivery_id: int, unsubscribe: str) -> str:
    target = html.unescape(match.group(2))
    if target == unsubscribe:
        return match.group(0)  # unsubscribing is not a click on the email's content
    return f'href="{html.escape(click_url(delivery_id, target))}"'


def render_email(subject: str, body: str, fields: dict[str, Any], *, delivery_id: int | None) -> RenderedEmail:
    """The email for a lead (`fields`: its MERGE_COLUMNS, see merge_fields): merge fields filled, links tracked and
    an open pixel added when it is a real delivery (`delivery_id`; a preview has none), the plain-text part, and the
    List-Unsubscribe headers."""
    urls = tracking_urls(delivery_id) if delivery_id is not None else {"unsubscribe": "#unsubscribe", "open": ""}
    values = merge_context(fields, unsubscribe_url=urls["unsubscribe"])  # the tags allowed set no top-level names
    subject_text = " ".join(_compiled(subject).render(Context(values, autoescape=False)).split())
    body_html: str = _compiled(body).render(Context(values, autoescape=True))
    headers = {}
    if delivery_id is not None:
        body_html = LINK.sub(lambda match: _tracked(match, delivery_id, urls["unsubscribe"]), body_html)
        body_html += f'<img src="{urls["open"]}" width="1" height="1" alt="">'
        headers = {
            "List-Unsubscribe": f"<{urls['unsubscribe']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    return RenderedEmail(subject_text, body_html, plain_text(body_html), headers)
