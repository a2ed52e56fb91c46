"""Shared fixtures: a small organisation with a user in every role, and API clients for them."""

import importlib

import pytest
from django.apps import apps
from django.test import Client

from leadflow.pipeline.models import Pipeline
from leadflow.users.models import Role
from leadflow.users.services import create_api_token

from .factories import TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def seeded_defaults(request):
    """Tests that commit end with a flush that empties what the migrations seeded (the default pipeline, the lost
    reasons, the intent rules, the chat script); whichever test comes next in the same worker gets the seeds back."""
    marker = request.node.get_closest_marker("django_db")
    committed = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if marker is None and not {"db", "transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db" if committed else "db")
    if not Pipeline.objects.exists():
        importlib.import_module("leadflow.pipeline.migrations.0003_default_pipeline").create_defaults(apps, None)
        importlib.import_module("leadflow.qualification.migrations.0002_default_intent_rules").add_rules(apps, None)
        importlib.import_module("leadflow.chat.migrations.0002_default_script").add_script(apps, None)


@pytest.fixture
def east(db):
    return TeamFactory(name="East")


@pytest.fixture
def west(db):
    return TeamFactory(name="West")


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", role=Role.ADMIN)


@pytest.fixture
def manager(east):
    return UserFactory(username="maria", role=Role.MANAGER, team=east)


@pytest.fixture
def marketer(db):
    return UserFactory(username="mia", role=Role.MARKETING)


@pytest.fixture
def rep(east):
    return UserFactory(username="sam", role=Role.SALES, team=east)


@pytest.fixture
def teammate(east):
    return UserFactory(username="sofia", role=Role.SALES, team=east)


@pytest.fixture
def other_rep(west):
    return UserFactory(username="steve", role=Role.SALES, team=west)


class ApiClient:
    """A test client that speaks JSON to /api/v1/ with a user's bearer token."""

    def __init__(self, user):
        self.user = user
        _, self.token = create_api_token(user=user)
        self.client = Client()

    def _call(self, method, path, data=None, **extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}", **extra}
        url = f"/api/v1{path}"
        if method in ("get", "delete"):
            return getattr(self.client, method)(url, data, **headers)
        return getattr(self.client, method)(url, data, content_type="application/json", **headers)

    def get(self, path, params=None, **extra):
        return self._call("get", path, params, **extra)

    def post(self, path, data=None, **extra):
        return self._call("post", path, data if data is not None else {}, **extra)

    def patch(self, path, data, **extra):
        return self._call("patch", path, data, **extra)

    def put(self, path, data, **extra):
        return self._call("put", path, data, **extra)

    def delete(self, path, **extra):
        return self._call("delete", path, **extra)


@pytest.fixture
def api_as():
    """api_as(user) → a JSON client authenticated as that user."""
    return ApiClient
