"""The privacy officer's data-subject request pages in the admin (cases/subject_requests.py)."""

import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import SecurityEvent, User
from accounts.roles import Role
from cases.models import Case

SEARCH = reverse("admin:cases_case_subject_request")
EXPORT = reverse("admin:cases_case_subject_request_export")
ERASE = reverse("admin:cases_case_subject_request_erase")
PHONE = "13912345678"


MY_KINDS = [SecurityEvent.Kind.SUBJECT_REQUEST, SecurityEvent.Kind.DATA_EXPORT, SecurityEvent.Kind.CONTACT_ERASED]


@pytest.fixture(autouse=True)
def _password_login_is_enough(settings):
    # Two-factor login has its own tests; here the pages behind the login are under test.
    settings.OTP_REQUIRED_ROLES = []
    settings.OTP_REQUIRED_FOR_SUPERUSERS = False


@pytest.fixture
def officer(db):
    user = User.objects.create_user(username="privacy", password="pw-Secret-123", is_staff=True)
    # The group and its permission come from the data migration, as in production.
    user.groups.add(Group.objects.get(name="privacy_officer"))
    return user


@pytest.fixture
def resident_cases(make_case, tree):
    return {
        "street_a": make_case(
            "rated", contact_name="王女士", contact_phone=PHONE, title='=HYPERLINK("http://evil.example","查看")'
        ),
        "street_b": make_case(grid=tree.grid_b, contact_phone=PHONE, contact_email="w@example.com"),
        "neighbour": make_case(contact_name="李先生", contact_phone="13912345670"),
    }


def _events(kind):
    return list(SecurityEvent.objects.filter(kind=kind))


def test_the_officer_finds_every_case_of_the_contact_in_the_district(client, officer, resident_cases):
    client.force_login(officer)
    page = client.get(SEARCH)
    assert page.status_code == 200
    assert "csrfmiddlewaretoken" in page.content.decode()

    response = client.post(SEARCH, {"contact": "139-1234-5678"})

    assert response.status_code == 200
    text = response.content.decode()
    assert resident_cases["street_a"].number in text and resident_cases["street_b"].number in text
    assert resident_cases["neighbour"].number not in text and "李先生" not in text
    (event,) = _events(SecurityEvent.Kind.SUBJECT_REQUEST)
    assert (event.actor, event.target, event.detail["count"]) == (officer, "139****5678", 2)
    assert PHONE not in str(event.detail)


@pytest.mark.parametrize("typed", ["139123", "1391234567%", "139____5678", "13912345678 OR 1=1", "@example.com"])
def test_no_partial_or_wildcard_search(client, officer, resident_cases, typed):
    client.force_login(officer)
    response = client.post(SEARCH, {"contact": typed})
    assert response.status_code == 400
    assert resident_cases["street_a"].number not in response.content.decode()
    assert not SecurityEvent.objects.filter(kind__in=MY_KINDS).exists()


def test_a_prefix_finds_nothing(client, officer, resident_cases):
    client.force_login(officer)
    response = client.post(SEARCH, {"contact": "1391234567"})
    assert response.status_code == 200
    assert resident_cases["neighbour"].number not in response.content.decode()
    assert _events(SecurityEvent.Kind.SUBJECT_REQUEST)[0].detail["count"] == 0


def test_export_holds_the_cases_and_the_contact_with_formulas_neutralised(client, officer, resident_cases):
    client.force_login(officer)
    response = client.post(EXPORT, {"contact": PHONE})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert PHONE not in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    numbers = {row[0] for row in rows[2:]}
    assert numbers == {resident_cases["street_a"].number, resident_cases["street_b"].number}
    title_cell = next(
        cell for row in sheet.iter_rows() for cell in row if cell.value and str(cell.value).startswith("=HYPERLINK")
    )
    assert title_cell.data_type == "s"  # text, not a live formula
    assert any(PHONE in (row[9] or "") for row in rows[2:])
    (event,) = _events(SecurityEvent.Kind.DATA_EXPORT)
    assert (event.actor, event.target, event.detail["count"]) == (officer, "139****5678", 2)


