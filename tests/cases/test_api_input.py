"""What the case API accepts as a report (issue 17, Low items) and the values its schema now declares.

Every response here also passes the schema check of tests/conftest.py; the assertions name the values
the schema used to deny.
"""

import pytest

from accounts.roles import Role
from cases import services
from cases.models import Case, Category
from tests.api_support import isolate_throttling, token_client
from tests.cases.test_api import _report, case_at, url  # noqa: F401 (case_at is a fixture)
from tests.openapi_contract import contract


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"


def _schema_admits(component, field, value):
    return contract().errors(f"/components/schemas/{component}/properties/{field}", value) == []


# --- the API stores any text as a contact phone ---------------------------------------------------
@pytest.mark.parametrize(
    "phone",
    [
        "call me maybe",
        "12345",
        "1391234567",
        "139123456789",
        "23912345678",
        "1391234567a",
        "+86 13912345678",
        "<b>1</b>",
    ],
)
def test_api_refuses_a_contact_phone_that_is_not_a_phone(people, categories, tree, phone):
    response = token_client(people[Role.GRID_WORKER]).post(
        url(), _report(categories, tree, contact_phone=phone), format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["contact_phone"]
    assert response.json()["contact_phone"][0].startswith("Enter a phone number")
    assert not Case.objects.exists()


@pytest.mark.parametrize("phone", ["13912345678", "19800001111", "0536-1234567", "05361234567", "010-12345678"])
def test_api_accepts_a_mobile_or_a_landline(people, categories, tree, phone):
    response = token_client(people[Role.GRID_WORKER]).post(
        url(), _report(categories, tree, contact_phone=phone), format="json"
    )
    assert response.status_code == 201, response.content
    assert Case.objects.get().contact_phone == phone


def test_api_refuses_a_contact_email_that_is_not_an_email(people, categories, tree):
    response = token_client(people[Role.GRID_WORKER]).post(
        url(), _report(categories, tree, contact_email="not-an-email"), format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["contact_email"]
    assert not Case.objects.exists()


def test_contact_phone_message_is_chinese(people, categories, tree):
    client = token_client(people[Role.GRID_WORKER])
    response = client.post(
        url(), _report(categories, tree, contact_phone="随便写"), format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 400
    assert "大陆手机号" in response.json()["contact_phone"][0]


def test_service_refuses_a_bad_contact_for_every_caller(people, categories, tree):
    """The admin, intake and anything else go through create_case: the same rule holds there."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        services.create_case(
            actor=people[Role.GRID_WORKER],
            title="t",
            description="d",
            category=categories["dispute"],
            grid=tree.grid_a,
            contact_phone="call me",
            contact_email="nope",
        )
    assert set(caught.value.message_dict) == {"contact_phone", "contact_email"}


def test_admin_add_form_refuses_a_bad_contact_phone(people, client, tree, categories):
    client.force_login(people[Role.GRID_WORKER])
    response = client.post(
        "/admin/cases/case/add/",
        {
            "title": "井盖缺失",
            "description": "人行道井盖缺失",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.pk,
            "source": "grid_patrol",
            "priority": "normal",
            "contact_phone": "call me maybe",
        },
    )
    assert response.status_code == 200
    assert "contact_phone" in response.context["adminform"].form.errors
    assert not Case.objects.exists()


# --- staff can file a case with source=resident -------------------------------------------------------
@pytest.mark.parametrize("who", ["superuser", Role.DISTRICT_STAFF, Role.COMMUNITY_STAFF, Role.GRID_WORKER])
def test_staff_cannot_file_source_resident_through_the_api(people, categories, tree, who):
    response = token_client(people[who]).post(
        url(), _report(categories, tree, source="resident"), format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["source"]
    assert "居民" in response.json()["source"][0]
    assert not Case.objects.exists()


def test_staff_may_still_file_a_hotline_case(people, categories, tree):
    response = token_client(people[Role.COMMUNITY_STAFF]).post(
        url(), _report(categories, tree, source="hotline"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "hotline"


# --- response schemas say non-null/enum where null and "" are returned ---------------------------------
def test_schema_me_posts_area_and_department_may_be_null(people, tree):
    body = token_client(people[Role.DEPARTMENT_STAFF]).get("/api/v1/me/").json()
    [post] = body["posts"]
    assert post["area"] is None and post["department"]["code"] == tree.dept_a.code
    body = token_client(people[Role.GRID_WORKER]).get("/api/v1/me/").json()
    assert body["posts"][0]["department"] is None
    assert _schema_admits("Post", "area", None) and _schema_admits("Post", "department", None)


def test_schema_categories_default_department_may_be_null(people, categories):
    Category.objects.filter(pk=categories["dispute"].pk).update(default_department=None)
    rows = token_client(people[Role.GRID_WORKER]).get("/api/v1/categories/").json()
    assert {row["code"]: row["default_department"] for row in rows}["0101"] is None
    assert _schema_admits("Category", "default_department", None)


def test_schema_areas_parent_may_be_null(people, tree):
    rows = token_client(people["superuser"]).get("/api/v1/areas/", {"tier": "district"}).json()["results"]
    assert [row["parent"] for row in rows] == [None]
    assert _schema_admits("Area", "parent", None)


def test_schema_dismiss_reason_and_rating_may_be_blank(people, case_at):  # noqa: F811
    case = case_at("reported")
    body = token_client(people["superuser"]).get(url(case)).json()
    assert (body["dismiss_reason"], body["rating"], body["dispatcher_area"]) == ("", "", None)
    assert _schema_admits("CaseDetail", "dismiss_reason", "")
    assert _schema_admits("CaseDetail", "rating", "")
    assert not _schema_admits("CaseDetail", "rating", "great")


def test_schema_dismissed_case_has_a_reason_and_no_rating(people, case_at):  # noqa: F811
    case = case_at("dismissed")
    body = token_client(people["superuser"]).get(url(case)).json()
    assert (body["dismiss_reason"], body["rating"]) == ("not_real", "")
