"""Two-factor login in the admin and the API: the code step, enrolment, recovery codes, throttling, audit."""

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SecurityEvent
from accounts.roles import Role
from accounts.twofactor import current_code
from tests.api_support import isolate_throttling, token_client

PASSWORD = "pw-Secret-123"  # as set by the make_user fixture
VERIFY = "/admin/two-factor/verify/"
ENROL = "/admin/two-factor/enrol/"
Kind = SecurityEvent.Kind


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


def password_login(client, user, next_url="/admin/"):
    return client.post(f"/admin/login/?next={next_url}", {"username": user.username, "password": PASSWORD})


def make_device(user):
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def code_at(device, steps_ahead=0):
    """The authenticator's code ``steps_ahead`` 30-second steps from now (a code is accepted once)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def forgive_failures(device):
    """Move the last failure back in time, as if the user waited out the throttle."""
    type(device).objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(hours=1))


def redirect_target(response):
    parts = urlsplit(response["Location"])
    return parts.path, parse_qs(parts.query).get("next", [None])[0]


def admin_urls():
    urls = ["/admin/", reverse("admin:password_change"), reverse("admin:two_factor")]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        urls.append(reverse("admin:app_list", args=[opts.app_label]))
    return sorted(set(urls))


@pytest.mark.django_db
class TestCodeStep:
    def test_every_admin_url_sends_an_unverified_district_session_to_the_code_step(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        make_device(district)
        response = password_login(client, district)
        assert response.status_code == 302
        assert redirect_target(response) == (VERIFY, "/admin/")
        assert client.session.get("_auth_user_id") == str(district.pk)
        assert DEVICE_ID_SESSION_KEY not in client.session
        urls = admin_urls()
        assert len(urls) > 20
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, url
            assert redirect_target(response) == (VERIFY, url), url
        # A change page and a POST are no different.
        user_change = reverse("admin:accounts_user_change", args=[people[Role.GRID_WORKER].pk])
        assert redirect_target(client.get(user_change)) == (VERIFY, user_change)
        response = client.post(user_change, {"username": "taken_over"})
        assert redirect_target(response) == (VERIFY, user_change)
        people[Role.GRID_WORKER].refresh_from_db()
        assert people[Role.GRID_WORKER].username != "taken_over"
        # Nor does the session reach the API, nor the login page let it around the step.
        assert client.get("/api/v1/me/").status_code in (401, 403)
        assert redirect_target(client.get("/admin/login/?next=/admin/cases/case/")) == (VERIFY, "/admin/cases/case/")

    def test_wrong_code_is_refused_and_audited_right_code_lets_in(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        device = make_device(district)
        password_login(client, district, "/admin/cases/case/")
        wrong = "000000" if code_at(device) != "000000" else "111111"
        response = client.post(VERIFY, {"code": wrong, "next": "/admin/cases/case/"})
        assert response.status_code == 200
        assert response.context["form"].errors["code"]
        assert DEVICE_ID_SESSION_KEY not in client.session
        failed = SecurityEvent.objects.get(kind=Kind.OTP_FAILED)
        assert failed.actor == district and failed.target_user == district
        assert client.get("/admin/").status_code == 302

        # Throttled: even the right code waits after a miss (django-otp: 1, 2, 4, ... seconds).
        response = client.post(VERIFY, {"code": code_at(device), "next": "/admin/cases/case/"})
        assert response.status_code == 200
        assert SecurityEvent.objects.filter(kind=Kind.OTP_FAILED, detail__reason="throttled").exists()

        forgive_failures(device)
        response = client.post(VERIFY, {"code": code_at(device), "next": "/admin/cases/case/"})
        assert response.status_code == 302
        assert response["Location"] == "/admin/cases/case/"
        assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
        assert client.get("/admin/").status_code == 200
        assert SecurityEvent.objects.filter(kind=Kind.OTP_VERIFIED, actor=district).count() == 1

    def test_the_same_code_does_not_log_in_twice(self, people, client, django_user_model):
        from django.test import Client

        district = people[Role.DISTRICT_STAFF]
        device = make_device(district)
        code = code_at(device)
        password_login(client, district)
        assert client.post(VERIFY, {"code": code}).status_code == 302
        other = Client()
        password_login(other, district)
        forgive_failures(device)
        assert other.post(VERIFY, {"code": code}).status_code == 200
        assert other.get("/admin/").status_code == 302

    def test_a_code_step_redirect_elsewhere_is_not_followed(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        device = make_device(district)
        password_login(client, district)
        response = client.post(VERIFY, {"code": code_at(device), "next": "https://evil.example/"})
        assert response["Location"] == "/admin/"

    def test_a_superuser_is_asked_too(self, people, client):
        root = people["superuser"]
        make_device(root)
        assert redirect_target(password_login(client, root)) == (VERIFY, "/admin/")

    def test_the_roles_that_must_use_it_are_a_setting(self, people, client, settings):
        settings.OTP_REQUIRED_ROLES = []
        response = password_login(client, people[Role.DISTRICT_STAFF])
        assert response["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200

        settings.OTP_REQUIRED_ROLES = [Role.STREET_STAFF]
        client.logout()
        assert redirect_target(password_login(client, people[Role.STREET_STAFF]))[0] == ENROL

    def test_logging_out_works_half_way(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        make_device(district)
        password_login(client, district)
        client.post("/admin/logout/")
        assert "_auth_user_id" not in client.session


@pytest.mark.django_db
class TestEnrolment:
    def test_required_role_without_device_must_enrol_first(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        assert redirect_target(password_login(client, district)) == (ENROL, "/admin/")
        assert redirect_target(client.get("/admin/cases/case/")) == (ENROL, "/admin/cases/case/")
        assert redirect_target(client.get(VERIFY)) == (ENROL, "/admin/")

        page = client.get(ENROL + "?next=/admin/cases/case/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "<svg" in html and page.context["secret"].replace(" ", "") in html.replace(" ", "")
        device = TOTPDevice.objects.get(user=district)
        assert not device.confirmed
        # The same device while the page is reloaded: the QR code the user scanned stays valid.
        client.get(ENROL)
        assert TOTPDevice.objects.filter(user=district).count() == 1

        wrong = "000000" if code_at(device) != "000000" else "111111"
        response = client.post(ENROL, {"code": wrong, "next": "/admin/cases/case/"})
        assert response.status_code == 200 and response.context["form"].errors["code"]
        assert client.get("/admin/").status_code == 302

        forgive_failures(device)
        response = client.post(ENROL, {"code": code_at(device), "next": "/admin/cases/case/"})
        assert response.status_code == 200
        codes = response.context["codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        assert all(code in response.content.decode() for code in codes)
        device.refresh_from_db()
        assert device.confirmed
        assert set(StaticToken.objects.filter(device__user=district).values_list("token", flat=True)) == set(codes)
        assert client.get("/admin/cases/case/").status_code == 200
        assert SecurityEvent.objects.filter(kind=Kind.OTP_DEVICE_ADDED, actor=district).count() == 1
        # Shown once: sending the page again shows no codes.
        again = client.post(ENROL, {"code": code_at(device, 1)})
        assert again.status_code == 302 and "codes" not in (again.context or {})

    def test_a_recovery_code_works_once(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        make_device(district)
        recovery = StaticDevice.objects.create(user=district, name="recovery", confirmed=True)
        StaticToken.objects.create(device=recovery, token="abcd2345")
        StaticToken.objects.create(device=recovery, token="efgh6789")

        password_login(client, district)
        response = client.post(VERIFY, {"code": "ABCD 2345"})
        assert response.status_code == 302
        assert client.get("/admin/").status_code == 200
        used = SecurityEvent.objects.get(kind=Kind.RECOVERY_CODE_USED)
        assert used.actor == district and used.detail["remaining"] == 1

        client.post("/admin/logout/")
        password_login(client, district)
        response = client.post(VERIFY, {"code": "abcd2345"})
        assert response.status_code == 200
        assert client.get("/admin/").status_code == 302
        assert SecurityEvent.objects.filter(kind=Kind.OTP_FAILED, actor=district).exists()

    def test_a_session_owing_a_code_cannot_enrol_a_new_device(self, people, client):
        """Someone with the password but not the phone must not swap in their own authenticator."""
        district = people[Role.DISTRICT_STAFF]
        device = make_device(district)
        password_login(client, district)
        assert redirect_target(client.get(ENROL))[0] == VERIFY
        response = client.post(ENROL, {"code": "123456"})
        assert redirect_target(response)[0] == VERIFY
        assert list(TOTPDevice.objects.filter(user=district)) == [device]

    def test_community_official_is_not_required_but_can_enrol(self, people, client):
        official = people[Role.COMMUNITY_STAFF]
        response = password_login(client, official)
        assert response["Location"] == "/admin/"
        index = client.get("/admin/")
        assert index.status_code == 200
        assert reverse("admin:two_factor") in index.content.decode()  # the link in the user tools
        assert client.get(reverse("admin:two_factor")).context["enabled"] is False

        client.get(ENROL)
        device = TOTPDevice.objects.get(user=official, confirmed=False)
        response = client.post(ENROL, {"code": code_at(device)})
        assert len(response.context["codes"]) == 10
        assert client.get(reverse("admin:two_factor")).context["enabled"] is True

        # From now on their login asks for the code too.
        client.post("/admin/logout/")
        assert redirect_target(password_login(client, official)) == (VERIFY, "/admin/")
        assert client.post(VERIFY, {"code": code_at(device, 1)}).status_code == 302
        assert client.get("/admin/").status_code == 200

        # And they may turn it off again.
        client.post(reverse("admin:two_factor"), {"remove": "1"})
        assert not TOTPDevice.objects.filter(user=official).exists()
        assert not StaticDevice.objects.filter(user=official).exists()
        assert SecurityEvent.objects.filter(kind=Kind.OTP_DEVICE_REMOVED, actor=official).exists()

    def test_a_required_role_cannot_turn_it_off(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        client.force_login(district)  # conftest: past the code step with a device
        client.post(reverse("admin:two_factor"), {"remove": "1"})
        assert TOTPDevice.objects.filter(user=district, confirmed=True).exists()
        assert not SecurityEvent.objects.filter(kind=Kind.OTP_DEVICE_REMOVED).exists()


@pytest.mark.django_db
class TestAdministratorReset:
    def test_an_administrator_resets_a_lost_phone(self, people, client):
        official = people[Role.COMMUNITY_STAFF]
        make_device(official)
        client.force_login(people[Role.DISTRICT_STAFF])
        response = client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "reset_two_factor", "_selected_action": [official.pk]},
        )
        assert response.status_code == 302
        assert not TOTPDevice.objects.filter(user=official).exists()
        event = SecurityEvent.objects.get(kind=Kind.OTP_DEVICE_REMOVED)
        assert event.actor == people[Role.DISTRICT_STAFF] and event.target_user == official

    def test_a_community_official_cannot_reset_a_district_officials_device(self, people, client):
        district = people[Role.DISTRICT_STAFF]
        device = make_device(district)
        client.force_login(people[Role.COMMUNITY_STAFF])
        client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "reset_two_factor", "_selected_action": [district.pk]},
        )
        assert list(TOTPDevice.objects.filter(user=district)) == [device]
        assert not SecurityEvent.objects.filter(kind=Kind.OTP_DEVICE_REMOVED).exists()


@pytest.mark.django_db
class TestApi:
    def test_token_login_of_a_required_role_needs_the_code(self, people):
        district = people[Role.DISTRICT_STAFF]
        client = token_client()
        url = "/api/v1/auth/token/"
        response = client.post(url, {"username": district.username, "password": PASSWORD}, format="json")
        assert response.status_code == 400 and "otp_code" in response.json()  # no device yet

        device = make_device(district)
        response = client.post(url, {"username": district.username, "password": PASSWORD}, format="json")
        assert response.status_code == 400 and "otp_code" in response.json()
        forgive_failures(device)
        response = client.post(
            url, {"username": district.username, "password": PASSWORD, "otp_code": current_code(device)}, format="json"
        )
        assert response.status_code == 200 and response.json()["token"]

    def test_token_login_without_two_factor_stays_as_it_was(self, people):
        user = people[Role.GRID_WORKER]
        response = token_client().post(
            "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
        )
        assert response.status_code == 200
