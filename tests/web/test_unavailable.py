"""A request that meets a dropped PostgreSQL connection answers 503 with Retry-After, never a 500, and the next
request works (on a new connection)."""

import psycopg
import pytest
from django.db import connection

from leadflow.users.services import create_api_token

from ..clients import HTMX, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="drops a PostgreSQL connection; SQLite has none"),
]


def drop_the_connection() -> None:
    """End this test's connection from the server's side, as a failover or a network cut would."""
    params = connection.get_connection_params()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(host=params.get("host"), port=params.get("port"), user=params.get("user"),
                         dbname="postgres", autocommit=True) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_page_on_a_dropped_connection_answers_503_and_the_next_one_works(admin, headers):
    client = signed_in(admin)
    assert client.get("/leads/").status_code == 200
    drop_the_connection()

    response = client.get("/leads/", **headers)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "cannot reach its database for a moment" in response.content.decode()
    assert client.get("/leads/").status_code == 200


def test_an_api_call_on_a_dropped_connection_answers_503_and_the_next_one_works(admin):
    _, token = create_api_token(user=admin)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client = signed_in(admin)
    assert client.get("/api/v1/leads", **auth).status_code == 200
    drop_the_connection()

    response = client.get("/api/v1/leads", **auth)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["detail"] == "The database is unavailable for a moment; try again in a few seconds."
    assert client.get("/api/v1/leads", **auth).status_code == 200
