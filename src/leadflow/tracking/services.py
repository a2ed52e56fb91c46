"""Writes for tracking: sites (marketing and admins), beacons from the snippet, and joining a visitor's history to
the person once they say who they are (a form, or a tracked email link)."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leadflow.bulk import database_datetime
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import store_events
from leadflow.errors import InvalidInput, NotAllowed
from leadflow.leads.models import Lead
from leadflow.users.models import User

from .models import Hit, HitKind, Site, Visitor

IDENTITY_PARAM = "lf_id"  # the query parameter that carries a tracked email's reader to a site
IDENTITY_SALT = "leadflow.tracking.identity"
IDENTITY_MAX_AGE = timedelta(days=30)
MAX_EVENTS = 20  # per beacon, as the snippet batches them
LAST_SEEN_STEP = timedelta(minutes=1)
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
DOWNLOAD_EVENT = EventType.CONTENT_DOWNLOAD
SITE_FIELDS = {"name", "allowed_origins", "consent_required", "pricing_paths", "is_active"}


def can_manage_sites(user: User) -> bool:
    """Tracked sites and what their visitors did are marketing's (and the admins')."""
    return user.is_admin or user.is_marketing


def _clean_origins(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput.on("allowed_origins", "List at least one origin, such as https://www.example.com.")
    origins = []
    for line in text.split():
        parts = urlsplit(line.strip().rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise InvalidInput.on("allowed_origins", f"{line.strip()} is not an origin (scheme://host[:port]).")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return "\n".join(dict.fromkeys(origins))


@transaction.atomic
def save_site(site: Site | None, *, by: User, **fields: Any) -> Site:
    """Create or change a tracked site: name, allowed_origins (one a line), consent_required, pricing_paths,
    is_active."""
    if not can_manage_sites(by):
        raise NotAllowed("Only marketing and admins may change tracked sites.")
    unknown = set(fields) - SITE_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    site = site or Site(created_by=by)
    if "name" in fields or site.pk is None:
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput.on("name", "Give the site a name.")
        if Site.objects.filter(name__iexact=name.strip()).exclude(pk=site.pk).exists():
            raise InvalidInput.on("name", "Another site has this name.")
        site.name = name.strip()[:200]
    if "allowed_origins" in fields or site.pk is None:
        site.allowed_origins = _clean_origins(fields.get("allowed_origins"))
    for flag in ("consent_required", "is_active"):
        if flag in fields:
            if not isinstance(fields[flag], bool):
                raise InvalidInput.on(flag, "Must be true or false.")
            setattr(site, flag, fields[flag])
    if "pricing_paths" in fields:
        paths = [part.strip() for part in str(fields["pricing_paths"] or "").split(",") if part.strip()]
        if any(not path.startswith("/") for path in paths):
            raise InvalidInput.on("pricing_paths", "Each path starts with /.")
        site.pricing_paths = ", ".join(paths)[:500]
    site.save()
    return site


# --- identity -----------------------------------------------------------------------------------------------------


def identity_token(lead: Lead) -> str:
    """A signed, expiring token naming the lead, for links that carry a reader to a tracked site."""
    return signing.TimestampSigner(salt=IDENTITY_SALT, sep=".").sign(str(lead.pk))


def read_identity(token: str) -> int | None:
    """The lead id a token names; None when it is forged or expired."""
    try:
        value = signing.TimestampSigner(salt=IDENTITY_SALT, sep=".").unsign(token, max_age=IDENTITY_MAX_AGE)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def site_for_origin(origin: str) -> Site | None:
    """The active site that lists this origin, if any."""
    origin = origin.rstrip("/").lower()
    for site in Site.objects.filter(is_active=True):
        if origin in site.origins:
            return site
    return None


def carry_identity(sender: object, *, delivery: Any, target: str, **kwargs: Any) -> str | None:
    """Receiver of nurture's `link_followed`: a link to a tracked site carries the reader's identity token, so the
    snippet there joins the visit to them; links elsewhere go out as they were."""
    parts = urlsplit(target)
    if site_for_origin(f"{parts.scheme}://{parts.netloc}") is None:
        return None
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != IDENTITY_PARAM]
    query.append((IDENTITY_PARAM, identity_token(delivery.lead)))
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- beacons ------------------------------------------------------------------------------------------------------


def _text(item: dict, key: str, field: str, limit: int, *, required: bool = False) -> str:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput.on(field, "Required.")
        return ""
    if not isinstance(value, str):
        raise InvalidInput.on(field, "Must be a text.")
    if len(value) > limit:
        raise InvalidInput.on(field, f"At most {limit} characters.")
    return value


def _moment(value: Any, field: str, now: datetime) -> datetime:
    """The browser's clock (ms since the epoch) taken as is within the last day, else the server's."""
    if value is None:
        return now
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidInput.on(field, "Must be milliseconds since 1970.")
    try:
        at = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return now
    return at if now - timedelta(days=1) <= at <= now else now


def _hit(item: Any, index: int, now: datetime) -> Hit:
    where = f"events[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput.on(where, "Must be an object.")
    kind = _text(item, "k", f"{where}.k", 20, required=True)
    if kind not in HitKind.values:
        raise InvalidInput.on(f"{where}.k", f"Must be one of {', '.join(HitKind.values)}.")
    url = _text(item, "u", f"{where}.u", 2000, required=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput.on(f"{where}.u", "Must be an http(s) address.")
    properties = item.get("p") or {}
    if not isinstance(properties, dict) or len(properties) > 20:
        raise InvalidInput.on(f"{where}.p", "Must be an object of at most 20 properties.")
    if any(not isinstance(value, str | int | float | bool) or len(str(value)) > 200 for value in properties.values()):
        raise InvalidInput.on(f"{where}.p", "Each property is a text, number or boolean of at most 200 characters.")
    referrer = _text(item, "r", f"{where}.r", 2000)
    utm = {key: value[:200] for key, value in parse_qsl(parts.query) if key in UTM_KEYS}
    referrer_host = urlsplit(referrer).hostname or ""
    return Hit(
        uid=_text(item, "id", f"{where}.id", 64, required=True),
        kind=kind,
        name=_text(item, "n", f"{where}.n", 100, required=kind == HitKind.CUSTOM),
        url=url,
        path=(parts.path or "/")[:500],
        title=_text(item, "ti", f"{where}.ti", 300),
        referrer=referrer,
        source=utm.get("utm_source") or (referrer_host if referrer_host != parts.hostname else ""),
        utm=utm,
        properties={str(key)[:50]: value for key, value in properties.items()},
        occurred_at=_moment(item.get("at"), f"{where}.at", now),
    )


def read_beacon(payload: Any, *, at: datetime) -> tuple[str, list[Hit], int | None]:
    """A beacon's visitor id, its hits (not saved) and the lead its identity token names; InvalidInput naming the
    field for anything else, a forged token included."""
    if not isinstance(payload, dict):
        raise InvalidInput.on("body", "Must be a JSON object.")
    uid = _text(payload, "v", "v", 64, required=True)
    if len(uid) < 8 or not all(char.isalnum() or char == "-" for char in uid):
        raise InvalidInput.on("v", "Must be the snippet's visitor id.")
    items = payload.get("e")
    if not isinstance(items, list) or not items:
        raise InvalidInput.on("e", "Must be a list of events.")
    if len(items) > MAX_EVENTS:
        raise InvalidInput.on("e", f"At most {MAX_EVENTS} events a beacon.")
    hits = [_hit(item, index, at) for index, item in enumerate(items)]
    lead_id = None
    token = _text(payload, "t", "t", 200)
    if token:
        lead_id = read_identity(token)
        if lead_id is None:
            raise InvalidInput.on("t", "This identity token is forged or expired.")
    return uid, hits, lead_id


def _visitor(site: Site, uid: str, at: datetime) -> Visitor:
    """The site's visitor with this cookie id, created on its first beacon; its last sighting moved to `at` once
    that is a minute or more later (the site's page shows it to the minute), not on every beacon of a visit."""
    visitor = Visitor.objects.filter(site=site, uid=uid).first()
    if visitor is not None:
        if at - visitor.last_seen >= LAST_SEEN_STEP:
            Visitor.objects.filter(pk=visitor.pk).update(last_seen=at)
        return visitor
    try:
        with transaction.atomic():
            return Visitor.objects.create(site=site, uid=uid, first_seen=at, last_seen=at)
    except IntegrityError:  # a beacon of the same visitor created it a moment ago
        return Visitor.objects.get(site=site, uid=uid)


HIT_COLUMNS = ("visitor", "uid", "kind", "name", "url", "path", "title", "referrer", "source", "utm", "properties",
               "occurred_at")  # fmt: skip


def _insert_new(hits: list[Hit]) -> set[str]:
    """INSERT the hits in one statement, skipping those stored before (a re-sent beacon); the ids of the new ones.
    A beacon is small and hot: Django's bulk_create cost more than the database did."""
    meta = Hit._meta
    table = connection.ops.quote_name(meta.db_table)
    column_of = {field.name: str(field.column) for field in meta.concrete_fields}
    columns = ", ".join(connection.ops.quote_name(column_of[name]) for name in HIT_COLUMNS)
    row = f"({', '.join(['%s'] * len(HIT_COLUMNS))})"
    values = []
    for hit in hits:
        values += [
            hit.visitor_id, hit.uid, hit.kind, hit.name, hit.url, hit.path, hit.title, hit.referrer, hit.source,
            connection.ops.adapt_json_value(hit.utm, None), connection.ops.adapt_json_value(hit.properties, None),
            database_datetime(hit.occurred_at),
        ]  # fmt: skip
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(hits))} "
        "ON CONFLICT (visitor_id, uid) DO NOTHING RETURNING uid"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return {uid for (uid,) in cursor.fetchall()}


