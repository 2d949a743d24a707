"""Open311 GeoReport v2 at /open311/v2/ (cases/open311) against the specification
(http://wiki.open311.org/GeoReport_v2): the documented fields and the structure of its example responses,
its error format, in JSON and XML; filters, paging, the public categories only, and no personal data."""

import json
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.roles import Role
from cases.models import Category
from cases.services import transition_case
from tests.api_support import isolate_throttling
from tests.openapi_contract import contract

BASE = "/open311/v2/"

# The element names and their order in the specification's response tables and example responses.
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
DEFINITION_FIELDS = ["service_code", "attributes"]
# Every documented field of GET Service Requests but media_url: residents' photos are published nowhere.
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
]
CREATED_FIELDS = ["service_request_id", "service_notice", "account_id"]
TOKEN_FIELDS = ["service_request_id", "token"]
ERROR_FIELDS = ["code", "description"]
DISCOVERY_FIELDS = ["changeset", "contact", "key_service", "endpoints"]
ENDPOINT_FIELDS = ["specification", "url", "changeset", "type", "formats"]

CONTACT = {"contact_name": "张三丰", "contact_phone": "13912345678", "contact_email": "zhang@example.com"}


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


@pytest.fixture
def client():
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def get(client, path, **params):
    response = client.get(BASE + path, params)
    if path.endswith(".json"):
        # The published OpenAPI schema describes the JSON answers (and errors) of every endpoint.
        contract().check("GET", BASE + path, response.status_code, response["Content-Type"], response.content)
    return response


def body(response):
    return json.loads(response.content)


def xml(response):
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ElementTree.fromstring(response.content)  # noqa: S314 - our own answer, not untrusted input


def children(element) -> list[str]:
    return [child.tag for child in element]


def assert_error(response, status, *words, fmt="json"):
    assert response.status_code == status
    if fmt == "json":
        assert response["Content-Type"].startswith("application/json")
        errors = body(response)
        assert isinstance(errors, list) and errors
        assert all(list(e) == ERROR_FIELDS and e["code"] == status for e in errors)
        text = " ".join(e["description"] for e in errors)
    else:
        root = xml(response)
        assert root.tag == "errors" and set(children(root)) == {"error"}
        assert all(children(e) == ERROR_FIELDS and e.findtext("code") == str(status) for e in root)
        text = " ".join(e.findtext("description") for e in root)
    for word in words:
        assert word in text
    return text


@pytest.fixture
def private_category(categories):
    """A category only officials file (community correction): never an Open311 service."""
    return Category.objects.create(code="0202", name="社区矫正", parent=categories["hazard_group"], public=False)


# --- services ----------------------------------------------------------------------------------------


