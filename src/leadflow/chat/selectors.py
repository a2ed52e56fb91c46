"""Reads of the chat: which script a page offers, scripts with their figures, conversations narrowed to what the
user may see, and transcripts."""

from collections.abc import Iterable

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from leadflow.errors import NotAllowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.selectors import TimelineEntry
from leadflow.tracking.models import Site
from leadflow.users.models import User

from .models import Author, ChatScript, Conversation, ConversationStatus

REACHED_OPPORTUNITY = (LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER)


def script_for_page(site: Site, path: str) -> ChatScript | None:
    """The active script the site offers on the page at `path`: the one whose listed page matches the path the
    most closely (a script listing no pages is offered everywhere, after those that list the page); a script of
    this site before one of every site, then the oldest."""
    best: tuple[int, int, int] | None = None
    chosen = None
    for script in ChatScript.objects.filter(Q(site=site) | Q(site__isnull=True), is_active=True).order_by("id"):
        prefixes = script.page_prefixes()
        matched = [len(prefix) for prefix in prefixes if path == prefix or path.startswith(prefix.rstrip("/") + "/")]
        if prefixes and not matched:
            continue
        rank = (max(matched, default=0), 1 if script.site_id else 0, -script.pk)
        if best is None or rank > best:
            best, chosen = rank, script
    return chosen


def can_edit_scripts(user: User) -> bool:
    """Chat scripts are marketing's (and the admins'), like the other front doors."""
    return user.is_admin or user.is_marketing


def _ensure_can_see_scripts(user: User) -> None:
    if not can_edit_scripts(user):
        raise NotAllowed("Only marketing and admins see chat scripts.")


def scripts_with_figures(user: User) -> QuerySet[ChatScript]:
    """Every script with its report: conversations started and finished, leads created, leads qualified (handed to
    sales) and leads that reached an opportunity."""
    _ensure_can_see_scripts(user)
    return (
        ChatScript.objects.select_related("site", "sequence", "notify")
        .annotate(
            started_count=Count("conversations"),
            finished_count=Count("conversations", filter=Q(conversations__status=ConversationStatus.FINISHED)),
            lead_count=Count("conversations", filter=Q(conversations__created_lead=True)),
            qualified_count=Count("conversations", filter=Q(conversations__is_handed_off=True)),
            opportunity_count=Count(
                "conversations", filter=Q(conversations__lead__furthest_stage__in=REACHED_OPPORTUNITY)
            ),
        )
        .order_by("name", "id")
    )


def get_script(user: User, script_id: int) -> ChatScript:
    script = scripts_with_figures(user).filter(pk=script_id).first()
    if script is None:
        raise Http404("No such chat script.")
    return script


def conversations_visible_to(user: User) -> QuerySet[Conversation]:
    """The conversations of leads the user may see; those of visitors who never said who they are to the roles
    that run the chat (admins and marketing)."""
    visible = Q(lead__in=leads_visible_to(user))
    if user.is_admin or user.is_marketing:
        visible |= Q(lead__isnull=True)
    return (
        Conversation.objects.filter(visible)
        .select_related("script", "site", "lead__contact")
        .annotate(message_count=Count("messages"))
    )


def get_conversation(user: User, conversation_id: int) -> Conversation:
    conversation = conversations_visible_to(user).filter(pk=conversation_id).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def conversations_of(lead: Lead) -> QuerySet[Conversation]:
    """The lead's conversations, newest first, with their messages (for the lead page's transcripts)."""
    return (
        Conversation.objects.filter(lead=lead)
        .select_related("script")
        .prefetch_related("messages")
        .order_by("-started_at", "-id")
    )


def latest_conversations(lead_ids: list[int]) -> dict[int, int]:
    """For each of these leads that chatted, its latest conversation's id (the sales queue links the transcript)."""
    latest: dict[int, int] = {}
    rows = Conversation.objects.filter(lead_id__in=lead_ids).order_by("started_at", "id")
    for lead_id, conversation_id in rows.values_list("lead_id", "id"):
        latest[lead_id] = conversation_id
    return latest


def transcript_text(conversation: Conversation) -> str:
    """The transcript as plain lines ('Visitor: …', 'Bot: …'), for a task or an email."""
    names: dict[str, str] = {Author.BOT: "Bot", Author.VISITOR: "Visitor"}
    return "\n".join(f"{names[message.author]}: {message.text}" for message in conversation.messages.all())


def timeline_entries(conversations: Iterable[Conversation]) -> list[TimelineEntry]:
    """The lead's conversations on its timeline: when each started, how it ended, and its transcript."""
    return [
        TimelineEntry(
            at=conversation.started_at,
            kind="chat",
            title=f"Chat: {conversation.script.name}"
            + (f" ({conversation.get_outcome_display().lower()})" if conversation.outcome else " (not finished)"),
            detail=transcript_text(conversation)[:2000],
        )
        for conversation in conversations
    ]
