"""Who may see and change what, checked route by route against the policy written in docs/permissions.md.

The tests read the doc's two tables, not the selectors: the policy (resource, verb and role → scope) and the routes
(method and path → resource and verb). For every web URL pattern and every OpenAPI operation it asks each role to
call the route on rows owned by the caller, a teammate, another team and nobody, and checks the answer against the
policy: a row outside the role's scope is a 404 and stays as it was, a refused change is a 403 (the web app may also
answer 404, or send the form back with its message) and changes nothing, a list or an export holds exactly the rows
in scope, and no answer ever shows a row the role may not see.
"""

import importlib
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from leadflow.api.api import api
from leadflow.imports.models import ImportJob
from leadflow.leads.models import Lead
from leadflow.leads.services import record_lifecycle_change
from leadflow.nurture.services import add_step, save_segment, save_sequence, save_template
from leadflow.pipeline.models import Activity, LostReason, Opportunity, Pipeline
from leadflow.pipeline.services import convert_lead, log_activity
from leadflow.qualification.models import AssignmentRule, Handoff, IntentRule
from leadflow.scoring.models import ScoringRule
from leadflow.users.models import Notification, Role
from leadflow.users.services import create_api_token

from ..factories import AccountFactory, ContactFactory, LeadFactory, TeamFactory, UserFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
ROLES = ("admin", "manager", "marketing", "sales")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# Whose rows: the caller's, a teammate's, another team's, and the caller's team's unassigned queue.
OWNERS = ("own", "teammate", "other team", "nobody")
IN_SCOPE = {
    "all": set(OWNERS),
    "team": {"own", "teammate", "nobody"},
    "own+queue": {"own", "nobody"},
    "own": {"own"},
    "—": set(),
}
# The path parameters that name a row with an owner, and the resource whose visibility rules that row.
ROW_PARAMS = {"lead_id": "lead", "opportunity_id": "opportunity", "activity_id": "activity", "handoff_id": "handoff"}
OWNED = {*ROW_PARAMS.values(), "lead merge"}  # resources whose routes act on such rows
NO_ROW = 999_999_999  # an id no row has: valid to the API, a 404 for every role alike
SHARED = {"account", "contact"}  # records every role reads: they name people whose leads a role may not see


def read_tables() -> tuple[dict, dict]:
    """The policy {(resource, verb): {role: scope}} and the routes {(method, path): (resource, verb)} of the doc."""
    policy: dict = {}
    routes: dict = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] not in ("resource", "---"):
            policy[(cells[0], cells[1])] = dict(zip(ROLES, (cell.rstrip("¹²³") for cell in cells[2:]), strict=True))
        elif len(cells) == 4 and cells[0] in METHODS:
            routes[(cells[0], cells[1].strip("`"))] = (cells[2], cells[3])
    return policy, routes


POLICY, ROUTES = read_tables()


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield "/" + prefix + str(pattern.pattern)


SCHEMA = api.get_openapi_schema()


def configured_routes() -> tuple[set[tuple[str, str]], set[str]]:
    """The API's operations (method, path) from its OpenAPI schema, and every other URL pattern of the site."""
    paths = SCHEMA["paths"]
    operations = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    operation_paths = {re.sub(r"\{(\w+)\}", r"<\1>", path) for path in paths}
    web = {path for path in _walk(get_resolver().url_patterns) if path not in operation_paths}
    return operations, web


def scope(resource: str, verb: str, role: str) -> set[str]:
    return IN_SCOPE[POLICY[(resource, verb)][role]]


def visible(resource: str, role: str) -> set[str]:
    for verb in ("read", "list"):
        if (resource, verb) in POLICY:
            return scope(resource, verb, role)
    return set(OWNERS)


