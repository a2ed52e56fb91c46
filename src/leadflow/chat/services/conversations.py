"""The bot: starting and resuming a visitor's conversation, taking a typed answer, walking the script's steps to
the next question or the end, and bringing what the visitor said into the CRM (the person and their lead through
capture, BANT answers, intent, the sales queue, a meeting task, nurture)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from leadflow.accounts.services import update_contact
from leadflow.capture.models import Target
from leadflow.capture.services import capture_lead
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import store_events
from leadflow.errors import Conflict
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import record_lifecycle_change, update_lead
from leadflow.nurture.models import Sequence
from leadflow.nurture.services.enrolment import enrol
from leadflow.pipeline.models import ActivityKind
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import log_activity
from leadflow.qualification.models import Criterion, Handoff, HandoffStatus, QualifiedBy
from leadflow.qualification.selectors import business_hours, check_criteria
from leadflow.qualification.services import assign_lead
from leadflow.tracking.models import Site
from leadflow.tracking.services import identify_by_cookie
from leadflow.users.models import User
from leadflow.users.services import notify

from ..models import Author, ChatMessage, ChatScript, Conversation, ConversationStatus, Outcome
from ..script import following, holds, read_answer, read_field
from ..selectors import transcript_text

TOKEN_SALT = "leadflow.chat.conversation"
MAX_MESSAGES = 200  # per conversation: a visitor (or a script) that goes on longer is cut off
CONTACT_FIELDS = {"first_name", "last_name", "phone", "job_title"}
LEAD_FIELDS = {"company_name", "budget_amount", "budget_confirmed", "authority", "need", "timing_target_date"}
WAITING = (LifecycleStage.LEAD, LifecycleStage.RECYCLED)


@dataclass(frozen=True)
class ChatDoor:
    """The chat as a capture door: leads come with the script's source; intent, nurture and notices are the
    script's end steps' to decide, not the capture's."""

    lead_source: str
    is_explicit_intent: bool = False
    sequence_id: int | None = None
    sequence: Sequence | None = None
    notify: User | None = None


def conversation_token(conversation: Conversation) -> str:
    """The signed token that lets the visitor's browser (and only it) read and answer this conversation."""
    return signing.Signer(salt=TOKEN_SALT).sign_object({"c": conversation.pk, "s": conversation.site_id})


def conversation_for(site: Site, token: Any) -> Conversation | None:
    """The site's conversation a token names; None for a token that is forged, another site's, or of none."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    try:
        found = signing.Signer(salt=TOKEN_SALT).unsign_object(token)
        conversation_id, site_id = int(found["c"]), int(found["s"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if site_id != site.pk:
        return None
    return Conversation.objects.select_related("script", "site").filter(pk=conversation_id, site=site).first()


def off_hours_notice(at: datetime) -> str:
    """What the bot says outside the business hours of the qualification settings: when someone will answer;
    empty while the business is open."""
    hours = business_hours()
    opens = hours.add(at, 0)
    if opens <= at:
        return ""
    local = opens.astimezone(hours.zone)
    return (
        f"We are away right now: someone will answer from {local:%A} {local:%H:%M} ({hours.zone.key}). "
        "Meanwhile, I can take your details."
    )


def _say(conversation: Conversation, author: str, text: str, at: datetime, *, step_id: str = "",
         options: list[str] | None = None) -> None:  # fmt: skip
    if conversation.messages.count() >= MAX_MESSAGES:
        raise Conflict("This conversation is too long to go on.", errors={"answer": ["The conversation is full."]})
    ChatMessage.objects.create(
        conversation=conversation, author=author, text=text, step_id=step_id, options=options or [], at=at
    )


@transaction.atomic
def start_conversation(
    site: Site, script: ChatScript, *, visitor_uid: str = "", page_url: str = "", at: datetime | None = None
) -> Conversation:
    """Open a conversation of the script for a visitor of the site: the off-hours notice when the business is
    closed, then the script's steps up to its first question."""
    at = at or timezone.now()
    conversation = Conversation.objects.create(
        script=script, steps=script.steps, site=site, visitor_uid=visitor_uid[:64], page_url=page_url[:500],
        started_at=at, last_message_at=at,
    )  # fmt: skip
    notice = off_hours_notice(at)
    if notice:
        _say(conversation, Author.BOT, notice, at)
    _advance(conversation, 0, at)
    return conversation


