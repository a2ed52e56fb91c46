"""One world per test module, committed once; each test's own changes roll back with its transaction."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from .policy import build_world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    with override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("uploads")):
        with django_db_blocker.unblock():
            built = build_world()
        yield built
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)  # the next module gets the seeds (tests/conftest)
