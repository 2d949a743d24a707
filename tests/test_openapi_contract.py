"""The response validator the API tests run through (tests/openapi_contract.py), and the nulls and blanks it
relies on the schema to declare."""

import pytest
from django.apps import apps

from tests.openapi_contract import SchemaMismatch, contract, openapi_to_json_schema

# Response components built from a model, and the model.
MODEL_COMPONENTS = {
    "CaseList": "cases.Case",
    "CaseDetail": "cases.Case",
    "Category": "cases.Category",
    "CategoryRef": "cases.Category",
    "Escalation": "cases.Escalation",
    "Attachment": "cases.Attachment",
    "Area": "grids.Area",
    "AreaRef": "grids.Area",
    "DepartmentRef": "grids.Department",
    "Post": "accounts.Post",
    "Me": "accounts.User",
}


@pytest.fixture(scope="module")
def api():
    return contract()


def test_the_validator_catches_null_where_the_schema_says_string(api):
    errors = api.errors_for("AreaRef", {"id": 1, "code": None, "name": "甲街道", "tier": "street"})
    assert errors == ["  $.code: None is not of type 'string'"]


def test_the_validator_catches_a_value_outside_an_enum_and_a_missing_field(api):
    errors = api.errors_for("AreaRef", {"id": 1, "name": "甲街道", "tier": "province"})
    assert len(errors) == 2
    assert any("'code' is a required property" in e for e in errors)
    assert any(e.startswith("  $.tier:") and "'province'" in e for e in errors)


def test_a_lying_response_fails_with_path_status_and_json_path(api):
    body = b'{"id": 1, "username": "u", "real_name": "", "display_name": "u", "is_superuser": false, "posts": [{"id": 3, "role": "grid_worker", "role_display": "x", "area": {"id": 1, "code": "1", "name": "n", "tier": "grid"}, "department": null, "is_supervisor": false, "is_full_time": true, "title": 7}]}'  # noqa: E501
    with pytest.raises(SchemaMismatch) as caught:
        api.check("GET", "/api/v1/me/", 200, "application/json", body)
    message = str(caught.value)
    assert "GET /api/v1/me/ → 200" in message
    assert "$.posts[0].title: 7 is not of type 'string'" in message


def test_an_undocumented_status_fails(api):
    with pytest.raises(SchemaMismatch, match="status 418 is not documented for /api/v1/me/"):
        api.check("GET", "/api/v1/me/", 418, "application/json", b'{"detail": "teapot"}')


def test_an_undocumented_path_or_method_fails(api):
    with pytest.raises(SchemaMismatch, match="the path is not in the schema"):
        api.check("GET", "/api/v1/nowhere/", 200, "application/json", b"{}")
    with pytest.raises(SchemaMismatch, match="PATCH is not documented"):
        api.check("PATCH", "/api/v1/me/", 200, "application/json", b"{}")


def test_error_bodies_are_checked_too(api):
    api.check("GET", "/api/v1/cases/1/", 404, "application/json", b'{"detail": "Not found."}')
    with pytest.raises(SchemaMismatch, match=r"\$: 'detail' is a required property"):
        api.check("GET", "/api/v1/cases/1/", 404, "application/json", b'{"message": "Not found."}')
    api.check("POST", "/api/v1/cases/", 400, "application/json", b'{"contact_phone": ["Enter a phone number."]}')
    with pytest.raises(SchemaMismatch, match=r"\$.contact_phone"):
        api.check("POST", "/api/v1/cases/", 400, "application/json", b'{"contact_phone": 5}')


def test_every_operation_documents_the_errors_any_request_can_meet(api):
    for path, operations in api.openapi["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "503" in responses, (method, path)
            assert "429" in responses, (method, path)
            for code, response in responses.items():
                if code >= "400":
                    assert "application/json" in response.get("content", {}), (method, path, code)


def test_openapi_nullable_becomes_json_schema():
    converted = openapi_to_json_schema({"type": "string", "nullable": True, "enum": ["a"]})
    assert converted == {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]}
    bounded = openapi_to_json_schema({"type": "number", "maximum": 10, "exclusiveMaximum": True})
    assert bounded == {"type": "number", "exclusiveMaximum": 10}


@pytest.mark.parametrize("component", sorted(MODEL_COMPONENTS))
def test_nullable_and_blank_model_fields_are_declared(api, component):
    """A field the database may hold as NULL, or as "" among its choices, is declared so in the schema, even
    where no test happens to return one (the response validator only sees what the tests return)."""
    model = apps.get_model(MODEL_COMPONENTS[component])
    properties = api.openapi["components"]["schemas"][component]["properties"]
    pointer = f"/components/schemas/{component}/properties"
    checked = 0
    for field in model._meta.concrete_fields:
        name = field.name
        if name not in properties:
            continue
        checked += 1
        if field.null:
            assert api.errors(f"{pointer}/{name}", None) == [], f"{component}.{name} is null in the database"
        if field.choices and field.blank:
            assert api.errors(f"{pointer}/{name}", "") == [], f"{component}.{name} may be blank"
    assert checked
