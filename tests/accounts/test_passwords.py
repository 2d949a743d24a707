"""Password rules and the one way a password is set (accounts.services.set_password)."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import PasswordHistory, SecurityEvent
from accounts.roles import Role
from accounts.services import set_password

Kind = SecurityEvent.Kind
PASSWORD = "pw-Secret-123"  # as set by the make_user fixture


def refused_codes(password, user=None):
    try:
        validate_password(password, user)
    except ValidationError as error:
        return {e.code for e in error.error_list}
    return set()


@pytest.mark.django_db
class TestRules:
    def test_length_and_kinds_of_character(self, people):
        user = people[Role.GRID_WORKER]
        assert "password_too_short" in refused_codes("Ab1!xyz", user)
        assert "password_too_simple" in refused_codes("alllowercaseletters", user)
        assert "password_too_simple" in refused_codes("lowerand12345678", user)
        assert refused_codes("lower-and-12345", user) == set()
        assert refused_codes("Lower And Upper 7", user) == set()
        assert refused_codes("ZhongWen密码2026", user) == set()  # a non-ASCII character counts as a symbol

    def test_not_like_the_username(self, make_user):
        user = make_user(username="wangxiaoming88")
        assert "password_too_similar" in refused_codes("Wangxiaoming88!", user)

    def test_not_one_of_the_last_five(self, people):
        user = people[Role.GRID_WORKER]
        history = ["Second-pass-2", "Third-pass-3", "Fourth-pass-4", "Fifth-pass-5", "Sixth-pass-6"]
        for password in history:
            set_password(actor=user, user=user, raw_password=password)
        user.refresh_from_db()
        # The current one and the four before it are refused; the one before those is allowed again.
        for password in history:
            assert "password_reused" in refused_codes(password, user), password
        assert refused_codes(PASSWORD, user) == set()
        assert PasswordHistory.objects.filter(user=user).count() == 5

    def test_the_demo_password_meets_the_rules(self, make_user):
        from demo.district import DEMO_PASSWORD, LOGINS

        for username, _label in LOGINS:
            assert refused_codes(DEMO_PASSWORD, make_user(username=username)) == set(), username


@pytest.mark.django_db
class TestSetPassword:
    def test_own_change_keeps_history_revokes_the_token_and_is_audited(self, people):
        user = people[Role.GRID_WORKER]
        old_hash = user.password
        Token.objects.create(user=user)
        set_password(actor=user, user=user, raw_password="New-secret-456")
        user.refresh_from_db()
        assert user.check_password("New-secret-456")
        assert list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True)) == [old_hash]
        assert not Token.objects.filter(user=user).exists()
        assert SecurityEvent.objects.filter(kind=Kind.TOKEN_REVOKED, target_user=user).exists()
        event = SecurityEvent.objects.get(kind=Kind.PASSWORD_CHANGED)
        assert event.actor == user and event.target_user == user

    def test_a_bad_password_changes_nothing(self, people):
        user = people[Role.GRID_WORKER]
        with pytest.raises(ValidationError):
            set_password(actor=user, user=user, raw_password="short")
        user.refresh_from_db()
        assert user.check_password(PASSWORD)
        assert not PasswordHistory.objects.exists()
        assert not SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED).exists()

    def test_a_reset_by_an_administrator_is_audited_as_a_reset(self, people):
        official, worker = people[Role.COMMUNITY_STAFF], people[Role.GRID_WORKER]
        set_password(actor=official, user=worker, raw_password="Reset-by-boss-1")
        event = SecurityEvent.objects.get(kind=Kind.PASSWORD_RESET)
        assert event.actor == official and event.target_user == worker

    def test_refused_for_someone_the_actor_does_not_administer(self, people, make_user, tree):
        community, district = people[Role.COMMUNITY_STAFF], people[Role.DISTRICT_STAFF]
        with pytest.raises(PermissionDenied):
            set_password(actor=community, user=district, raw_password="Taken-over-999")
        district.refresh_from_db()
        assert district.check_password(PASSWORD)
        peer = make_user(Role.COMMUNITY_STAFF, area=tree.community_a, username="community_a_sup", supervisor=True)
        with pytest.raises(PermissionDenied):
            set_password(actor=community, user=peer, raw_password="Taken-over-999")
        assert not SecurityEvent.objects.filter(kind=Kind.PASSWORD_RESET).exists()


@pytest.mark.django_db
class TestAdminPages:
    def test_own_password_change_page_goes_through_the_rules(self, people, client):
        user = people[Role.COMMUNITY_STAFF]
        client.force_login(user)
        url = reverse("admin:password_change")
        response = client.post(
            url, {"old_password": PASSWORD, "new_password1": "simplepassword", "new_password2": "simplepassword"}
        )
        assert response.status_code == 200 and response.context["form"].errors
        response = client.post(url, {"old_password": PASSWORD, "new_password1": PASSWORD, "new_password2": PASSWORD})
        assert "new_password2" in response.context["form"].errors  # the current one again
        response = client.post(
            url, {"old_password": PASSWORD, "new_password1": "Fresh-pass-2026", "new_password2": "Fresh-pass-2026"}
        )
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.check_password("Fresh-pass-2026")
        assert PasswordHistory.objects.filter(user=user).count() == 1
        assert SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED, actor=user).exists()
        assert client.get("/admin/").status_code == 200  # still logged in

    def test_administrator_sets_a_password_through_the_service(self, people, client):
        official, worker = people[Role.COMMUNITY_STAFF], people[Role.GRID_WORKER]
        Token.objects.create(user=worker)
        client.force_login(official)
        url = reverse("admin:auth_user_password_change", args=[worker.pk])
        response = client.post(
            url, {"password1": "Given-by-boss-7", "password2": "Given-by-boss-7", "usable_password": "true"}
        )
        assert response.status_code == 302
        worker.refresh_from_db()
        assert worker.check_password("Given-by-boss-7")
        assert not Token.objects.filter(user=worker).exists()
        event = SecurityEvent.objects.get(kind=Kind.PASSWORD_RESET)
        assert event.actor == official and event.target_user == worker

    def test_a_community_official_cannot_reset_a_district_officials_password(self, people, client):
        community, district = people[Role.COMMUNITY_STAFF], people[Role.DISTRICT_STAFF]
        client.force_login(community)
        url = reverse("admin:auth_user_password_change", args=[district.pk])
        response = client.post(
            url, {"password1": "Taken-over-999", "password2": "Taken-over-999", "usable_password": "true"}
        )
        assert response.status_code in (302, 403, 404)
        district.refresh_from_db()
        assert district.check_password(PASSWORD)
        assert not SecurityEvent.objects.filter(kind=Kind.PASSWORD_RESET).exists()
