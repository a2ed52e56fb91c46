"""The OpenAPI schema tells the truth: the models' limits, each operation's error statuses, one name per schema."""

import pytest
from ninja import Schema

from leadflow.api.api import api
from leadflow.api.columns import BIGINT_MAX

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    return api.get_openapi_schema()


def test_no_two_schemas_share_a_name():
    """django-ninja names a component by its class name: a second class of the same name would replace the first."""
    seen: dict[str, type] = {}

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("leadflow.api."):
                assert seen.setdefault(sub.__name__, sub) is sub, f"{sub.__name__} is defined twice"
            walk(sub)

    walk(Schema)


def test_the_limits_are_the_models(openapi):
    schemas = openapi["components"]["schemas"]
    assert schemas["RuleIn"]["properties"]["name"]["maxLength"] == 200
    points = schemas["RuleIn"]["properties"]["points"]
    assert (points["minimum"], points["maximum"]) == (-1000, 1000)
    hot = schemas["QualificationSettingsIO"]["properties"]["hot_score"]
    assert (hot["minimum"], hot["maximum"]) == (-(2**31), 2**31 - 1)  # an integer column
    owner = schemas["LeadFields"]["properties"]["owner_id"]["anyOf"][0]
    assert (owner["minimum"], owner["maximum"]) == (1, BIGINT_MAX)


def test_a_patch_field_may_be_left_out_but_is_not_nullable_unless_the_column_is(openapi):
    patch = openapi["components"]["schemas"]["RulePatch"]["properties"]
    assert patch["name"]["type"] == "string" and "anyOf" not in patch["name"]
    assert {"type": "null"} in patch["cap"]["anyOf"]


def test_each_operation_documents_its_error_statuses_with_the_error_body(openapi):
    paths = openapi["paths"]
    merge = paths["/api/v1/leads/{lead_id}/merge"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "422"} <= {str(status) for status in merge}
    error = {"$ref": "#/components/schemas/ErrorOut"}
    assert merge[409]["content"]["application/json"]["schema"] == error
    me = paths["/api/v1/me"]["get"]["responses"]
    assert set(me) == {200, 401}  # no input, no path: only the token can be wrong
    rescore = paths["/api/v1/scoring/rescore"]["post"]["responses"]
    assert 409 not in rescore and 403 in rescore


def test_every_limit_is_written_in_json_schema_words(openapi):
    """pydantic writes a Field's bounds as `ge`/`le` when a validator comes before it: no reader knows those."""
    found: list[str] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            found.extend(f"{where}.{key}" for key in ("ge", "le", "gt", "lt") if key in node and "type" in node)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(openapi, "")
    assert found == []
