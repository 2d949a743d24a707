import pytest
from django.conf import settings

from accounts.roles import Role


@pytest.mark.django_db
def test_repeated_failures_lock_the_login(people, client):
    user = people[Role.STREET_STAFF]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": "wrong"})
        assert not response.wsgi_request.user.is_authenticated
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": "pw-Secret-123"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_good_login_works_and_shows_chinese(people, client):
    user = people[Role.STREET_STAFF]
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": "pw-Secret-123"})
    assert response.status_code == 302
    page = client.get("/admin/")
    assert page.status_code == 200
    assert 'lang="zh-hans"' in page.content.decode()
