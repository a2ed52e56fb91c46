"""A tracked site with the default chat script, open around the clock unless a test closes the business."""

from datetime import date, timedelta

import pytest
from django.test import Client

from leadflow.chat.models import ChatScript
from leadflow.qualification.models import QualificationSettings
from leadflow.tracking.services import save_site

ORIGIN = "https://www.shop.example"


@pytest.fixture
def open_hours(db):
    return QualificationSettings.objects.update_or_create(
        pk=1, defaults={"day_starts": 0, "day_ends": 24, "business_days": [0, 1, 2, 3, 4, 5, 6]}
    )[0]


@pytest.fixture
def site(marketer, open_hours):
    return save_site(None, by=marketer, name="Shop", allowed_origins=ORIGIN, consent_required=False)


@pytest.fixture
def script(db):
    return ChatScript.objects.get(name="Qualify visitors (BANT)")


@pytest.fixture
def soon():
    """A target date inside the default timing criterion (180 days)."""
    return (date.today() + timedelta(days=60)).isoformat()


@pytest.fixture
def public():
    """A browser on the shop's page: every request carries its Origin."""
    return Client(HTTP_ORIGIN=ORIGIN)