@transaction.atomic
def join_visitor(conversation: Conversation, visitor_uid: str) -> None:
    """The widget, on a page, names the tracking snippet's visitor id: keep it, and join the visitor's history to
    the conversation's lead when there is one (the visitor's first beacon may come after the chat found the
    lead)."""
    visitor_uid = visitor_uid[:64]
    if visitor_uid and conversation.visitor_uid != visitor_uid:
        conversation.visitor_uid = visitor_uid
        conversation.save(update_fields=["visitor_uid"])
    if conversation.lead is not None and conversation.visitor_uid:
        identify_by_cookie(conversation.site.key, conversation.visitor_uid, conversation.lead, how="chat", create=True)


def _index_of(steps: list[dict[str, Any]], step_id: str) -> int:
    return next(index for index, step in enumerate(steps) if step["id"] == step_id)


@transaction.atomic
def answer(conversation: Conversation, text: Any, *, at: datetime | None = None) -> Conversation:
    """Take the visitor's answer to the waiting question: InvalidInput on `answer` when it is not of the asked
    kind (the conversation stays where it was), else record it, bring what it says into the CRM and walk on."""
    at = at or timezone.now()
    conversation = Conversation.objects.select_for_update().select_related("script", "site").get(pk=conversation.pk)
    if conversation.is_finished:
        raise Conflict("This conversation has ended.", errors={"answer": ["The conversation has ended."]})
    index = _index_of(conversation.steps, conversation.current_step)
    step = conversation.steps[index]
    shown, value, intent = read_answer(step, text)
    _say(conversation, Author.VISITOR, shown, at, step_id=step["id"])
    conversation.answers[step["id"]] = value
    if step.get("field"):
        _set_field(conversation, step["field"], value, at)
    if intent:
        _show_intent(conversation, intent, at)
    _advance(conversation, index, at, after=True)
    return conversation


def _advance(conversation: Conversation, index: int, at: datetime, *, after: bool = False) -> None:
    """Walk from the step at `index` (from the one after it when `after`) through say, set and branch steps to
    the next question, which waits, or to an end, which finishes the conversation."""
    steps = conversation.steps
    if after:
        index = _index_of(steps, following(steps, index)[0])
    for _ in range(len(steps) + 1):  # the script was checked for loops that ask nothing; this bounds a bug
        step = steps[index]
        kind = step["type"]
        if kind == "branch":
            target = next(
                (rule["goto"] for rule in step["rules"] if holds(rule, conversation.answers.get(rule["answer"]))),
                step["else"],
            )
            index = _index_of(steps, target)
            continue
        if kind in ("say", "ask", "end"):
            options = [option["label"] for option in step.get("options", [])]
            _say(conversation, Author.BOT, step["text"], at, step_id=step["id"], options=options)
        if kind == "set":
            conversation.answers[step["id"]] = step["value"]
            _set_field(conversation, step["field"], step["value"], at)
        if kind == "ask":
            conversation.current_step = step["id"]
            break
        if kind == "end":
            _finish(conversation, step, at)
            break
        index = _index_of(steps, following(steps, index)[0])
    else:
        raise RuntimeError(f"Chat script {conversation.script_id} walked in a circle.")
    conversation.last_message_at = at
    conversation.save()


# --- into the CRM -------------------------------------------------------------------------------------------------


def _set_field(conversation: Conversation, field: str, value: str, at: datetime) -> None:
    """Keep the field the answer sets; the first email brings the person and their lead in through capture, and
    once the lead is known each answer lands on it (the visitor's latest word)."""
    conversation.fields[field] = value
    if conversation.lead is None:
        if field == "email":
            _capture(conversation, at)
        return
    _apply_fields(conversation.lead, {field: read_field(field, value)})


def _capture(conversation: Conversation, at: datetime) -> None:
    script = conversation.script
    values = {field: read_field(field, value) for field, value in conversation.fields.items()}
    captured = capture_lead(
        door=ChatDoor(lead_source=script.lead_source), through=f"Chat: {script.name}",
        answers={field: value for field, value in values.items() if field in Target.values}, at=at,
    )  # fmt: skip
    conversation.lead, conversation.created_lead = captured.lead, captured.created
    _apply_fields(captured.lead, {key: value for key, value in values.items() if key not in Target.values})
    if conversation.visitor_uid:
        identify_by_cookie(conversation.site.key, conversation.visitor_uid, captured.lead, how="chat", create=True)
    for intent in conversation.intents:
        _record_intent(conversation, intent, at)


def _apply_fields(lead: Lead, values: dict[str, Any]) -> None:
    """Put answers on the lead (BANT, company) and its contact (name, phone, job title, company size)."""
    contact = lead.contact
    contact_changes = {key: value for key, value in values.items() if key in CONTACT_FIELDS}
    if "company_size" in values:
        contact_changes["attributes"] = {**contact.attributes, "company_size": values["company_size"]}
    if contact_changes:
        update_contact(contact, **contact_changes)
    lead_changes = {
        key: value for key, value in values.items() if key not in CONTACT_FIELDS | {"company_size", "email"}
    }
    if lead_changes:
        update_lead(lead, by=None, **lead_changes)


