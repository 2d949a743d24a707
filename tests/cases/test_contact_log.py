"""Views of a resident's unmasked contact go to the security audit log (who, which case, when, from
where), in the admin and in the API; masked or empty contacts do not."""

import pytest

from accounts.models import SecurityEvent
from accounts.roles import Role
from cases.selectors import contact_for

Kind = SecurityEvent.Kind
PHONE = "13912345678"

pytestmark = pytest.mark.django_db


def views():
    return list(SecurityEvent.objects.filter(kind=Kind.CONTACT_VIEWED).order_by("pk"))


@pytest.fixture
def case(make_case):
    return make_case("assessed", contact_name="王芳", contact_phone=PHONE)


@pytest.fixture
def colleague(make_user, tree):
    """A second grid worker of the case's grid: sees the case, not the reporter, so the contact is masked."""
    return make_user(Role.GRID_WORKER, area=tree.grid_a)


def test_admin_page_with_the_contact_unmasked_is_logged(case, people, client):
    staff = people[Role.COMMUNITY_STAFF]  # the dispatcher sees the contact
    assert not contact_for(staff, case)["masked"]
    client.force_login(staff)
    page = client.get(f"/admin/cases/case/{case.pk}/change/", REMOTE_ADDR="198.51.100.20")
    assert page.status_code == 200 and PHONE in page.content.decode()
    (event,) = views()
    assert (event.actor, event.target, event.ip_address, event.detail) == (
        staff,
        case.number,
        "198.51.100.20",
        {"via": "web"},
    )


def test_masked_contact_is_not_logged(case, colleague, client):
    viewer = colleague
    assert contact_for(viewer, case)["masked"]
    client.force_login(viewer)
    page = client.get(f"/admin/cases/case/{case.pk}/change/")
    assert page.status_code == 200 and PHONE not in page.content.decode()
    assert views() == []


def test_case_without_a_contact_is_not_logged(make_case, people, client):
    case = make_case("assessed")
    client.force_login(people[Role.COMMUNITY_STAFF])
    assert client.get(f"/admin/cases/case/{case.pk}/change/").status_code == 200
    assert views() == []


def test_api_detail_with_the_contact_unmasked_is_logged(case, people, client):
    staff = people[Role.COMMUNITY_STAFF]
    client.force_login(staff)
    response = client.get(f"/api/v1/cases/{case.pk}/", REMOTE_ADDR="198.51.100.21")
    assert response.status_code == 200 and response.json()["contact"]["phone"] == PHONE
    (event,) = views()
    assert (event.actor, event.target, event.ip_address, event.detail) == (
        staff,
        case.number,
        "198.51.100.21",
        {"via": "api"},
    )


def test_api_detail_masked_or_out_of_scope_is_not_logged(case, colleague, people, client):
    client.force_login(colleague)
    assert client.get(f"/api/v1/cases/{case.pk}/").json()["contact"]["masked"] is True
    client.force_login(people[Role.DEPARTMENT_STAFF])  # another unit: the case is not theirs
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 404
    assert views() == []