def test_services_list_the_public_categories_with_the_documented_fields(client, categories, private_category):
    response = get(client, "services.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    services = body(response)
    assert [s["service_code"] for s in services] == ["0101", "0201"]
    for service in services:
        assert list(service) == SERVICE_FIELDS
        assert service["metadata"] is False
        assert service["type"] == "realtime"
    dispute = services[0]
    assert dispute["service_name"] == "邻里纠纷"
    assert dispute["group"] == "矛盾纠纷调解"
    assert "邻里纠纷" in dispute["keywords"] and "矛盾纠纷调解" in dispute["keywords"]
    assert "5 working days" in dispute["description"]


def test_services_in_xml_follow_the_example_structure(client, categories, private_category):
    root = xml(get(client, "services.xml"))
    assert root.tag == "services"
    assert children(root) == ["service", "service"]
    for service in root:
        assert children(service) == SERVICE_FIELDS
        assert service.findtext("metadata") == "false"
        assert service.findtext("type") == "realtime"
    assert [s.findtext("service_code") for s in root] == ["0101", "0201"]


def test_a_service_definition_has_its_code_and_no_attributes(client, categories):
    definition = body(get(client, "services/0101.json"))
    assert list(definition) == DEFINITION_FIELDS
    assert definition == {"service_code": "0101", "attributes": []}
    root = xml(get(client, "services/0101.xml"))
    assert root.tag == "service_definition"
    assert children(root) == DEFINITION_FIELDS
    assert root.findtext("service_code") == "0101"
    assert children(root.find("attributes")) == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_or_private_service_is_404_in_the_error_format(client, categories, private_category, fmt):
    assert_error(get(client, f"services/9999.{fmt}"), 404, "service_code", "9999", fmt=fmt)
    assert_error(get(client, f"services/0202.{fmt}"), 404, "service_code", fmt=fmt)
    # A group of the responsibility list is no service either.
    assert_error(get(client, f"services/01.{fmt}"), 404, fmt=fmt)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_another_jurisdiction_is_404_and_ours_is_served(client, categories, settings, fmt):
    assert_error(get(client, f"services.{fmt}", jurisdiction_id="sfgov.org"), 404, "jurisdiction_id", fmt=fmt)
    assert get(client, f"services.{fmt}", jurisdiction_id=settings.OPEN311_JURISDICTION_ID).status_code == 200
    # "Optional": an empty parameter is the same as none.
    assert get(client, f"services.{fmt}", jurisdiction_id="").status_code == 200


# --- requests ----------------------------------------------------------------------------------------


def test_a_request_has_the_documented_fields_and_maps_the_case(client, make_case, tree):
    case = make_case("assigned", address="胜利街12号", latitude="36.712345", longitude="119.101234")
    [request] = body(get(client, "requests.json"))
    assert list(request) == REQUEST_FIELDS
    assert request["service_request_id"] == case.number
    assert request["status"] == "open"
    assert request["status_notes"] == "Passed to the handling unit"
    assert request["service_code"] == "0101"
    assert request["service_name"] == "邻里纠纷"
    assert request["description"] == "三楼楼道堆放纸箱"
    assert request["agency_responsible"] == tree.community_a.name
    assert request["address"] == "胜利街12号"
    assert request["lat"] == 36.712345 and request["long"] == 119.101234
    assert request["address_id"] is None and request["zipcode"] is None
    assert request["requested_datetime"] == timezone.localtime(case.reported_at).isoformat(timespec="seconds")
    assert request["requested_datetime"].endswith("+08:00")
    assert request["expected_datetime"] == timezone.localtime(case.handle_deadline).isoformat(timespec="seconds")
    assert "5 working days" in request["service_notice"]


def test_requests_in_xml_follow_the_example_structure(client, make_case):
    case = make_case("assigned")
    root = xml(get(client, "requests.xml"))
    assert root.tag == "service_requests"
    [request] = root
    assert request.tag == "request"
    assert children(request) == REQUEST_FIELDS
    assert request.findtext("service_request_id") == case.number
    assert request.findtext("status") == "open"
    # An empty value is an empty element, as in the example's <agency_responsible></agency_responsible>.
    assert request.find("zipcode").text is None


@pytest.mark.parametrize(
    ("status", "open311", "notes"),
    [
        ("reported", "open", "Report received"),
        ("assessed", "open", "Accepted"),
        ("handled", "open", "Handled"),
        ("fed_back", "open", "Result verified"),
        ("rated", "closed", "Rated"),
        ("closed", "closed", "Closed without a rating"),
        ("dismissed", "closed", "Not accepted"),
    ],
)
def test_terminal_states_are_closed_and_the_notes_are_the_latest_public_step(client, make_case, status, open311, notes):
    case = make_case(status)
    [request] = body(get(client, f"requests/{case.number}.json"))
    assert request["status"] == open311
    assert request["status_notes"] == notes
    if open311 == "closed":
        assert request["updated_datetime"] == timezone.localtime(case.closed_at).isoformat(timespec="seconds")


def test_status_notes_never_carry_an_internal_comment_or_step(client, make_case, people):
    case = make_case("handled")
    case = transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="reject", comment="内部意见：照片不清")
    [request] = body(get(client, f"requests/{case.number}.json"))
    # A failed verification is the office's business: the latest public step is still "Handled".
    assert request["status_notes"] == "Handled"
    assert "内部意见" not in json.dumps(request, ensure_ascii=False)


def test_status_notes_speak_chinese_by_default(make_case):
    case = make_case("assessed")
    [request] = json.loads(Client().get(f"{BASE}requests/{case.number}.json").content)
    assert request["status_notes"] == "受理"


def test_one_request_in_json_and_xml(client, make_case):
    case = make_case("reported")
    requests = body(get(client, f"requests/{case.number}.json"))
    assert [r["service_request_id"] for r in requests] == [case.number]
    root = xml(get(client, f"requests/{case.number}.xml"))
    assert root.tag == "service_requests" and children(root) == ["request"]
    assert children(root[0]) == REQUEST_FIELDS


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_request_or_one_of_a_private_category_is_404(client, make_case, private_category, fmt):
    hidden = make_case("reported", category=private_category)
    assert_error(get(client, f"requests/000.{fmt}"), 404, "service_request_id", "000", fmt=fmt)
    assert_error(get(client, f"requests/{hidden.number}.{fmt}"), 404, fmt=fmt)