def test_erase_asks_first_then_erases_every_case_of_the_contact(client, officer, resident_cases):
    client.force_login(officer)
    confirm = client.post(ERASE, {"contact": PHONE})
    assert confirm.status_code == 200
    assert 'name="confirmed" value="yes"' in confirm.content.decode()
    assert Case.objects.get(pk=resident_cases["street_a"].pk).contact_phone == PHONE  # nothing yet

    done = client.post(ERASE, {"contact": PHONE, "confirmed": "yes"})

    assert done.status_code == 302 and done["Location"] == SEARCH
    for name in ("street_a", "street_b"):
        case = Case.objects.get(pk=resident_cases[name].pk)
        assert (case.contact_name, case.contact_phone, case.contact_email) == ("", "", "")
        assert case.contact_erased_at is not None
    assert Case.objects.get(pk=resident_cases["neighbour"].pk).contact_phone == "13912345670"
    (event,) = _events(SecurityEvent.Kind.CONTACT_ERASED)
    assert (event.actor, event.target, event.detail["count"]) == (officer, "139****5678", 2)
    again = client.post(SEARCH, {"contact": PHONE})
    assert resident_cases["street_a"].number not in again.content.decode()


def test_erase_needs_a_post_with_a_csrf_token(officer, resident_cases):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    assert client.get(ERASE).status_code == 405
    assert client.post(ERASE, {"contact": PHONE, "confirmed": "yes"}).status_code == 403
    assert Case.objects.get(pk=resident_cases["street_a"].pk).contact_phone == PHONE


@pytest.mark.parametrize("role", [Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF])
def test_officials_without_the_permission_get_403_everywhere(client, people, resident_cases, role):
    client.force_login(people[role])
    assert client.get(SEARCH).status_code == 403
    assert client.post(SEARCH, {"contact": PHONE}).status_code == 403
    assert client.post(EXPORT, {"contact": PHONE}).status_code == 403
    assert client.post(ERASE, {"contact": PHONE}).status_code == 403
    assert client.post(ERASE, {"contact": PHONE, "confirmed": "yes"}).status_code == 403
    assert Case.objects.get(pk=resident_cases["street_a"].pk).contact_phone == PHONE
    assert not SecurityEvent.objects.filter(kind__in=MY_KINDS).exists()
    assert "subject-request-link" not in client.get(reverse("admin:index")).content.decode()


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(SEARCH)
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_superusers_and_the_officer_see_the_link_on_the_admin_index(client, officer, people):
    for user in (officer, people["superuser"]):
        client.force_login(user)
        assert "subject-request-link" in client.get(reverse("admin:index")).content.decode()


def test_the_page_reads_in_chinese(officer, resident_cases):
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(officer)
    text = client.post(SEARCH, {"contact": PHONE}).content.decode()
    assert "居民个人信息权利请求" in text
    assert "联系方式为 139****5678 的案件共 2 件" in text
    assert "导出为 Excel" in text and "删除该联系方式" in text
    confirm = client.post(ERASE, {"contact": PHONE}).content.decode()
    assert "确定删除这 2 个案件中的姓名、电话和电子邮箱吗" in confirm
    done = client.post(ERASE, {"contact": PHONE, "confirmed": "yes"}, follow=True).content.decode()
    assert "已从 2 个案件中删除联系方式 139****5678。" in done


def test_the_export_reads_in_chinese(officer, resident_cases):
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(officer)
    sheet = load_workbook(io.BytesIO(client.post(EXPORT, {"contact": PHONE}).content)).active
    header = [cell.value for cell in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert header[:3] == ["案件编号", "上报时间", "状态"] and "标题" in header and "联系电话" in header


def test_the_export_lists_followed_cases_without_the_reporters_contact(client, officer, resident_cases):
    from cases.followers import contact_key
    from cases.models import CaseFollower

    neighbour = resident_cases["neighbour"]
    CaseFollower.objects.create(case=neighbour, phone=PHONE, contact_key=contact_key(PHONE, ""))
    client.force_login(officer)

    response = client.post(EXPORT, {"contact": PHONE})

    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    by_number = {row[0]: row for row in rows[2:]}
    assert set(by_number) == {c.number for c in resident_cases.values()}
    # The neighbour reported that case: their name and number are not this resident's to take away.
    assert "李先生" not in str(by_number[neighbour.number]) and "13912345670" not in str(by_number[neighbour.number])
    assert by_number[neighbour.number][-1] == "关注人"
    assert by_number[resident_cases["street_a"].number][-1] == "上报人"
