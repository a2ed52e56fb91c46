"""The people who use leadflow: users with a role, grouped in teams, and their API tokens."""

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Sales manager"
    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales rep"


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SALES)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")

    def __str__(self) -> str:
        return self.name_of(self.first_name, self.last_name, self.username)

    @staticmethod
    def name_of(first_name: str, last_name: str, username: str) -> str:
        """What a user is called: the full name, else the username (also for a row read without a model instance)."""
        return f"{first_name} {last_name}".strip() or username

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_marketing(self) -> bool:
        return self.role == Role.MARKETING

    @property
    def is_sales(self) -> bool:
        return self.role == Role.SALES


def hash_token(key: str) -> str:
    """The stored form of an API token: its SHA-256, so a leaked table leaks no usable token."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_token_key() -> str:
    return "lf_" + secrets.token_urlsafe(32)


class ApiToken(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class Notification(models.Model):
    """A message for one user in the app (the bell), e.g. an SLA missed on one of their leads."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications", db_index=False)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return f"To {self.user}: {self.text}"
