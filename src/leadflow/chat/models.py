"""The website chat: scripts the bot follows (steps stored as validated JSON), the conversations visitors hold with
it and their messages (the transcript)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.leads.models import Lead, LeadSource
from leadflow.tracking.models import Site


class ChatScript(models.Model):
    """What the bot says and asks, in order, with branches; on which sites and pages it is offered; and what a
    conversation's end does (nurture, who hears of it). `steps` is validated by `chat.script.clean_steps`."""

    name = models.CharField(max_length=200, unique=True)
    title = models.CharField(max_length=80, default="Questions? Chat with us", help_text="The widget's heading")
    steps = models.JSONField(default=list)
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, related_name="chat_scripts",
        help_text="Offered only on this site; every tracked site when empty",
    )  # fmt: skip
    pages = models.TextField(
        blank=True, help_text="Paths (one a line) of the pages it is offered on; every page when empty"
    )
    lead_source = models.CharField(max_length=30, choices=LeadSource.choices, default=LeadSource.INBOUND_MARKETING)
    sequence = models.ForeignKey(
        "nurture.Sequence", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="End steps marked “nurture” enrol a lead not handed to sales in this sequence",
    )  # fmt: skip
    notify = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Told of qualified leads and meeting requests when the lead has no owner; gets the meeting task",
    )  # fmt: skip
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def page_prefixes(self) -> list[str]:
        return [line.strip() for line in self.pages.splitlines() if line.strip()]


class ConversationStatus(models.TextChoices):
    STARTED = "started", "Started"
    FINISHED = "finished", "Finished"


class Outcome(models.TextChoices):
    THANK_YOU = "thank_you", "Thank you"
    MEETING = "meeting", "Book a meeting"
    HANDOFF = "handoff", "Hand to sales"


class Conversation(models.Model):
    """One visitor's chat with a script on a site, following the script's steps as they were when it started: where
    it stands (`current_step`), what they answered (by step id) and the fields those answers set, and the lead once
    they gave an email."""

    script = models.ForeignKey(ChatScript, on_delete=models.PROTECT, related_name="conversations")
    steps = models.JSONField(default=list, help_text="The script's steps when it started: edits apply to new chats")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="conversations")
    visitor_uid = models.CharField(max_length=64, blank=True, help_text="The tracking snippet's visitor id, if any")
    status = models.CharField(max_length=20, choices=ConversationStatus.choices, default=ConversationStatus.STARTED)
    current_step = models.CharField(max_length=60, blank=True, help_text="The question waiting for an answer")
    answers = models.JSONField(default=dict, blank=True, help_text="Step id → the answer as stored")
    fields = models.JSONField(default=dict, blank=True, help_text="Field → value the answers set")
    intents = models.JSONField(default=list, blank=True, help_text="Intents shown before the visitor was known")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    created_lead = models.BooleanField(default=False, help_text="The conversation brought a new lead")
    is_handed_off = models.BooleanField(default=False, help_text="It made the lead a prospect for sales")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    page_url = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["script", "started_at"]), models.Index(fields=["-last_message_at"])]

    def __str__(self) -> str:
        return f"Chat {self.pk} ({self.script})"

    @property
    def is_finished(self) -> bool:
        return self.status == ConversationStatus.FINISHED


class Author(models.TextChoices):
    BOT = "bot", "Bot"
    VISITOR = "visitor", "Visitor"


class ChatMessage(models.Model):
    """One line of the transcript: what the bot said (with the buttons it offered) or what the visitor answered."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    author = models.CharField(max_length=10, choices=Author.choices)
    text = models.TextField()
    step_id = models.CharField(max_length=60, blank=True)
    options = models.JSONField(default=list, blank=True, help_text="The buttons offered with a question")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["conversation", "at"])]

    def __str__(self) -> str:
        return f"{self.get_author_display()}: {self.text[:40]}"