def test_the_list_leaves_out_private_categories(client, make_case, private_category):
    shown = make_case("reported")
    make_case("reported", category=private_category)
    assert [r["service_request_id"] for r in body(get(client, "requests.json"))] == [shown.number]


def test_no_personal_data_leaves(client, make_case, people):
    reporter = people[Role.GRID_WORKER]
    case = make_case(
        "assigned",
        description="张三丰家门口堆物，电话13912345678，邮箱zhang@example.com，另一号码13800001111",
        address="胜利街12号 张三丰家",
        **CONTACT,
    )
    for fmt in ("json", "xml"):
        for path in (f"requests.{fmt}", f"requests/{case.number}.{fmt}"):
            text = get(client, path).content.decode()
            assert case.number in text
            for secret in [*CONTACT.values(), "13800001111", reporter.username, reporter.real_name]:
                assert secret not in text, (path, secret)
            for field in ("contact", "phone", "email", "reporter", "first_name", "last_name"):
                assert f'"{field}' not in text and f"<{field}" not in text
    [request] = body(get(client, f"requests/{case.number}.json"))
    assert request["description"].startswith("张**家门口堆物")


def test_xml_escapes_markup_and_drops_what_xml_cannot_carry(client, make_case):
    make_case("reported", description="<b>井盖</b> & 护栏\x01缺失")
    root = xml(get(client, "requests.xml"))
    assert root[0].findtext("description") == "<b>井盖</b> & 护栏缺失"


def test_filters_by_id_code_status_and_period(client, make_case, categories, tree):
    dispute_open = make_case("reported")
    dispute_closed = make_case("closed")
    hazard = make_case("reported", category=categories["hazard"])
    old = make_case("reported", now=timezone.now() - timedelta(days=120))

    def numbers(**params):
        return {r["service_request_id"] for r in body(get(client, "requests.json", **params))}

    # The latest 90 days by default.
    assert numbers() == {dispute_open.number, dispute_closed.number, hazard.number}
    assert numbers(status="open") == {dispute_open.number, hazard.number}
    assert numbers(status="closed") == {dispute_closed.number}
    assert numbers(status="open,closed") == numbers()
    assert numbers(service_code="0201") == {hazard.number}
    assert numbers(service_code="0101,0201", status="open") == {dispute_open.number, hazard.number}
    start = (timezone.now() - timedelta(days=130)).isoformat()
    end = (timezone.now() - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert numbers(start_date=start, end_date=end) == {old.number}
    # Only start_date: 90 days from it; only end_date: the 90 days before it.
    assert numbers(start_date=start) == {old.number}
    assert numbers(end_date=end) == {old.number}
    # service_request_id overrides every other argument, the period and the status included.
    assert numbers(service_request_id=f"{old.number},{dispute_closed.number}", status="open") == {
        old.number,
        dispute_closed.number,
    }


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-45T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"service_code": "0101,9999"}, "service_code"),
        ({"page": "0"}, "page"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
    ],
)
def test_a_bad_argument_is_400_naming_it(client, categories, params, field, fmt):
    assert_error(get(client, f"requests.{fmt}", **params), 400, field, fmt=fmt)


def test_pages_newest_first_with_a_link_to_the_next(client, make_case):
    made = [make_case("reported", now=timezone.now() - timedelta(hours=n)) for n in range(5)]
    newest_first = [c.number for c in made]
    first = get(client, "requests.json", page_size=2, status="open")
    assert [r["service_request_id"] for r in body(first)] == newest_first[:2]
    assert 'rel="next"' in first["Link"] and "page=2" in first["Link"] and "status=open" in first["Link"]
    second = get(client, "requests.json", page_size=2, page=2)
    assert [r["service_request_id"] for r in body(second)] == newest_first[2:4]
    last = get(client, "requests.json", page_size=2, page=3)
    assert [r["service_request_id"] for r in body(last)] == newest_first[4:]
    assert not last.has_header("Link")
    assert body(get(client, "requests.json", page_size=2, page=9)) == []


def test_the_list_takes_two_queries_whatever_its_length(client, make_case, django_assert_num_queries):
    for _ in range(3):
        make_case("assigned")
    get(client, "requests.json")  # content types cached, as in a running process
    with django_assert_num_queries(2):
        assert len(body(get(client, "requests.json"))) == 3
    for _ in range(3):
        make_case("rated")
    with django_assert_num_queries(2):
        assert len(body(get(client, "requests.json"))) == 6


