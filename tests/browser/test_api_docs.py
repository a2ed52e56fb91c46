"""The interactive API docs work offline: swagger-ui is served from the vendored copy."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_list_the_operations_with_the_outside_network_blocked(page, live_server):
    here = urlsplit(live_server.url).netloc
    outside: list[str] = []

    def only_this_server(route):
        if urlsplit(route.request.url).netloc == here:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto("/api/v1/docs")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/leads/{lead_id}/merge")).to_be_visible()
    assert page.locator(".opblock").count() > 50
    assert outside == []
