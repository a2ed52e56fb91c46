"""The website chat: scripts (list, read, create, edit, with their report) for marketing and admins; conversations
with their transcripts for anyone who may see the lead (anonymous ones for marketing and admins)."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from leadflow.chat import selectors, services
from leadflow.chat.models import ChatScript, Conversation
from leadflow.leads.models import LeadSource
from leadflow.nurture.models import Sequence
from leadflow.tracking.models import Site
from leadflow.users.models import User

from .auth import current_user
from .columns import Body, Flag, Id, JsonValue, Text, column, omittable
from .pagination import PageParams, page_of, paginate
from .refs import resolve_ids
from .statuses import may_conflict

router = Router(tags=["chat"])


class ScriptOut(Schema):
    id: int
    name: str
    title: str
    steps: list[dict[str, Any]]
    site_id: int | None
    pages: list[str]
    lead_source: str
    sequence_id: int | None
    notify_id: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    started_count: int = 0
    finished_count: int = 0
    lead_count: int = 0
    qualified_count: int = 0
    opportunity_count: int = 0

    @staticmethod
    def resolve_pages(script: ChatScript) -> list[str]:
        return script.page_prefixes()


class SavedScriptOut(ScriptOut):
    warnings: list[str] = []


class ScriptPatch(Body):
    """A partial update: a field left out is unchanged; none is null but `site_id`, `sequence_id`, `notify_id`."""

    name: Text = column(ChatScript, "name", None)
    title: Text = column(ChatScript, "title", None)
    steps: list[JsonValue] = omittable(
        description="The steps in order, each {id, type: say|ask|set|branch|end, ...}; they replace the old ones"
    )
    site_id: Id | None = None
    pages: list[Text] = omittable(description="Paths the script is offered on; every page when empty")
    lead_source: LeadSource = omittable()
    sequence_id: Id | None = None
    notify_id: Id | None = None
    is_active: Flag = omittable()


class ScriptIn(ScriptPatch):
    name: Text = column(ChatScript, "name")


class MessageOut(Schema):
    author: str
    text: str
    step_id: str
    options: list[str]
    at: datetime


class ConversationOut(Schema):
    id: int
    script_id: int
    site_id: int
    visitor_uid: str
    status: str
    outcome: str
    lead_id: int | None
    created_lead: bool
    is_handed_off: bool
    page_url: str
    started_at: datetime
    last_message_at: datetime
    finished_at: datetime | None
    message_count: int = 0


class TranscriptOut(ConversationOut):
    answers: dict[str, str]
    fields: dict[str, str]
    messages: list[MessageOut]

    @staticmethod
    def resolve_messages(conversation: Conversation) -> list[Any]:
        return list(conversation.messages.all())


class ConversationFilters(PageParams):
    lead_id: Id | None = None
    script_id: Id | None = None


def _fields(payload: Schema) -> dict[str, Any]:
    data = payload.dict(exclude_unset=True)
    data = resolve_ids(data, {"site_id": (Site, "site"), "sequence_id": (Sequence, "sequence"),
                              "notify_id": (User, "notify")})  # fmt: skip
    if data.get("pages") is not None:
        data["pages"] = "\n".join(data["pages"])
    return data


def _saved(user: User, script: ChatScript, warnings: list[str]) -> ChatScript:
    saved = selectors.get_script(user, script.pk)
    saved.warnings = warnings  # type: ignore[attr-defined]
    return saved


@router.get("/chat/scripts", response=page_of(ScriptOut))
def list_scripts(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Chat scripts with their report: conversations started and finished, leads created, qualified (handed to
    sales), and leads that reached an opportunity."""
    return paginate(selectors.scripts_with_figures(current_user(request)), page)


@router.post("/chat/scripts", response={201: SavedScriptOut})
@may_conflict
def create_script(request: HttpRequest, payload: ScriptIn) -> Status:
    """A new script; without `steps` it starts with a greeting, the email question and thanks."""
    user = current_user(request)
    script, warnings = services.save_script(None, by=user, **_fields(payload))
    return Status(201, _saved(user, script, warnings))


@router.get("/chat/scripts/{script_id}", response=ScriptOut)
def get_script(request: HttpRequest, script_id: Id) -> ChatScript:
    return selectors.get_script(current_user(request), script_id)


@router.patch("/chat/scripts/{script_id}", response=SavedScriptOut)
@may_conflict
def update_script(request: HttpRequest, script_id: Id, payload: ScriptPatch) -> ChatScript:
    """Change a script; `steps`, when given, are checked as a whole and replace the old ones (`warnings` names the
    steps no path reaches)."""
    user = current_user(request)
    script, warnings = services.save_script(selectors.get_script(user, script_id), by=user, **_fields(payload))
    return _saved(user, script, warnings)


@router.get("/chat/conversations", response=page_of(ConversationOut))
def list_conversations(request: HttpRequest, filters: Query[ConversationFilters]) -> dict[str, Any]:
    """Conversations of the leads the caller may see (and anonymous ones for marketing and admins), newest
    first."""
    rows = selectors.conversations_visible_to(current_user(request)).order_by("-last_message_at", "-id")
    if filters.lead_id is not None:
        rows = rows.filter(lead_id=filters.lead_id)
    if filters.script_id is not None:
        rows = rows.filter(script_id=filters.script_id)
    return paginate(rows, filters)


@router.get("/chat/conversations/{conversation_id}", response=TranscriptOut)
def get_conversation(request: HttpRequest, conversation_id: Id) -> Conversation:
    """One conversation with its transcript."""
    return selectors.get_conversation(current_user(request), conversation_id)