def _show_intent(conversation: Conversation, intent: str, at: datetime) -> None:
    if conversation.lead is None:
        conversation.intents = [*conversation.intents, intent]  # recorded once the visitor says who they are
    else:
        _record_intent(conversation, intent, at)


def _record_intent(conversation: Conversation, intent: str, at: datetime) -> None:
    """The visitor asked for a demo or about pricing: an event the intent rules judge like a form's."""
    lead = conversation.lead
    assert lead is not None
    title = f"Chat: {conversation.script.name}"
    if intent == "demo":
        kind, properties = EventType.DEMO_REQUEST, {"title": f"{title}: asked for a demo"}
    else:
        kind, properties = EventType.FORM_SUBMISSION, {"title": f"{title}: asked about pricing", "form": "chat pricing"}
    event = Event(
        type=kind, occurred_at=at, lead=lead, contact_id=lead.contact_id, properties=properties, source="chat"
    )
    store_events([event])


def _finish(conversation: Conversation, step: dict[str, Any], at: datetime) -> None:
    """End the conversation with the step's outcome: hand a qualified lead to sales, or plan a meeting for its
    owner; nurture a lead not handed over when the step says so."""
    conversation.status, conversation.current_step = ConversationStatus.FINISHED, ""
    conversation.outcome, conversation.finished_at = step["outcome"], at
    lead = conversation.lead
    if lead is None:
        return
    lead = Lead.objects.select_for_update().select_related("contact").get(pk=lead.pk)
    conversation.lead = lead
    if step["outcome"] == Outcome.HANDOFF:
        _hand_to_sales(conversation, lead, at)
    conversation.is_handed_off = Handoff.objects.filter(lead=lead, arrived_at__gte=conversation.started_at).exists()
    if step["outcome"] == Outcome.MEETING:
        _plan_meeting(conversation, lead, at)
    sequence = conversation.script.sequence
    nurtured = step["nurture"] and not conversation.is_handed_off and lead.lifecycle_stage in WAITING
    if nurtured and sequence is not None and sequence.is_active:
        enrol(sequence, [lead.pk], by=None, at=at)


def qualifies(lead: Lead, *, at: datetime) -> tuple[bool, list[str]]:
    """Whether the lead meets the default pipeline's active BANT criteria (ICP fit is the score's to judge, not
    the visitor's word), with the evidence."""
    checks = [check for check in check_criteria(lead, default_pipeline(), at=at) if check.kind != Criterion.ICP_FIT]
    return bool(checks) and all(check.met for check in checks), [check.evidence for check in checks]


def _hand_to_sales(conversation: Conversation, lead: Lead, at: datetime) -> None:
    met, evidence = qualifies(lead, at=at)
    if not met or lead.lifecycle_stage not in WAITING:
        return
    script = conversation.script
    if lead.lifecycle_stage == LifecycleStage.RECYCLED:
        record_lifecycle_change(lead, to=LifecycleStage.LEAD, by=None, reason=f"Re-engaged in a chat ({script})", at=at)
    reason = f"Qualified in a chat ({script}): {'; '.join(evidence)}"
    record_lifecycle_change(lead, to=LifecycleStage.PROSPECT, by=None, reason=reason, at=at)
    Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).update(qualified_by=QualifiedBy.CHAT)
    lead.refresh_from_db(fields=["owner"])
    people = [lead.owner] if lead.owner is not None else [script.notify] if script.notify is not None else []
    notify(people, f"Qualified in a chat: {lead.contact}", url=reverse("web:lead", args=[lead.pk]))


def _plan_meeting(conversation: Conversation, lead: Lead, at: datetime) -> None:
    """A task for the lead's owner (given one by the assignment rules if it has none; else the script's notify
    person) to book the meeting the visitor asked for, with the transcript."""
    if lead.owner is None:
        assign_lead(lead, at=at)
        lead.refresh_from_db(fields=["owner"])
    owner = lead.owner or conversation.script.notify
    if owner is None:
        return
    log_activity(
        by=owner, kind=ActivityKind.TASK, subject=f"Book a meeting with {lead.contact} (asked in a chat)"[:200],
        lead=lead, body=transcript_text(conversation), due_at=business_hours().add(at, 0), owner=owner,
    )  # fmt: skip
    notify([owner], f"{lead.contact} asked for a meeting in a chat", url=reverse("web:lead", args=[lead.pk]))