# --- tokens, discovery, methods ----------------------------------------------------------------------


def test_a_token_is_a_tracking_code(client, make_case):
    case = make_case("reported")
    answer = body(get(client, f"tokens/{case.tracking_code}.json"))
    assert answer == [{"service_request_id": case.number, "token": case.tracking_code}]
    assert list(answer[0]) == TOKEN_FIELDS
    root = xml(get(client, f"tokens/{case.tracking_code.lower()}.xml"))
    assert root.tag == "service_requests" and children(root[0]) == TOKEN_FIELDS
    assert_error(get(client, "tokens/NOSUCHCODE.json"), 404, "token")
    assert_error(get(client, "tokens/NOSUCHCODE.xml"), 404, "token", fmt="xml")


def test_discovery_names_this_endpoint_and_both_formats(client):
    document = body(get(client, "discovery.json"))
    assert list(document) == DISCOVERY_FIELDS
    [endpoint] = document["endpoints"]
    assert list(endpoint) == ENDPOINT_FIELDS
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = xml(get(client, "discovery.xml"))
    assert root.tag == "discovery" and children(root) == DISCOVERY_FIELDS
    assert children(root.find("endpoints")) == ["endpoint"]
    assert set(children(root.find("endpoints/endpoint/formats"))) == {"format"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_method_the_resource_lacks_is_405_in_the_error_format(client, categories, fmt):
    response = client.delete(f"{BASE}services.{fmt}")
    assert_error(response, 405, fmt=fmt)
    assert response["Allow"]
    assert_error(client.options(f"{BASE}requests.{fmt}"), 405, fmt=fmt)
    assert client.head(f"{BASE}services.{fmt}").status_code == 200


def _open311_routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _open311_routes(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("open311/v2/"):
            yield "/" + route


def test_every_endpoint_is_in_the_openapi_schema_with_its_errors_in_both_formats():
    import re

    schema = contract().openapi
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in _open311_routes()}
    documented = {path for path in schema["paths"] if path.startswith(BASE)}
    assert routes == documented
    for path in documented:
        for operation in (op for method, op in schema["paths"][path].items() if method != "parameters"):
            for code, response in operation["responses"].items():
                assert set(response["content"]) == {"application/json", "text/xml"}, (path, code)
                if code >= "400":
                    schema_ref = response["content"]["application/json"]["schema"]
                    assert schema_ref["type"] == "array", (path, code)


# --- POST requests: registered external systems --------------------------------------------------------

SQUARE_A = [[119.10, 36.70], [119.11, 36.70], [119.11, 36.71], [119.10, 36.71], [119.10, 36.70]]
SQUARE_B = [[119.12, 36.70], [119.13, 36.70], [119.13, 36.71], [119.12, 36.71], [119.12, 36.70]]
IN_A = {"lat": "36.705", "long": "119.105"}
IN_B = {"lat": "36.705", "long": "119.125"}


@pytest.fixture
def bounded(tree):
    for grid, square in ((tree.grid_a, SQUARE_A), (tree.grid_b, SQUARE_B)):
        grid.boundary = {"type": "Polygon", "coordinates": [square]}
        grid.save()
    return tree


@pytest.fixture
def hotline(make_system, bounded):
    """Files hazards (group 02) in street A, as the hotline or video."""
    return make_system("hotline", name="12345 市民热线")


def form(key, **fields):
    # The specification's example request, with this district's service and place.
    return {
        "api_key": key,
        "service_code": "0201",
        **IN_A,
        "address_string": "胜利街12号",
        "email": "zhang@example.com",
        "device_id": "tt222111",
        "account_id": "123456",
        "first_name": "三丰",
        "last_name": "张",
        "phone": "13912345678",
        "description": "小区门口井盖缺失，夜间有安全隐患",
        "media_url": "http://example.com/photo.jpg",
        **fields,
    }


def post(client, fmt="json", data=None, **extra):
    from urllib.parse import urlencode

    path = f"{BASE}requests.{fmt}"
    response = client.post(path, urlencode(data or {}), content_type="application/x-www-form-urlencoded", **extra)
    if fmt == "json":
        contract().check("POST", path, response.status_code, response["Content-Type"], response.content)
    return response


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_system_files_a_request_through_the_one_create_service(client, hotline, bounded, fmt):
    from cases.models import Case, Source

    system, key = hotline
    response = post(client, fmt, form(key))
    assert response.status_code == 201
    case = Case.objects.get()
    if fmt == "json":
        [created] = body(response)
        assert list(created) == CREATED_FIELDS
        assert created["account_id"] is None
    else:
        root = xml(response)
        assert root.tag == "service_requests" and children(root) == ["request"]
        assert children(root[0]) == CREATED_FIELDS
        created = {child.tag: child.text for child in root[0]}
    # realtime: the id, never a token.
    assert created["service_request_id"] == case.number
    assert "token" not in created
    assert case.tracking_code in created["service_notice"]
    assert case.grid == bounded.grid_a
    assert (case.external_system, case.reporter, case.source) == (system, system.service_user, Source.HOTLINE)
    assert case.category.code == "0201"
    assert case.address == "胜利街12号"
    assert (case.contact_name, case.contact_phone, case.contact_email) == ("张三丰", "13912345678", "zhang@example.com")
    # What it filed reads back at once, without the contact it sent.
    [request] = body(get(client, f"requests/{case.number}.json"))
    assert request["status"] == "open" and request["status_notes"] == "Report received"
    assert "13912345678" not in json.dumps(request) and "张三丰" not in json.dumps(request, ensure_ascii=False)


def test_address_id_or_address_string_instead_of_a_point(client, hotline, bounded):
    from cases.models import Case

    _system, key = hotline
    place = {"lat": "", "long": ""}
    assert (
        post(client, "json", form(key, **place, address_string="", address_id=bounded.building_a.code)).status_code
        == 201
    )
    assert post(client, "json", form(key, **place, address_string="甲一网格胜利街12号")).status_code == 201
    assert [c.grid for c in Case.objects.order_by("pk")] == [bounded.grid_a, bounded.grid_a]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"service_code": ""}, "service_code"),
        ({"lat": "36.705", "long": ""}, "long"),
        ({"lat": "north", "long": "119.105"}, "lat"),
        ({"lat": "91", "long": "119.105"}, "lat"),
        ({"lat": "36.5", "long": "119.0"}, "lat"),  # outside every grid of the district
        ({"lat": "", "long": "", "address_string": ""}, "lat"),
        ({"lat": "", "long": "", "address_id": "370702999999999"}, "address_id"),
        ({"lat": "", "long": "", "address_string": "火星基地"}, "address_string"),
        ({"description": ""}, "description"),
        ({"description": "坑" * 4001}, "description"),
        ({"phone": "call me"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"source": "resident"}, "source"),
    ],
)
def test_bad_input_is_400_naming_the_field_nothing_filed_and_logged(client, hotline, fields, field, fmt):
    from cases.models import Case, IntakeRefusal

    system, key = hotline
    assert_error(post(client, fmt, form(key, **fields)), 400, field, fmt=fmt)
    assert not Case.objects.exists()
    refusal = IntakeRefusal.objects.get()
    assert (refusal.system, refusal.status_code, refusal.field) == (system, 400, field)
    assert refusal.endpoint == f"{BASE}requests.{fmt}"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_or_private_service_is_404(client, hotline, private_category, fmt):
    from cases.models import Case, IntakeRefusal

    _system, key = hotline
    assert_error(post(client, fmt, form(key, service_code="9999")), 404, "service_code", fmt=fmt)
    assert_error(post(client, fmt, form(key, service_code="0202")), 404, "service_code", fmt=fmt)
    assert not Case.objects.exists()
    assert IntakeRefusal.objects.filter(status_code=404, field="service_code").count() == 2


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"service_code": "0101"}, "service_code"),  # a category the system may not file
        (IN_B, "lat"),  # a grid outside its areas
        ({"source": "department"}, "source"),  # a source it is not registered with
    ],
)
def test_outside_the_systems_scope_is_403_naming_the_field(client, hotline, fields, field, fmt):
    from cases.models import Case, IntakeRefusal

    system, key = hotline
    assert_error(post(client, fmt, form(key, **fields)), 403, field, fmt=fmt)
    assert not Case.objects.exists()
    refusal = IntakeRefusal.objects.get()
    assert (refusal.system, refusal.status_code, refusal.field) == (system, 403, field)


