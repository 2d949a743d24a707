"""The API's login, who-am-I and the areas a user sees."""

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import AnonRateThrottle

from accounts.roles import Role
from tests.api_support import isolate_throttling, token_client

TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "pw-Secret-123"  # as set by the make_user fixture


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


def test_token_login_then_me(people):
    user = people[Role.COMMUNITY_STAFF]
    client = token_client()
    response = client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=user).key == token

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == user.username
    assert body["real_name"] == user.real_name
    assert body["display_name"] == user.real_name
    [post] = body["posts"]
    assert post["role"] == Role.COMMUNITY_STAFF
    assert post["area"]["code"] == "370702001001"
    assert post["department"] is None
    assert post["is_supervisor"] is False


def test_token_login_with_a_form_post(people):
    user = people[Role.GRID_WORKER]
    response = token_client().post(TOKEN_URL, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["token"]


def test_me_shows_a_department_post_and_supervisor_flag(tree, make_user):
    user = make_user(Role.DEPARTMENT_STAFF, department=tree.dept_a, supervisor=True, username="dept_sup")
    body = token_client(user).get("/api/v1/me/").json()
    [post] = body["posts"]
    assert post["role"] == Role.DEPARTMENT_STAFF
    assert post["area"] is None
    assert post["department"] == {"id": tree.dept_a.pk, "code": "ZD-A", "name": tree.dept_a.name}
    assert post["is_supervisor"] is True


def test_wrong_password_gives_no_token(people):
    user = people[Role.STREET_STAFF]
    response = token_client().post(TOKEN_URL, {"username": user.username, "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert not Token.objects.filter(user=user).exists()


def test_missing_credentials_are_a_400(db):
    response = token_client().post(TOKEN_URL, {"username": "someone"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_repeated_failures_lock_the_token_login(people):
    user = people[Role.STREET_STAFF]
    client = token_client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(TOKEN_URL, {"username": user.username, "password": "wrong"}, format="json")
        assert response.status_code == 400
    response = client.post(TOKEN_URL, {"username": user.username, "password": "wrong"}, format="json")
    assert response.status_code == 429
    # Locked: even the right password is refused now.
    response = client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert not Token.objects.filter(user=user).exists()


def test_a_successful_token_login_clears_the_failures(people):
    user = people[Role.STREET_STAFF]
    client = token_client()
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            response = client.post(TOKEN_URL, {"username": user.username, "password": "wrong"}, format="json")
            assert response.status_code == 400
        response = client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")
        assert response.status_code == 200
    user.refresh_from_db()
    assert user.last_login is not None


def test_token_login_is_throttled(people, monkeypatch):
    monkeypatch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "2/min")
    user = people[Role.GRID_WORKER]
    client = token_client()
    codes = [
        client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("url", ["/api/v1/me/", "/api/v1/areas/", "/api/v1/cases/", "/api/v1/categories/"])
def test_anonymous_requests_are_refused(db, url):
    response = token_client().get(url)
    assert response.status_code == 401


def test_a_bad_token_is_refused(db):
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/v1/me/").status_code == 401


# --- areas ------------------------------------------------------------------------
ALL_CODES = {
    "370702",
    "370702001",
    "370702002",
    "370702001001",
    "370702002001",
    "370702001001001",
    "370702002001001",
    "370702001001001001",
}
STREET_A = {"370702001", "370702001001", "370702001001001", "370702001001001001"}


def _codes(response):
    assert response.status_code == 200, response.content
    return {row["code"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("superuser", ALL_CODES),
        (Role.DISTRICT_STAFF, ALL_CODES),
        (Role.STREET_STAFF, STREET_A),
        (Role.COMMUNITY_STAFF, {"370702001001", "370702001001001", "370702001001001001"}),
        (Role.GRID_WORKER, {"370702001001001", "370702001001001001"}),
        (Role.STREET_LEADER, {"370702001001001001"}),
        # A department sees the area it serves (its street), read-only.
        (Role.DEPARTMENT_STAFF, STREET_A),
    ],
)
def test_areas_are_scoped(people, who, expected):
    assert _codes(token_client(people[who]).get("/api/v1/areas/")) == expected


def test_areas_filter_by_tier_and_parent(people):
    client = token_client(people[Role.DISTRICT_STAFF])
    assert _codes(client.get("/api/v1/areas/", {"tier": "grid"})) == {"370702001001001", "370702002001001"}
    assert _codes(client.get("/api/v1/areas/", {"parent": "370702"})) == {"370702001", "370702002"}
    assert _codes(client.get("/api/v1/areas/", {"tier": "community", "parent": "370702002"})) == {"370702002001"}
    row = client.get("/api/v1/areas/", {"parent": "370702001"}).json()["results"][0]
    assert row["parent"] == "370702001"
    assert row["tier"] == "community"


def test_areas_filter_never_widens_scope(people):
    client = token_client(people[Role.COMMUNITY_STAFF])
    assert _codes(client.get("/api/v1/areas/", {"parent": "370702002"})) == set()


def test_a_bad_tier_is_a_400(people):
    response = token_client(people[Role.DISTRICT_STAFF]).get("/api/v1/areas/", {"tier": "planet"})
    assert response.status_code == 400
    assert "tier" in response.json()
