"""The case list's rows as Django builds them, without the per-row template render and resolver calls."""

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.contrib.admin.sites import AdminSite
from django.urls import reverse

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