def collect(site: Site, payload: Any, *, at: datetime | None = None) -> int:
    """Store a beacon's events for the site's visitor (a re-sent one adds nothing); a valid identity token joins
    the visitor to that lead first. An identified visitor's events reach the lead's timeline and scoring at once.
    Returns how many events were new. The beacon is read before the write transaction, which on SQLite holds the
    database's one write lock from its start."""
    at = at or timezone.now()
    uid, hits, lead_id = read_beacon(payload, at=at)
    with transaction.atomic():
        return _store_beacon(site, uid, hits, lead_id, at)


def _store_beacon(site: Site, uid: str, hits: list[Hit], lead_id: int | None, at: datetime) -> int:
    visitor = _visitor(site, uid, at)
    for hit in hits:
        hit.visitor = visitor
    new = _insert_new(list({hit.uid: hit for hit in hits}.values()))
    if lead_id is not None:
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is not None and visitor.lead_id != lead.pk:
            identify_visitor(visitor, lead, how="email link", at=at)
            return len(new)
    if visitor.lead_id is not None and new:
        store_events(_events(site, visitor, [hit for hit in hits if hit.uid in new]))
    return len(new)


# --- joining a visitor to a person -------------------------------------------------------------------------------


def _event_type(site: Site, hit: Hit) -> str | None:
    """The engagement event a hit counts as for scoring and intent rules; None for those that count for nothing
    (outbound clicks, custom events of no known type)."""
    if hit.kind == HitKind.PAGE_VIEW:
        prefixes = [part.strip() for part in site.pricing_paths.split(",") if part.strip()]
        return EventType.PRICING_PAGE_VIEW if any(hit.path.startswith(p) for p in prefixes) else EventType.PAGE_VISIT
    if hit.kind == HitKind.DOWNLOAD:
        return DOWNLOAD_EVENT
    if hit.kind == HitKind.CUSTOM and hit.name in EventType.values:
        return hit.name
    return None


