"""Writing chat scripts: who may, and saving one with its steps validated."""

from typing import Any

from django.db import transaction

from leadflow.errors import InvalidInput, NotAllowed, save_or_conflict
from leadflow.leads.models import LeadSource
from leadflow.nurture.models import Sequence
from leadflow.tracking.models import Site
from leadflow.users.models import User

from ..models import ChatScript
from ..script import clean_steps
from ..selectors import can_edit_scripts

DEFAULT_SCRIPT = "Qualify visitors (BANT)"  # the name of the script migration 0002 seeds
LIMITS = {"name": 200, "title": 80}  # the columns' lengths
SCRIPT_FIELDS = {"name", "title", "steps", "site", "pages", "lead_source", "sequence", "notify", "is_active"}
# What a new script starts with: a greeting, the email, and thanks.
FIRST_STEPS: list[dict[str, Any]] = [
    {"id": "hello", "type": "say", "text": "Hi! How can we help?"},
    {"id": "email", "type": "ask", "text": "What is your email, so we can follow up?", "answer": "email",
     "field": "email"},
    {"id": "thanks", "type": "end", "text": "Thank you! We will be in touch.", "outcome": "thank_you"},
]  # fmt: skip


def _clean_pages(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput.on("pages", "Give paths, one a line.")
    paths = [line.strip() for line in value.splitlines() if line.strip()]
    for path in paths:
        if not path.startswith("/") or len(path) > 200 or "\x00" in path:
            raise InvalidInput.on("pages", f"{path[:60]} is not a path starting with /.")
    return "\n".join(dict.fromkeys(paths))


@transaction.atomic
def save_script(script: ChatScript | None, *, by: User, **fields: Any) -> tuple[ChatScript, list[str]]:
    """Create a script (`script` None; it starts with a greeting, the email and thanks unless `steps` are given) or
    change one. Returns the script and the warnings about its steps (a step no path reaches)."""
    if not can_edit_scripts(by):
        raise NotAllowed("Only marketing and admins may change chat scripts.")
    unknown = set(fields) - SCRIPT_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    if script is None:
        script = ChatScript(created_by=by, steps=FIRST_STEPS)
    for name, limit in LIMITS.items():
        if name in fields or not getattr(script, name):
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip() or "\x00" in value:
                raise InvalidInput.on(name, "This field is required.")
            if len(value.strip()) > limit:
                raise InvalidInput.on(name, f"At most {limit} characters.")
            setattr(script, name, value.strip())
    if "pages" in fields:
        script.pages = _clean_pages(fields["pages"])
    if "lead_source" in fields:
        if fields["lead_source"] not in LeadSource.values:
            raise InvalidInput.on("lead_source", f"Must be one of: {', '.join(LeadSource.values)}.")
        script.lead_source = fields["lead_source"]
    for name, model in (("site", Site), ("sequence", Sequence), ("notify", User)):
        if name in fields:
            if fields[name] is not None and not isinstance(fields[name], model):
                raise InvalidInput.on(name, "No such row.")
            setattr(script, name, fields[name])
    if "is_active" in fields:
        if not isinstance(fields["is_active"], bool):
            raise InvalidInput.on("is_active", "Must be true or false.")
        script.is_active = fields["is_active"]
    checked = clean_steps(fields.get("steps", script.steps))
    script.steps = checked.steps
    save_or_conflict(script)
    return script, checked.warnings