def build_world() -> dict:
    """The callers of each role and their teammates in East, a rep in West, shared records, and for each owner a
    prospect waiting for sales with a planned task, a deal, a notification and an import, named with a marker.

    The callers' own rows are made for every role at once; to another role's caller they are a teammate's."""
    if not Pipeline.objects.exists():  # a committing test before this one emptied what the migrations seeded
        importlib.import_module("leadflow.pipeline.migrations.0003_default_pipeline").create_defaults(apps, None)
    east, west = TeamFactory(name="East"), TeamFactory(name="West")
    people = {
        "admin": UserFactory(username="ada", role=Role.ADMIN, team=east),
        "manager": UserFactory(username="max", role=Role.MANAGER, team=east),
        "marketing": UserFactory(username="mia", role=Role.MARKETING, team=east),
        "sales": UserFactory(username="sam", role=Role.SALES, team=east),
        "teammate": UserFactory(username="sofia", role=Role.SALES, team=east),
        "other team": UserFactory(username="steve", role=Role.SALES, team=west),
    }
    marketer = people["marketing"]
    template = save_template(None, by=marketer, name="Welcome", subject="Hi", body="<p>Hi</p>")
    sequence = save_sequence(None, by=marketer, name="Welcome series")
    step = add_step(sequence, by=marketer, kind="email", template=template)
    account = AccountFactory(name="Shared Co")
    pipeline = Pipeline.objects.get(is_default=True)
    shared = {
        "account_id": account.pk,
        "contact_id": ContactFactory(account=account).pk,
        "pipeline_id": pipeline.pk,
        "stage_id": pipeline.stages.first().pk,
        "reason_id": LostReason.objects.first().pk,
        "user_id": people["teammate"].pk,
        "segment_id": save_segment(None, by=marketer, name="Everyone", match="all", conditions=[]).pk,
        "template_id": template.pk,
        "sequence_id": sequence.pk,
        "step_id": step.pk,
        "scoring rules": ScoringRule.objects.create(
            name="VP", kind="fit", field="seniority", matcher="equals", value="vp", points=10
        ).pk,
        "intent rule": IntentRule.objects.create(name="Pricing", event_type="visit").pk,
        # Inactive, so it does not take the team queue's leads.
        "assignment rule": AssignmentRule.objects.create(name="East", team=east, is_active=False).pk,
        "name": "kpis",
        "token": "no-such-token",
        "delivery_id": NO_ROW,
        "job_id": NO_ROW,
        "model_id": NO_ROW,
    }
    owners = {f"own {role}": people[role] for role in ROLES}
    owners.update({"teammate": people["teammate"], "other team": people["other team"], "nobody": None})
    rows = {
        name: _rows_owned_by(owner, name, people, west if name == "other team" else east)
        for name, owner in owners.items()
    }
    return {"people": people, "shared": shared, "rows": rows}


def _rows_owned_by(owner, name: str, people: dict, team) -> dict:
    marker = "Qx" + name.replace(" ", "")
    # Contacts and accounts are shared records: the marker goes on what is owned, and on the contact's name.
    contact = ContactFactory(account=None, last_name=marker, email=f"lead@{marker.lower()}.example")
    lead = LeadFactory(contact=contact, owner=owner, team=team, company_name=f"{marker} Ltd")
    record_lifecycle_change(lead, to="prospect", by=None, reason="Asked for a demo")
    author = owner or people["admin"]
    activity = log_activity(by=author, kind="call", subject=f"{marker} call", lead=lead, is_done=False,
                            due_at=timezone.now(), owner=owner)  # fmt: skip
    # Its own mail domain: converting finds a contact's account by domain, and must not find another owner's.
    deal_contact = ContactFactory(account=None, email=f"deal@{marker.lower()}.example")
    deal_lead = LeadFactory(contact=deal_contact, owner=owner, team=team, company_name=marker)
    deal, _ = convert_lead(deal_lead, by=people["admin"], name=f"{marker} deal", amount=Decimal("1234"))
    Opportunity.objects.filter(pk=deal.pk).update(owner=owner, team=team)
    Notification.objects.create(user=author, text=f"Qn{marker} about {marker}")
    job = ImportJob(file_name=f"Qi{marker}.csv", preset="generic", created_by=owner)
    job.file.save(f"{marker}.csv", ContentFile(b"email,first_name\nann@example.com,Ann\n"))
    return {
        "marker": marker,
        "lead_id": lead.pk,
        "opportunity_id": deal.pk,
        "activity_id": activity.pk,
        "handoff_id": Handoff.objects.get(lead=lead).pk,
        "job_id": job.pk,
        "deal_lead_id": deal_lead.pk,
    }


