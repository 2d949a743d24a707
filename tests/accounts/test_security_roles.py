"""三员分立: the security auditor reads the audit log and nothing else; the security administrator
handles second factors and lockouts only; nobody, the superuser included, changes the log."""

import csv
import io

import pytest
from django.contrib.auth.models import Group
from openpyxl import load_workbook

from accounts import audit
from accounts.models import SecurityEvent, User
from accounts.roles import SECURITY_ADMIN, SECURITY_AUDITOR, Role

Kind = SecurityEvent.Kind
LOG = "/admin/accounts/securityevent/"
FORMULA = '=HYPERLINK("http://evil.example","查看")'


def perms_of(group_name):
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=group_name).permissions.select_related("content_type")
    }


@pytest.fixture
def auditor(db):
    user = User.objects.create_user(username="auditor", password="pw-Secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=SECURITY_AUDITOR))
    return user


@pytest.fixture
def secadmin(db):
    user = User.objects.create_user(username="secadmin", password="pw-Secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=SECURITY_ADMIN))
    return user


@pytest.fixture
def event(db):
    return audit.record(Kind.LOGIN_FAILED, username="someone", target="someone", via="web")


@pytest.mark.django_db
class TestGroups:
    def test_the_auditor_may_only_read_the_log(self):
        assert perms_of(SECURITY_AUDITOR) == {"accounts.view_securityevent"}

    def test_the_security_administrator_has_devices_and_lockouts_only(self):
        perms = perms_of(SECURITY_ADMIN)
        assert {"otp_totp.change_totpdevice", "otp_static.delete_staticdevice", "axes.delete_accessattempt"} <= perms
        assert {p.split(".")[0] for p in perms} == {"otp_totp", "otp_static", "axes"}

    def test_no_official_role_reads_the_log(self):
        for role in Role:
            assert "accounts.view_securityevent" not in perms_of(role.value), role


@pytest.mark.django_db
class TestAuditor:
    def test_sees_the_log_and_nothing_else(self, auditor, event, client, tree):
        client.force_login(auditor)
        page = client.get(LOG)
        assert page.status_code == 200 and "someone" in page.content.decode()
        assert client.get(f"{LOG}{event.pk}/change/").status_code == 200
        for url in [
            "/admin/cases/case/",
            "/admin/accounts/user/",
            "/admin/accounts/post/",
            "/admin/grids/area/",
            "/admin/metrics/exportjob/",
            "/admin/axes/accessattempt/",
        ]:
            assert client.get(url).status_code == 403, url

    def test_filters_by_kind_and_date_and_searches_by_name(self, auditor, event, client):
        audit.record(Kind.LOGOUT, username="other-person")
        client.force_login(auditor)
        by_kind = client.get(LOG, {"kind__exact": Kind.LOGOUT}).content.decode()
        assert "other-person" in by_kind and "someone" not in by_kind
        by_name = client.get(LOG, {"q": "someone"}).content.decode()
        assert "someone" in by_name and "other-person" not in by_name
        today = client.get(LOG, {"at__gte": "2000-01-01", "at__lt": "2999-01-01"})
        assert today.status_code == 200

    def test_exports_the_filtered_list_with_formulas_neutralised(self, auditor, client, settings):
        settings.LANGUAGE_CODE = "en"
        # An attacker's "username" at the login form lands in the log as typed.
        client.post("/admin/login/", {"username": FORMULA, "password": "x"})
        audit.record(Kind.LOGOUT, username="not-in-the-filter")
        client.force_login(auditor)
        response = client.get(f"{LOG}export/", {"kind__exact": Kind.LOGIN_FAILED, "format": "xlsx"})
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("Time", "Event", "By")
        assert [r[2] for r in rows[1:]] == [FORMULA]
        cell = sheet.cell(row=2, column=3)
        assert cell.data_type == "s" and cell.quotePrefix  # text, not a live formula

        response = client.get(f"{LOG}export/", {"kind__exact": Kind.LOGIN_FAILED, "format": "csv"})
        text = response.content.decode("utf-8-sig")
        (header, row) = list(csv.reader(io.StringIO(text)))
        assert row[2] == "'" + FORMULA and "not-in-the-filter" not in text

        exports = SecurityEvent.objects.filter(kind=Kind.DATA_EXPORT, actor=auditor)
        assert exports.count() == 2
        assert {e.detail["rows"] for e in exports} == {1}
        assert all(
            e.detail["export"] == "security_log" and "kind__exact=login_failed" in e.detail["filters"] for e in exports
        )


@pytest.mark.django_db
class TestNobodyChangesTheLog:
    def test_not_even_the_superuser(self, people, event, client):
        client.force_login(people["superuser"])
        assert client.get(LOG).status_code == 200
        assert client.get(f"{LOG}add/").status_code == 403
        assert client.post(f"{LOG}add/", {"kind__exact": Kind.LOGIN, "actor_name": "forged"}).status_code == 403
        assert client.post(f"{LOG}{event.pk}/change/", {"actor_name": "changed"}).status_code == 403
        assert client.post(f"{LOG}{event.pk}/delete/", {"post": "yes"}).status_code == 403
        client.post(LOG, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
        event.refresh_from_db()
        assert event.actor_name == "someone"
        assert not SecurityEvent.objects.filter(actor_name="forged").exists()

    def test_the_auditor_cannot_change_or_delete_either(self, auditor, event, client):
        client.force_login(auditor)
        assert client.post(f"{LOG}{event.pk}/change/", {"actor_name": "changed"}).status_code == 403
        assert client.post(f"{LOG}{event.pk}/delete/", {"post": "yes"}).status_code == 403
        assert SecurityEvent.objects.filter(pk=event.pk, actor_name="someone").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF])
def test_officials_cannot_see_the_log(role, people, event, client):
    client.force_login(people[role])
    assert client.get(LOG).status_code == 403
    assert client.get(f"{LOG}{event.pk}/change/").status_code == 403
    assert client.get(f"{LOG}export/").status_code == 403


@pytest.mark.django_db
def test_the_security_administrator_unlocks_but_reads_neither_log_nor_cases(secadmin, client, people):
    client.force_login(secadmin)
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 200
    for url in [LOG, "/admin/cases/case/", "/admin/accounts/user/", "/admin/grids/area/"]:
        assert client.get(url).status_code == 403, url
