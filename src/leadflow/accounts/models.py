"""Organisations and the people in them: `Account` (a company) and `Contact` (a person)."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class EmployeeBand(models.TextChoices):
    B1_9 = "1-9", "1–9"
    B10_49 = "10-49", "10–49"
    B50_199 = "50-199", "50–199"
    B200_499 = "200-499", "200–499"
    B500_999 = "500-999", "500–999"
    B1000_1999 = "1000-1999", "1,000–1,999"
    B2000_PLUS = "2000+", "2,000+"


class RevenueBand(models.TextChoices):
    UNDER_1M = "<$1M", "Under $1M"
    R1M_10M = "$1M-$10M", "$1M–$10M"
    R10M_50M = "$10M-$50M", "$10M–$50M"
    R50M_200M = "$50M-$200M", "$50M–$200M"
    R200M_PLUS = "$200M+", "$200M+"


class Seniority(models.TextChoices):
    INDIVIDUAL_CONTRIBUTOR = "individual_contributor", "Individual contributor"
    MANAGER = "manager", "Manager"
    DIRECTOR = "director", "Director"
    VP = "vp", "VP"
    C_SUITE = "c_suite", "C-suite"


class Account(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, null=True, blank=True, help_text="Normalised: lower case, no www.")
    industry = models.CharField(max_length=100, blank=True)
    employee_band = models.CharField(max_length=20, choices=EmployeeBand.choices, blank=True)
    revenue_band = models.CharField(max_length=20, choices=RevenueBand.choices, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_accounts"
    )
    attributes = models.JSONField(default=dict, blank=True, help_text="Imported columns with no field of their own")
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["domain"], name="account_domain_unique"),
        ]
        indexes = [models.Index(Lower("name"), name="account_name_lower")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, null=True, blank=True, help_text="Normalised to lower case.")
    phone = models.CharField(max_length=50, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    seniority = models.CharField(max_length=30, choices=Seniority.choices, blank=True)
    role_function = models.CharField(max_length=100, blank=True, help_text="Function or persona, e.g. vp_finance")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts")
    email_opt_in = models.BooleanField(default=False, help_text="Consented to marketing email")
    do_not_contact = models.BooleanField(default=False)
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, help_text="IANA name, e.g. Europe/Berlin")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2; reads the phone")
    # Match keys (see accounts.matching), kept by the contact services on every write.
    mailbox_key = models.CharField(max_length=254, null=True, blank=True, editable=False)
    phone_key = models.CharField(max_length=20, null=True, blank=True, editable=False)
    name_key = models.CharField(max_length=500, null=True, blank=True, editable=False)
    attributes = models.JSONField(default=dict, blank=True, help_text="Imported columns with no field of their own")
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=models.Q(email__isnull=False), name="contact_email_unique_ci"
            ),
        ]
        indexes = [
            models.Index(fields=["mailbox_key"], condition=models.Q(mailbox_key__isnull=False), name="contact_mailbox"),
            models.Index(fields=["phone_key"], condition=models.Q(phone_key__isnull=False), name="contact_phone"),
            models.Index(fields=["name_key"], condition=models.Q(name_key__isnull=False), name="contact_name_domain"),
        ]

    def __str__(self) -> str:
        return self.name_of(self.first_name, self.last_name, self.email, self.external_id, self.pk)

    @staticmethod
    def name_of(first_name: str, last_name: str, email: str | None, external_id: str | None, pk: int | None) -> str:
        """What a contact is called: the name, else the email, else the external id, else the number (also for a
        row read without a model instance)."""
        return f"{first_name} {last_name}".strip() or email or external_id or f"Contact {pk}"


class PairStatus(models.TextChoices):
    OPEN = "open", "To review"
    NOT_DUPLICATE = "not_duplicate", "Not a duplicate"


class DuplicatePair(models.Model):
    """Two contacts that are likely the same person (`first` has the lower id), with a score out of 100 and the
    evidence; once someone says they are different people the pair stays, so it is not flagged again."""

    first = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField()
    evidence = models.JSONField(default=dict, help_text="keys: the match keys shared; name_closeness: 0-100")
    status = models.CharField(max_length=20, choices=PairStatus.choices, default=PairStatus.OPEN)
    found_by = models.CharField(max_length=20, help_text="capture or scan")
    found_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="duplicate_pair_once"),
            models.CheckConstraint(condition=models.Q(first__lt=models.F("second")), name="duplicate_pair_ordered"),
        ]
        indexes = [
            models.Index(fields=["status", "-score", "id"], name="duplicate_pair_best"),
            models.Index(fields=["second"], name="duplicate_pair_second"),
        ]

    def __str__(self) -> str:
        return f"{self.first_id} ~ {self.second_id} ({self.score})"


# Mailbox providers whose domain says nothing about the person's company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
    }
)
