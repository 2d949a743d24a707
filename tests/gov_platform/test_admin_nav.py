"""The admin sidebar kept per official and page (gov_platform/admin_nav.py): built once, the same HTML, and
built again for another official, a new permission or post, another language or another page."""

import pytest
from django.contrib.admin.sites import AdminSite
from django.contrib.auth.models import Permission

from accounts.models import Post
from accounts.roles import Role
from accounts.services import save_post
from gov_platform import admin_nav

LIST = "/admin/cases/case/"


def sidebar(page: str) -> str:
    start = page.index('<nav class="sticky" id="nav-sidebar"')
    return page[start : page.index("</nav>", start)]


@pytest.fixture
def kept(settings, monkeypatch):
    """Sidebars kept, and how many app lists were built."""
    settings.NAV_CACHE_SECONDS = 60
    admin_nav.clear()
    built = []
    original = AdminSite._build_app_dict
    monkeypatch.setattr(AdminSite, "_build_app_dict", lambda *a, **k: built.append(1) or original(*a, **k))
    yield built
    admin_nav.clear()


@pytest.mark.django_db
def test_the_sidebar_is_built_once_per_official_and_page(kept, people, client):
    client.force_login(people[Role.DISTRICT_STAFF])
    first = client.get(LIST).content.decode()
    assert kept == [1] and 'class="model-case current-model"' in sidebar(first)
    again = client.get(LIST + "?view=all").content.decode()
    assert kept == [1] and sidebar(again) == sidebar(first)
    # Another page of the same official: its own sidebar (the current model differs).
    other = client.get("/admin/cases/responsetemplate/").content.decode()
    assert kept == [1, 1] and 'class="model-responsetemplate current-model"' in sidebar(other)
    # Another official: their own.
    client.force_login(people[Role.COMMUNITY_STAFF])
    client.get(LIST)
    assert kept == [1, 1, 1]


@pytest.mark.django_db
def test_a_new_permission_or_post_shows_on_the_next_page(kept, people, client, tree):
    user = people[Role.COMMUNITY_STAFF]
    client.force_login(user)
    before = sidebar(client.get(LIST).content.decode())
    assert "/admin/auth/group/" not in before
    user.user_permissions.add(Permission.objects.get(codename="view_group"))
    after = sidebar(client.get(LIST).content.decode())
    assert "/admin/auth/group/" in after and len(kept) == 2
    save_post(actor=None, post=Post(user=user, role=Role.COMMUNITY_STAFF, area=tree.community_b))
    client.get(LIST)
    assert len(kept) == 3


@pytest.mark.django_db
def test_not_kept_when_the_setting_is_zero(settings, people, client, monkeypatch):
    settings.NAV_CACHE_SECONDS = 0
    built = []
    original = AdminSite._build_app_dict
    monkeypatch.setattr(AdminSite, "_build_app_dict", lambda *a, **k: built.append(1) or original(*a, **k))
    client.force_login(people[Role.DISTRICT_STAFF])
    client.get(LIST)
    client.get(LIST)
    assert built == [1, 1]


@pytest.mark.django_db
def test_kept_for_a_superuser_without_reading_every_permission(kept, people, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(people["superuser"])
    client.get(LIST)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(LIST).content.decode()
    assert kept == [1] and "/admin/auth/group/" in sidebar(page)
    assert not [q for q in queries.captured_queries if 'FROM "auth_permission"' in q["sql"]]