def test_outside_the_areas_by_address_id_names_address_id(client, hotline, bounded):
    _system, key = hotline
    fields = {"lat": "", "long": "", "address_string": "", "address_id": bounded.grid_b.code}
    assert_error(post(client, "json", form(key, **fields)), 403, "address_id")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_without_a_valid_api_key_nothing_is_filed(client, hotline, make_system, people, fmt):
    from rest_framework.authtoken.models import Token

    from cases.models import Case

    system, key = hotline
    assert_error(post(client, fmt, form("")), 403, "api_key", fmt=fmt)
    assert_error(post(client, fmt, form("sys_not-a-key")), 403, "api_key", fmt=fmt)
    # A person's API token is not a system's key.
    token, _ = Token.objects.get_or_create(user=people[Role.DISTRICT_STAFF])
    assert_error(post(client, fmt, form(token.key)), 403, "api_key", fmt=fmt)
    # A system switched off is refused at once.
    system.is_active = False
    system.save()
    assert_error(post(client, fmt, form(key)), 403, "api_key", fmt=fmt)
    assert not Case.objects.exists()


def test_a_system_without_sources_may_not_file(client, make_system, bounded):
    from cases.models import Case

    _system, key = make_system("silent", sources=[])
    assert_error(post(client, "json", form(key)), 403, "api_key")
    assert not Case.objects.exists()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_oversize_body_is_413_unread_and_logged_when_the_key_is_in_the_query(client, hotline, settings, fmt):
    from cases.models import Case, IntakeRefusal

    system, key = hotline
    settings.INTAKE_MAX_BYTES = 1000
    data = form(key, description="坑" * 300)
    assert_error(post(client, fmt, data), 413, fmt=fmt)
    assert not IntakeRefusal.objects.exists()  # the key was in the unread body
    path = f"{BASE}requests.{fmt}?api_key={key}"
    from urllib.parse import urlencode

    response = client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")
    assert_error(response, 413, fmt=fmt)
    assert IntakeRefusal.objects.get().status_code == 413 and IntakeRefusal.objects.get().system == system
    # Over the platform's own limit the middleware answers, in the same error format.
    response = client.generic(
        "POST",
        f"{BASE}requests.{fmt}",
        b"x",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(settings.MAX_REQUEST_BYTES + 1),
    )
    assert_error(response, 413, fmt=fmt)
    assert not Case.objects.exists()