def rows_for(world: dict, role: str) -> tuple[dict[str, dict], list[dict]]:
    """The rows of each owner as the caller of `role` sees them, and the other callers' own rows (a teammate's to
    this caller)."""
    rows = world["rows"]
    mine = {"own": rows[f"own {role}"], **{name: rows[name] for name in ("teammate", "other team", "nobody")}}
    return mine, [rows[f"own {other}"] for other in ROLES if other != role]


def state_of(ids: dict) -> list:
    """What a request could change about one owner's rows."""
    return [
        model_to_dict(Lead.objects.get(pk=ids["lead_id"])) if Lead.objects.filter(pk=ids["lead_id"]).exists() else None,
        list(Opportunity.objects.filter(pk=ids["opportunity_id"]).values()),
        list(Activity.objects.filter(pk=ids["activity_id"]).values()),
        list(Activity.objects.filter(lead_id=ids["lead_id"]).values_list("pk", flat=True)),
        list(Handoff.objects.filter(pk=ids["handoff_id"]).values()),
        list(Lead.objects.filter(pk=ids["deal_lead_id"]).values()),
    ]


def _sample(schema: dict, definitions: dict, ids: dict) -> object:
    """A valid value for a JSON schema (required parts only), taking ids of rows from `ids`."""
    if "$ref" in schema:
        return _sample(definitions[schema["$ref"].split("/")[-1]], definitions, ids)
    if "anyOf" in schema:
        return _sample(next(s for s in schema["anyOf"] if s.get("type") != "null"), definitions, ids)
    if "allOf" in schema:
        return _sample(schema["allOf"][0], definitions, ids)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        body = {}
        for name, part in schema.get("properties", {}).items():
            if name in ids:
                body[name] = ids[name]
            elif name in schema.get("required", []):
                body[name] = _sample(part, definitions, ids)
        return body
    if kind == "array":
        return [_sample(schema.get("items", {}), definitions, ids)] if schema.get("minItems") else []
    return {"integer": 1, "number": 1, "boolean": True}.get(kind, "Permission test")


