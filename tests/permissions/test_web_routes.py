"""Every web route, as every role, on rows of every owner, does what docs/permissions.md says."""

import pytest

from .policy import cases, check_route


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "role"), cases(api_routes=False))
def test_the_route_does_what_the_table_says(world, method, path, role):
    check_route(world, method, path, role)