def test_a_body_that_is_not_a_form_is_415(client, hotline):
    _system, key = hotline
    response = client.post(f"{BASE}requests.json", json.dumps(form(key)), content_type="application/json")
    assert_error(response, 415)


def test_another_jurisdiction_in_the_body_is_404_and_logged(client, hotline):
    from cases.models import Case, IntakeRefusal

    _system, key = hotline
    assert_error(post(client, "json", form(key, jurisdiction_id="sfgov.org")), 404, "jurisdiction_id")
    assert not Case.objects.exists()
    refusal = IntakeRefusal.objects.get()
    assert (refusal.status_code, refusal.field) == (404, "jurisdiction_id")


def test_a_posted_request_is_public_only_as_its_document(client, hotline, people):
    """The hotline's caller reaches no one through Open311: only the request document reads back."""
    _system, key = hotline
    number = body(post(client, "json", form(key)))[0]["service_request_id"]
    for fmt in ("json", "xml"):
        text = get(client, f"requests.{fmt}").content.decode()
        assert number in text
        for secret in ("张三丰", "13912345678", "zhang@example.com", "12345 市民热线", "system-hotline"):
            assert secret not in text


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_retry_with_the_same_idempotency_key_answers_the_first_answer(client, hotline, fmt):
    from cases.models import Case

    _system, key = hotline
    first = post(client, fmt, form(key), HTTP_IDEMPOTENCY_KEY="call-0001")
    again = post(client, fmt, form(key), HTTP_IDEMPOTENCY_KEY="call-0001")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1
    # The same key with another request is refused, in the specification's error format.
    other = post(client, fmt, form(key, description="另一件事"), HTTP_IDEMPOTENCY_KEY="call-0001")
    assert_error(other, 422, "Idempotency-Key", fmt=fmt)
    assert Case.objects.count() == 1


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_too_many_requests_is_429_with_retry_after_in_the_error_format(client, categories, monkeypatch, fmt):
    from rest_framework.throttling import AnonRateThrottle

    monkeypatch.setattr(AnonRateThrottle, "rate", "2/min", raising=False)
    for _ in range(2):
        assert get(client, f"services.{fmt}").status_code == 200
    refused = get(client, f"services.{fmt}")
    assert_error(refused, 429, fmt=fmt)
    assert int(refused["Retry-After"]) > 0
