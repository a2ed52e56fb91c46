"""Bad input of every kind is a 4xx in the one error shape, naming the field; never a 500 or an IntegrityError."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from leadflow.api.columns import BIGINT_MAX
from leadflow.leads.models import StageChange
from leadflow.leads.services import record_lifecycle_change
from leadflow.nurture.models import Segment
from leadflow.qualification.models import Handoff
from leadflow.scoring.models import ScoringRule

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db

INT_MAX = 2**31 - 1  # PostgreSQL's integer, the column type of points, caps, thresholds


def assert_refused(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"detail", "errors"} and field in body["errors"], body
    return body


@pytest.fixture
def rule(marketer):
    return ScoringRule.objects.create(name="Demo requested", kind="engagement", event_type="demo_request", points=25)


def test_null_for_a_field_that_cannot_be_empty_is_refused(api_as, marketer, rule):
    response = api_as(marketer).patch(f"/scoring/rules/{rule.pk}", {"name": None})
    assert_refused(response, 422, "name")
    rule.refresh_from_db()
    assert rule.name == "Demo requested"


def test_null_clears_a_field_that_may_be_empty(api_as, marketer, rule):
    response = api_as(marketer).patch(f"/scoring/rules/{rule.pk}", {"cap": None})
    assert response.status_code == 200 and response.json()["cap"] is None


@pytest.mark.parametrize("body", [[None, None], 3.5, "text"])
def test_a_body_that_is_not_an_object_is_malformed(api_as, marketer, rule, body):
    assert_refused(api_as(marketer).patch(f"/scoring/rules/{rule.pk}", body), 400, "body")


def test_a_key_the_body_does_not_name_is_refused_not_dropped(api_as, marketer, rule):
    response = api_as(marketer).patch(f"/scoring/rules/{rule.pk}", {"nmae": "Typo"})
    assert_refused(response, 422, "nmae")
    response = api_as(marketer).post(
        "/events", {"events": [{"type": "page_visit", "occurred_at": "2026-01-01T00:00:00Z", "lead": 1}]}
    )
    assert_refused(response, 422, "events.0.lead")


def test_a_query_with_more_fields_than_django_reads_is_malformed(api_as, marketer, settings):
    fields = {"source": [f"web{n}" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)]}
    response = api_as(marketer).get("/leads", fields)
    assert response["Content-Type"].startswith("application/json")
    assert_refused(response, 400, "request")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"points": "many"}, "points"),
        ({"points": True}, "points"),  # pydantic alone reads true as 1
        ({"points": "5"}, "points"),
        ({"in_icp": [1]}, "in_icp"),
        ({"half_life_days": "soon"}, "half_life_days"),
        ({"half_life_days": False}, "half_life_days"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(api_as, marketer, rule, payload, field):
    assert_refused(api_as(marketer).patch(f"/scoring/rules/{rule.pk}", payload), 422, field)


@pytest.mark.parametrize("since", ["0.5", "1700000000", "yesterday"])
def test_a_date_is_iso_text_not_a_number(api_as, admin, since):
    assert_refused(api_as(admin).get("/events", {"since": since}), 422, "since")


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/scoring/rules/{rule}", {"cap": INT_MAX + 1}, "cap"),
        ("/scoring/rules/{rule}", {"cap": -1}, "cap"),
        ("/scoring/rules/{rule}", {"points": 10**30}, "points"),
        ("/qualification/settings", {"hot_score": -(2**40)}, "hot_score"),
        ("/qualification/settings", {"day_starts": 40000}, "day_starts"),
    ],
)
def test_a_number_beyond_the_columns_range_is_refused(api_as, admin, rule, path, payload, field):
    assert_refused(api_as(admin).patch(path.format(rule=rule.pk), payload), 422, field)


@pytest.mark.parametrize("lead_id", [BIGINT_MAX + 1, 10**30, 0, -5])
def test_an_id_beyond_any_row_is_refused_not_overflowed(api_as, admin, lead_id):
    response = api_as(admin).get(f"/leads/{lead_id}")
    assert_refused(response, 422, "lead_id")


def test_an_offset_beyond_the_databases_integers_is_refused(api_as, admin):
    assert_refused(api_as(admin).get("/leads", {"offset": 10**22}), 422, "offset")


def test_an_id_of_a_row_that_does_not_exist_is_a_404(api_as, admin):
    response = api_as(admin).get(f"/leads/{BIGINT_MAX}")
    assert response.status_code == 404 and "detail" in response.json()


def test_an_over_long_string_is_refused_naming_the_field(api_as, admin):
    response = api_as(admin).post("/accounts", {"name": "x" * 201})
    body = assert_refused(response, 422, "name")
    assert "200" in body["errors"]["name"][0]


@pytest.mark.parametrize("text", ["nul\x00inside", "\x00"])
def test_text_with_a_nul_character_is_refused_on_both_databases(api_as, admin, text):
    assert_refused(api_as(admin).post("/accounts", {"name": text}), 422, "name")
    assert_refused(
        api_as(admin).post("/nurture/segments", {"name": "S", "conditions": [{"v": text}]}), 422, "conditions.0"
    )


def test_an_unknown_choice_is_refused_naming_the_field(api_as, admin):
    body = assert_refused(
        api_as(admin).post("/scoring/rules", {"name": "R", "kind": "vibes", "points": 5}), 422, "kind"
    )
    assert "fit" in body["errors"]["kind"][0]


def test_a_duplicate_is_a_409_naming_the_existing_row(api_as, admin):
    call = {"kind": "call", "subject": "Intro", "external_id": "crm-7", "lead_id": LeadFactory().pk}
    first = api_as(admin).post("/activities", call)
    assert first.status_code == 201, first.content
    again = api_as(admin).post("/activities", call)
    body = assert_refused(again, 409, "external_id")
    assert body["existing_id"] == first.json()["id"]
    assert body["errors"]["external_id"] == [f"Already used by activity {first.json()['id']}."]


def test_merging_a_lead_into_an_id_beyond_the_range_is_refused(api_as, admin):
    lead = LeadFactory()
    assert_refused(api_as(admin).post(f"/leads/{lead.pk}/merge", {"duplicate_id": 10**20}), 422, "duplicate_id")


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_for_one_unique_name_get_one_success_and_one_409(api_as, marketer):
    """On PostgreSQL, with two connections: the second insert waits on the first's unique index entry, then fails;
    it answers 409 naming the winner instead of a 500."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time: two requests never race there")
    first, second = api_as(marketer), api_as(marketer)
    first_inserted, responses, errors = threading.Event(), {}, []

    def winner():
        try:
            with transaction.atomic():  # holds the new row uncommitted until the loser is waiting on it
                responses["winner"] = first.post("/nurture/segments", {"name": "Raced"})
                first_inserted.set()
                deadline = time.monotonic() + 10
                while not _someone_waits_on_a_lock() and time.monotonic() < deadline:
                    time.sleep(0.02)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            first_inserted.set()
            connections.close_all()

    def loser():
        try:
            first_inserted.wait()
            responses["loser"] = second.post("/nurture/segments", {"name": "Raced"})
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=winner), threading.Thread(target=loser)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert responses["winner"].status_code == 201
    won = responses["winner"].json()["id"]
    body = assert_refused(responses["loser"], 409, "name")
    assert body["existing_id"] == won
    assert list(Segment.objects.values_list("pk", flat=True)) == [won]


