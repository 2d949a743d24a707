"""The OpenAPI 3 schema: it generates without warnings, validates, and documents every endpoint."""

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import reset_generator_stats

from tests.api_support import isolate_throttling, token_client

API_PATHS = {
    "/api/v1/auth/token/": {"post", "get", "delete"},
    "/api/v1/me/": {"get"},
    "/api/v1/areas/": {"get"},
    "/api/v1/categories/": {"get"},
    "/api/v1/cases/": {"get", "post"},
    "/api/v1/cases/nearby/": {"get"},
    "/api/v1/cases/{id}/": {"get"},
    "/api/v1/cases/{id}/transitions/": {"get"},
    "/api/v1/cases/{id}/transitions/{name}/": {"post"},
    "/api/v1/cases/{id}/history/": {"get"},
    "/api/v1/templates/": {"get"},
    "/api/v1/visits/": {"get", "post"},
    "/api/v1/visits/{id}/": {"get", "patch"},
    "/api/v1/visits/{id}/cases/": {"post"},
    # Joint inspections (cases/api/inspections.py).
    "/api/v1/inspections/": {"get", "post"},
    "/api/v1/inspections/{id}/": {"get"},
    "/api/v1/inspections/{id}/cases/": {"post"},
    # External systems (cases/api/intake.py).
    "/api/v1/intake/": {"post"},
    "/api/v1/intake/{external_id}/": {"get"},
    "/api/v1/intake/{external_id}/rating/": {"post"},
    "/api/v1/metrics/kpis/": {"get"},
    "/api/v1/metrics/safety-index/": {"get"},
    "/api/v1/metrics/hotspots/": {"get"},
    "/api/v1/metrics/coverage/": {"get"},
    # Open311 GeoReport v2 (cases/open311; tests/cases/test_open311.py checks its routes and error bodies).
    "/open311/v2/discovery.{response_format}": {"get"},
    "/open311/v2/services.{response_format}": {"get"},
    "/open311/v2/services/{service_code}.{response_format}": {"get"},
    "/open311/v2/requests.{response_format}": {"get", "post"},
    "/open311/v2/requests/{service_request_id}.{response_format}": {"get"},
    "/open311/v2/tokens/{token}.{response_format}": {"get"},
}


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("openapi") / "schema.yaml"
    # Warnings are counted per process: start from none, so only this generation counts.
    reset_generator_stats()
    # --fail-on-warn makes any warning of the generator (an unresolved type, an unnamed
    # component, a path parameter of unknown type) fail the test, and --validate checks
    # the result against the OpenAPI 3 specification.
    call_command("spectacular", "--validate", "--fail-on-warn", "--lang", "en", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]


def test_schema_documents_every_endpoint(schema):
    documented = {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()}
    assert documented == API_PATHS


def _api_routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            yield route


def test_every_routed_api_view_is_in_the_schema(schema):
    """A view added to api_urls.py without reaching the schema fails here."""
    routes = {
        "/"
        + route.replace("<int:pk>", "{id}")
        .replace("<str:name>", "{name}")
        .replace("<str:external_id>", "{external_id}")
        for route in _api_routes()
    }
    assert routes == {path for path in schema["paths"] if path.startswith("/api/v1/")}


def test_transition_step_and_errors_are_documented(schema):
    operation = schema["paths"]["/api/v1/cases/{id}/transitions/{name}/"]["post"]
    [name] = [p for p in operation["parameters"] if p["name"] == "name"]
    assert set(name["schema"]["enum"]) == {
        "assess",
        "dismiss",
        "assign",
        "send_back",
        "handle",
        "reject",
        "feed_back",
        "rate",
        # Extension, suspension and joint handling (cases/extensions.py, cases/joint.py).
        "request_extension",
        "approve_extension",
        "refuse_extension",
        "request_suspension",
        "approve_suspension",
        "refuse_suspension",
        "lift_suspension",
        "add_assist",
        "finish_assist",
        "return_assist",
        "waive_assist",
        # Mediation of dispute cases (cases/mediation.py).
        "record_mediation",
    }
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
    assert {"application/json", "multipart/form-data"} <= set(operation["requestBody"]["content"])


def test_case_list_documents_its_filters(schema):
    parameters = {p["name"] for p in schema["paths"]["/api/v1/cases/"]["get"]["parameters"]}
    assert parameters >= {
        "status",
        "category",
        "area",
        "overdue",
        "source",
        "reported_from",
        "reported_to",
        "q",
        "waiting",
        "cursor",
    }


def test_schema_and_docs_are_served(db):
    client = token_client()
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/cases/{id}/transitions/{name}/" in response.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Swagger UI's assets come from drf-spectacular-sidecar through our static files, not a CDN.
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
