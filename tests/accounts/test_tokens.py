"""API tokens: they expire, are reissued, are revoked on password change and deactivation,
and can be seen and revoked by their user and by the user's administrators."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token

from accounts.models import SecurityEvent
from accounts.roles import Role
from tests.api_support import isolate_throttling, token_client

Kind = SecurityEvent.Kind
PASSWORD = "pw-Secret-123"  # as set by the make_user fixture
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


def age(token, hours):
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(hours=hours))


@pytest.mark.django_db
class TestExpiry:
    def test_an_expired_token_is_refused_with_a_clear_message(self, people, settings):
        settings.API_TOKEN_TTL_HOURS = 24
        user = people[Role.GRID_WORKER]
        client = token_client(user)
        assert client.get("/api/v1/me/").status_code == 200
        age(Token.objects.get(user=user), 25)
        response = client.get("/api/v1/me/")
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]
        zh = client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert zh.status_code == 401 and "过期" in zh.json()["detail"]

    def test_logging_in_again_issues_a_fresh_token(self, people):
        user = people[Role.GRID_WORKER]
        client = token_client()
        first = client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json").json()["token"]
        again = client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json").json()["token"]
        assert again == first  # still valid: the same token
        age(Token.objects.get(user=user), 24 * 8)
        # Even with the expired token still in the header, the login itself is not refused.
        client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
        response = client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")
        assert response.status_code == 200
        fresh = response.json()["token"]
        assert fresh != first
        assert list(Token.objects.filter(user=user).values_list("key", flat=True)) == [fresh]
        assert SecurityEvent.objects.filter(kind=Kind.TOKEN_ISSUED, actor=user).count() == 2
        client.credentials(HTTP_AUTHORIZATION=f"Token {fresh}")
        assert client.get("/api/v1/me/").status_code == 200


@pytest.mark.django_db
class TestRevocation:
    def test_a_password_change_revokes_the_token(self, people):
        from accounts.services import set_password

        user = people[Role.GRID_WORKER]
        client = token_client(user)
        set_password(actor=user, user=user, raw_password="Brand-new-pass-1")
        assert client.get("/api/v1/me/").status_code == 401

    def test_deactivation_in_the_admin_revokes_the_token(self, people, client):
        worker = people[Role.GRID_WORKER]
        api = token_client(worker)
        client.force_login(people[Role.COMMUNITY_STAFF])
        url = reverse("admin:accounts_user_change", args=[worker.pk])
        form = client.get(url).context["adminform"].form
        data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
        data.update({"is_active": "", "posts-TOTAL_FORMS": "0", "posts-INITIAL_FORMS": "0"})
        client.post(url, data)
        worker.refresh_from_db()
        assert not worker.is_active
        assert not Token.objects.filter(user=worker).exists()
        assert SecurityEvent.objects.filter(kind=Kind.TOKEN_REVOKED, target_user=worker, detail__reason="deactivated")
        assert api.get("/api/v1/me/").status_code == 401

    def test_the_user_sees_and_revokes_their_own_token(self, people):
        user = people[Role.GRID_WORKER]
        client = token_client(user)
        body = client.get(TOKEN_URL).json()
        token = Token.objects.get(user=user)
        expires = token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS)
        assert parse_datetime(body["expires"]) == expires
        assert "key" not in body
        assert client.delete(TOKEN_URL).status_code == 204
        assert not Token.objects.filter(user=user).exists()
        assert SecurityEvent.objects.get(kind=Kind.TOKEN_REVOKED).actor == user
        assert client.get("/api/v1/me/").status_code == 401
        assert token_client().get(TOKEN_URL).status_code == 401

    def test_an_administrator_revokes_the_token_of_someone_they_administer(self, people, client):
        worker = people[Role.GRID_WORKER]
        Token.objects.create(user=worker)
        client.force_login(people[Role.COMMUNITY_STAFF])
        response = client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "revoke_api_tokens", "_selected_action": [worker.pk]},
        )
        assert response.status_code == 302
        assert not Token.objects.filter(user=worker).exists()
        event = SecurityEvent.objects.get(kind=Kind.TOKEN_REVOKED)
        assert event.actor == people[Role.COMMUNITY_STAFF] and event.target_user == worker

    def test_a_community_official_cannot_revoke_a_district_officials_token(self, people, client, tree, make_user):
        district = people[Role.DISTRICT_STAFF]
        peer = make_user(Role.COMMUNITY_STAFF, area=tree.community_a, username="community_a_sup", supervisor=True)
        tokens = [Token.objects.create(user=district), Token.objects.create(user=peer)]
        client.force_login(people[Role.COMMUNITY_STAFF])
        client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "revoke_api_tokens", "_selected_action": [district.pk, peer.pk]},
        )
        assert set(Token.objects.values_list("pk", flat=True)) == {t.pk for t in tokens}
        assert not SecurityEvent.objects.filter(kind=Kind.TOKEN_REVOKED).exists()

    def test_the_service_refuses_it_too(self, people):
        from django.core.exceptions import PermissionDenied

        from accounts.services import revoke_token

        district = people[Role.DISTRICT_STAFF]
        Token.objects.create(user=district)
        with pytest.raises(PermissionDenied):
            revoke_token(actor=people[Role.COMMUNITY_STAFF], user=district)
        assert Token.objects.filter(user=district).exists()


@pytest.mark.django_db
class TestCredentials:
    """ExpiringTokenAuthentication reads the token and its user in one statement built once per process
    (gov_platform.prepared), and gives them as DRF's select_related("user") did."""

    def test_the_token_and_user_as_drf_gives_them(self, people, django_assert_num_queries):
        from rest_framework.authentication import TokenAuthentication

        from accounts.authentication import ExpiringTokenAuthentication

        user = people[Role.GRID_WORKER]
        key = Token.objects.create(user=user).key
        expected_user, expected_token = TokenAuthentication().authenticate_credentials(key)
        for _ in range(2):  # planned, then from the plan
            with django_assert_num_queries(1):
                got_user, got_token = ExpiringTokenAuthentication().authenticate_credentials(key)
            with django_assert_num_queries(0):
                assert got_token.user is got_user
                assert got_user.auth_token is got_token
            assert (got_user, got_token) == (expected_user, expected_token)
            assert got_user.__dict__.keys() == expected_user.__dict__.keys()
            for name in ("password", "username", "is_active", "is_superuser", "last_login", "real_name", "language"):
                assert getattr(got_user, name) == getattr(expected_user, name)
            assert got_token.created == expected_token.created
            assert not got_user._state.adding and got_user._state.db == "default"

    def test_an_unknown_key_and_an_inactive_user_get_drfs_answers(self, people):
        user = people[Role.GRID_WORKER]
        client = token_client(user)
        assert client.get("/api/v1/me/").status_code == 200
        # Past the signals that revoke a deactivated user's token: the token is still there, its user is not.
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        response = client.get("/api/v1/me/")
        assert response.status_code == 401
        assert response.json()["detail"] == "User inactive or deleted."
        response = token_client().get("/api/v1/me/", HTTP_AUTHORIZATION="Token " + "0" * 40)
        assert response.status_code == 401
        assert response.json()["detail"] == "Invalid token."