def api_body(method: str, path: str, ids: dict) -> dict | None:
    schema = SCHEMA
    operation = schema["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    return _sample(content["schema"], schema["components"]["schemas"], ids)


def web_body(ids: dict, caller) -> dict:
    """One form post that fits every action form of the web app, naming the owner's rows."""
    return {
        "lead_ids": [ids.get("lead_id", 0)],
        "lead": ids.get("lead_id", 0),
        "action": "transition",
        "to": "recycled",
        "reason": "Permission test",
        "kind": "call",
        "subject": "Permission test",
        "stage": ids.get("stage_id", 0),
        "won": "1",
        "text": "Permission test",
        "owner": caller.pk,
    }


def call(method: str, path: str, role: str, world, ids: dict):
    caller = world["people"][role]
    url = re.sub(r"[{<](?:\w+:)?(\w+)[}>]", lambda m: str(ids.get(m.group(1), world["shared"].get(m.group(1)))), path)
    if path in SCHEMA["paths"]:
        _, key = create_api_token(user=caller)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        body = api_body(method, path, ids)
        if method in ("GET", "DELETE"):
            return client.generic(method, url)
        return client.generic(method, url, data=json.dumps(body or {}), content_type="application/json")
    client = Client()
    client.force_login(caller)
    return client.get(url) if method == "GET" else client.post(url, web_body(ids, caller))


def text_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


ROW_FIELDS = {"lead_id", "opportunity_id", "activity_id", "handoff_id", "lead_ids", "duplicate_id"}


def names_a_row(method: str, path: str) -> bool:
    """Whether the request's body names an owned row (every web form post does: it carries the lead's id)."""
    if method == "GET":
        return False
    if path not in SCHEMA["paths"]:
        return True
    body = api_body(method, path, dict.fromkeys(ROW_FIELDS, 1))
    return isinstance(body, dict) and bool(ROW_FIELDS & set(body))


def row_in_path(path: str, resource: str) -> tuple[str, str] | None:
    """The path parameter naming an owned row, and the resource whose visibility rules it (an import is its
    uploader's)."""
    names = re.findall(r"[{<](?:\w+:)?(\w+)[}>]", path)
    if resource == "import" and "job_id" in names:
        return "job_id", "import"
    return next(((name, ROW_PARAMS[name]) for name in names if name in ROW_PARAMS), None)


def cases(api_routes: bool) -> list:
    """(method, path, role) for every route of the API, or of the rest of the site, and every role."""
    return [
        pytest.param(method, path, role, id=f"{method} {path} {role}")
        for (method, path) in ROUTES
        if (path in SCHEMA["paths"]) == api_routes
        for role in ROLES
    ]


def check_route(world: dict, method: str, path: str, role: str) -> None:
    """Call the route as the role on each owner's row and hold the answer to the policy."""
    resource, verb = ROUTES[(method, path)]
    rows, others = rows_for(world, role)
    hidden = set(OWNERS) - visible("lead", role)
    hidden_markers = [rows[name]["marker"] for name in hidden]
    hidden_markers += [row["marker"] for row in others if "teammate" in hidden]
    in_path = row_in_path(path, resource)
    param = in_path[0] if in_path else None
    names_row = not param and resource in OWNED and names_a_row(method, path)  # a body naming it, or a bulk action
    may = scope(resource, verb, role)
    sees = visible(in_path[1] if in_path else resource, role)
    for owner in OWNERS if param or names_row else ("own",):
        ids = {**world["shared"], **rows[owner], "duplicate_id": rows[owner]["deal_lead_id"]}
        if resource in ("scoring rules", "intent rule", "assignment rule"):
            ids["rule_id"] = world["shared"][resource]
        if resource != "import":
            ids["job_id"] = NO_ROW
        for name in re.findall(r"[{<](?:\w+:)?(\w+)[}>]", path):
            ids.setdefault(name, world["shared"].get(name, NO_ROW))  # a row the world does not make
        # Rows the world does not make (a delivery, a job, a trained model, a score, an email token) are a 404 for
        # every role alike; hidden rows are still checked.
        placeholder = (
            resource == "public"
            or path.endswith(("/score", "/prediction", "/errors.csv"))
            or any(ids.get(name) in (NO_ROW, "no-such-token") for name in re.findall(r"[{<](?:\w+:)?(\w+)[}>]", path))
        )
        untouchable = [rows[name] for name in OWNERS if name not in may or ((param or names_row) and name != owner)]
        untouchable += others if "teammate" not in may or param or names_row else []
        before = [state_of(row) for row in untouchable]
        response = call(method, path, role, world, ids)
        status, body = response.status_code, text_of(response)
        where = f"{method} {path} as {role} on the row of {owner}: {status} {body[:300]}"
        assert status < 500, where
        for marker in hidden_markers if resource not in SHARED else ():
            assert marker not in body, f"{where} shows a hidden row ({marker})"
        if names_row and (owner not in sees or owner not in may):
            pass  # refused (403, 404, 422) or skipped, as a bulk action skips it: the row is unchanged (below)
        elif param and owner not in sees:
            assert status == 404, where
        elif param and owner not in may:
            web_form = path not in SCHEMA["paths"] and status in (200, 302, 422)  # the form comes back refused
            assert status in (403, 404) or web_form, where
        elif not param and not may:
            assert status in (403, 404), where
        else:
            assert status not in (403, 405), where
            assert status != 404 or placeholder, where
        assert [state_of(row) for row in untouchable] == before, f"{where} changed a row it may not change"
        if verb in ("list", "export") and resource in OWNED and status == 200 and may:
            param_of = {kind: name for name, kind in ROW_PARAMS.items()}
            for name in OWNERS:
                shown = rows[name]["marker"] in body or f'"id": {rows[name][param_of[resource]]},' in body
                assert shown == (name in may), f"{where}: the row of {name} {'is' if shown else 'is not'} listed"
