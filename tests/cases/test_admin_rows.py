"""The case list's rows as Django builds them, without the per-row template render and resolver calls."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.contrib.admin.sites import AdminSite
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from cases.models import Case
from tests.cases.test_admin import LIST


@pytest.mark.django_db
def test_checkbox_and_links_are_djangos_own(make_case, people, client):
    case = make_case("reported", title='井盖<缺失> & "破损"')
    client.force_login(people[Role.COMMUNITY_STAFF])
    page = client.get(LIST + "?view=all").content.decode()
    case_admin = admin.site.get_model_admin(Case)
    assert case_admin.action_checkbox(case) == ModelAdmin.action_checkbox(case_admin, case)
    assert str(case_admin.action_checkbox(case)) in page
    url = reverse("admin:cases_case_change", args=[case.pk])
    assert f'<th class="field-number"><a href="{url}?_changelist_filters=view%3Dall">{case.number}</a>' in page
    # The batch form posts what it always did: the checked rows' keys.
    assert f'name="_selected_action" value="{case.pk}"' in page


@pytest.mark.django_db
def test_the_index_builds_the_app_list_once(people, client, monkeypatch):
    built = []
    original = AdminSite._build_app_dict
    monkeypatch.setattr(AdminSite, "_build_app_dict", lambda *a, **k: built.append(1) or original(*a, **k))
    client.force_login(people[Role.DISTRICT_STAFF])
    page = client.get("/admin/").content.decode()
    assert built == [1]  # for the list on the page and the sidebar's
    assert 'class="app-cases module' in page


def _page(client, query, *, djangos_rows=False):
    """The list page, its CSRF token left out; with ``djangos_rows`` the rows built by Django's own
    ``admin_list.results``."""
    from django.contrib.admin.templatetags import admin_list

    from gov_platform.admin_rows import QuickRowsChangeList

    if djangos_rows:
        with mock.patch.object(QuickRowsChangeList, "quick_rows", lambda cl: list(admin_list.results(cl))):
            response = client.get(LIST + query)
    else:
        response = client.get(LIST + query)
    assert response.status_code == 200
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


@pytest.mark.django_db
def test_rows_are_the_html_django_builds(make_case, people, client, tree, photo):
    """Every column (the checkbox, a photo, choices, a foreign key, the admin's methods, empty cells) and the
    links with and without the list's filters: the page is the same, byte for byte, as with Django's rows."""
    make_case("reported", title='井盖<缺失> & "破损"', address="")
    make_case("assigned", photos=[photo()])
    overdue = make_case("assessed")
    Case.objects.filter(pk=overdue.pk).update(current_deadline=timezone.now() - timedelta(hours=5))
    Case.objects.filter(pk=make_case("reported").pk).update(current_deadline=None)
    client.force_login(people[Role.DISTRICT_STAFF])
    now = timezone.now()
    with mock.patch("django.utils.timezone.now", lambda: now):
        for query in ("?view=all", "?view=all&status__exact=reported", "?view=all&o=-2.3", "?view=all&p=1&overdue=no"):
            quick = _page(client, query)
            assert quick == _page(client, query, djangos_rows=True), query
            assert quick.count('class="action-select"') == {"status": 2, "overdue": 3}.get(
                next((k for k in ("status", "overdue") if k in query), ""), 4
            ), query


@pytest.mark.django_db
def test_rows_read_only_the_columns_they_show(make_case, people, client):
    """The page's rows are read with the columns the list shows; nothing left out is read row by row."""
    from cases.admin import CaseAdmin

    for _ in range(3):
        make_case("assigned")
    client.force_login(people[Role.DISTRICT_STAFF])
    client.get(LIST + "?view=all")
    with CaptureQueriesContext(connection) as queries:
        page = client.get(LIST + "?view=all").content.decode()
    rows = [q["sql"] for q in queries.captured_queries if 'FROM "cases_case"' in q["sql"] and "COUNT(" not in q["sql"]]
    assert len(rows) == 1, rows
    assert '"cases_case"."description"' not in rows[0] and '"grids_grid"' not in rows[0]
    assert page.count('class="action-select"') == 3
    assert len(CaseAdmin.LIST_ROW_FIELDS) < len(Case._meta.concrete_fields)


def _filters(page: str) -> str:
    return page[page.index('<nav id="changelist-filter"') : page.index("</nav>", page.index('id="changelist-filter"'))]


@pytest.mark.django_db
def test_filters_are_the_html_django_builds(make_case, people, client, tree):
    """The area and category filters' choices (gov_platform/admin_filters.py): the page is the same, byte for byte,
    as with Django's filter template and query strings, with and without a choice taken, in both languages."""
    from gov_platform.admin_filters import QuickChoicesMixin, _QueryStrings

    make_case("reported", title="<b>x</b>")
    user = people[Role.DISTRICT_STAFF]
    queries = (
        "?view=all",
        f"?view=all&area={tree.street_a.code}&o=2",
        "?view=all&category__id__exact=1&q=a b",
        f"?view=all&_facets=True&area={tree.community_a.code}",
    )
    for language in ("zh-hans", "en"):
        type(user).objects.filter(pk=user.pk).update(language=language)
        client.force_login(user)
        for query in queries:
            quick = _page(client, query)
            with (
                mock.patch.object(QuickChoicesMixin, "template", "admin/filter.html"),
                mock.patch.object(
                    _QueryStrings, "get_query_string", lambda self, *a, **k: self._changelist.get_query_string(*a, **k)
                ),
            ):
                djangos = _page(client, query)
            assert quick == djangos, (language, query)
            assert tree.community_a.name in _filters(quick)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "shown", "not_shown"),
    [
        (Role.DISTRICT_STAFF, ["甲街道", "乙街道", "甲一社区", "乙一社区"], []),
        (Role.STREET_STAFF, ["甲街道", "甲一社区"], ["乙街道", "乙一社区"]),
        (Role.COMMUNITY_STAFF, ["甲一社区"], ["乙街道", "乙一社区", "甲街道"]),
    ],
)
def test_area_filter_offers_only_the_officials_areas(role, shown, not_shown, make_case, people, client, tree):
    make_case("reported")
    client.force_login(people[role])
    area_filter = _filters(_page(client, "?view=all")).split('data-filter-title="区域"')[1].split("</details>")[0]
    for name in shown:
        assert name in area_filter, name
    for name in not_shown:
        assert name not in area_filter, name


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF])
def test_the_list_page_reads_a_fixed_number_of_statements(role, make_case, people, client, settings, photo):
    """Session, user, device, posts, permissions (2), the area and category choices, the capped count in its
    transaction (4), the rows, their photos and the unread count: with the sidebar kept, the header's to-do
    counts too; 50 rows with photos cost no more."""
    from gov_platform import admin_nav

    settings.NAV_CACHE_SECONDS = settings.TODO_CACHE_SECONDS = 60
    admin_nav.clear()
    for _ in range(3):
        make_case("reported", photos=[photo()])
    client.force_login(people[role])
    client.get(LIST + "?view=all")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST + "?view=all").status_code == 200
    assert len(queries) <= 16, [q["sql"][:100] for q in queries.captured_queries]
    admin_nav.clear()