def _events(site: Site, visitor: Visitor, hits: Iterable[Hit]) -> list[Event]:
    lead = visitor.lead
    assert lead is not None
    events = []
    for hit in hits:
        kind = _event_type(site, hit)
        if kind is None:
            continue
        properties = {"page": hit.path, "url": hit.url, "site": site.name, **hit.utm}
        if hit.title:
            properties["title"] = hit.title
        if hit.source:
            properties["referrer_source"] = hit.source
        events.append(
            Event(
                type=kind,
                occurred_at=hit.occurred_at,
                lead=lead,
                contact_id=lead.contact_id,
                properties=properties,
                source="tracking",
                external_id=f"trk:{visitor.pk}:{hit.uid}"[:100],
            )
        )
    return events


@transaction.atomic
def identify_visitor(visitor: Visitor, lead: Lead, *, how: str, at: datetime | None = None) -> int:
    """The visitor is this lead (they sent a form, or came from a tracked email): their anonymous history joins the
    lead's timeline and counts for scoring and intent rules, and later visits are theirs directly. Returns how many
    events the lead gained."""
    at = at or timezone.now()
    Visitor.objects.filter(pk=visitor.pk).update(lead=lead, identified_at=at, identified_by=how[:20])
    visitor.lead, visitor.identified_at, visitor.identified_by = lead, at, how[:20]
    site = visitor.site
    stored = set(
        Event.objects.filter(external_id__startswith=f"trk:{visitor.pk}:").values_list("external_id", flat=True)
    )
    hits = [hit for hit in visitor.hits.order_by("occurred_at", "pk") if f"trk:{visitor.pk}:{hit.uid}" not in stored]
    events = _events(site, visitor, hits)
    if events:
        store_events(events)
    return len(events)


def identify_by_cookie(site_key: str, visitor_uid: str, lead: Lead, *, how: str, create: bool = False) -> int:
    """Join the visitor with this cookie id on the site with this key to the lead (a leadflow form posts both);
    nothing happens for a key not known, nor for a visitor not known unless `create` (the caller read the id from
    the snippet on the page, so the visitor exists though its first beacon may not have arrived). Returns how many
    events the lead gained."""
    site = Site.objects.filter(key=site_key, is_active=True).first()
    if site is None or not visitor_uid:
        return 0
    if create:
        visitor: Visitor | None = _visitor(site, visitor_uid[:64], timezone.now())
    else:
        visitor = Visitor.objects.filter(site=site, uid=visitor_uid).first()
    if visitor is None or visitor.lead_id == lead.pk:
        return 0
    return identify_visitor(visitor, lead, how=how)