def _someone_waits_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("flag", [0, 1, "yes"])
def test_a_flag_is_a_json_boolean(api_as, marketer, rule, flag):
    assert_refused(api_as(marketer).patch(f"/scoring/rules/{rule.pk}", {"is_active": flag}), 422, "is_active")


def test_null_for_a_whole_body_is_malformed(api_as, admin):
    assert_refused(api_as(admin).patch("/qualification/settings", None), 400, "body")


def test_converting_without_a_body_takes_the_defaults(api_as, admin):
    lead = LeadFactory(company_name="Acme")
    client = api_as(admin)
    response = client.client.post(
        f"/api/v1/leads/{lead.pk}/convert", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {client.token}"
    )
    assert response.status_code == 201, response.content


def test_a_rejection_reason_as_long_as_its_column_fits_the_leads_history_too(api_as, rep):
    """The lifecycle step quotes the reason after "Rejected by sales: ": it is clipped to its column, not a 500."""
    lead = LeadFactory(owner=rep, team=rep.team)
    record_lifecycle_change(lead, to="prospect", by=None, reason="Score 72 reached the MQL threshold (60)")
    handoff = Handoff.objects.get(lead=lead)
    response = api_as(rep).post(f"/handoffs/{handoff.pk}/reject", {"reason": "x" * 500})
    assert response.status_code == 200, response.content
    assert len(StageChange.objects.filter(lead=lead).last().reason) == 500


def test_a_moment_with_any_offset_is_read_in_utc(api_as, admin):
    """PostgreSQL refuses offsets past 15:59; the API hands it the moment in UTC."""
    assert api_as(admin).get("/events", {"since": "0006-07-13T15:08:47+18:27"}).status_code == 200


def test_a_moment_before_the_first_year_in_utc_is_refused(api_as, admin):
    assert_refused(api_as(admin).get("/events", {"since": "0001-01-01T00:00:00+01:00"}), 422, "since")
