"""The back office as officials use it daily: to-do counts, named list views, search, list columns."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases.models import Attachment, Case
from cases.selectors import todo_counts
from tests.cases.test_admin import LIST, clone_cases, listed


def counts(user, **kwargs):
    return {row["key"]: row["display"] for row in todo_counts(user, **kwargs)}


@pytest.fixture
def one_of_each(make_case, tree):
    return {
        status: make_case(status) for status in ("reported", "assessed", "assigned", "handled", "fed_back", "rated")
    } | {"other_street": make_case("reported", grid=tree.grid_b)}


@pytest.mark.django_db
class TestTodoCounts:
    def test_counts_per_role(self, one_of_each, people, tree):
        overdue = one_of_each["assigned"]
        Case.objects.filter(pk=overdue.pk).update(current_deadline="2020-01-01T00:00:00Z")
        community = counts(people[Role.COMMUNITY_STAFF])
        # Community A assesses, dispatches, handles (the case was assigned to it), verifies, calls back.
        assert community == {
            "reported": "1",
            "assessed": "1",
            "assigned": "1",
            "handled": "1",
            "fed_back": "1",
            "clock_requests": "0",
            "suspended": "0",
            "overdue": "1",
        }
        # The district dispatches both streets; nothing is handed to it to handle.
        district = counts(people[Role.DISTRICT_STAFF])
        assert district["reported"] == "2" and district["assigned"] == "0" and district["overdue"] == "1"
        # A grid worker owes no step; a department only what is assigned to it.
        grid_worker = counts(people[Role.GRID_WORKER])
        assert grid_worker == {**dict.fromkeys(community, "0"), "overdue": "1"}  # overdue in the grid's scope
        assert counts(people[Role.DEPARTMENT_STAFF]) == dict.fromkeys(community, "0")

    def test_counts_agree_with_the_linked_lists(self, one_of_each, people, client):
        staff = people[Role.COMMUNITY_STAFF]
        client.force_login(staff)
        for row in todo_counts(staff):
            response = client.get(row["url"])
            assert response.status_code == 200
            assert len(response.context["cl"].result_list) == row["count"], row["key"]

    def test_extension_request_waits_for_the_deciding_tier(self, make_case, people, tree, client):
        from cases.services import transition_case

        case = make_case("assessed")
        case = transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", department=tree.dept_a)
        transition_case(
            actor=people[Role.DEPARTMENT_STAFF], case=case, name="request_extension", comment="需协调施工队", days=3
        )
        community = people[Role.COMMUNITY_STAFF]
        assert counts(community)["clock_requests"] == "1"
        assert counts(people[Role.DEPARTMENT_STAFF])["clock_requests"] == "0"  # the asker does not decide
        row = next(r for r in todo_counts(community) if r["key"] == "clock_requests")
        client.force_login(community)
        listed_cases = client.get(row["url"]).context["cl"].result_list
        assert [c.pk for c in listed_cases] == [case.pk]

    def test_capped(self, make_case, people):
        clone_cases(make_case("reported"), 12)
        shown = counts(people[Role.COMMUNITY_STAFF], cap=10)
        assert shown["reported"] == "10+"

    def test_dashboard_and_header_show_them_with_links(self, one_of_each, people, client):
        client.force_login(people[Role.STREET_STAFF])
        page = client.get("/admin/").content.decode()
        assert 'id="todo-dashboard"' in page and 'id="todo-badges"' in page
        assert "/admin/cases/case/?view=waiting&amp;status__exact=reported" in page
        # Every admin page carries the header badges.
        assert 'id="todo-badges"' in client.get(LIST).content.decode()

    @pytest.mark.parametrize("role", [Role.DISTRICT_STAFF, Role.COMMUNITY_STAFF, Role.DEPARTMENT_STAFF])
    def test_constant_queries(self, role, make_case, people, django_assert_num_queries):
        template = make_case("reported")
        clone_cases(template, 9)
        user = people[role]
        user.scope  # noqa: B018 - the scope is read once per request elsewhere; not what is counted here
        with CaptureQueriesContext(connection) as few:
            todo_counts(user)
        clone_cases(template, 190)
        with django_assert_num_queries(len(few)):
            todo_counts(user)
        assert all("LIMIT" in q["sql"].upper() for q in few.captured_queries if "COUNT(" in q["sql"].upper())


@pytest.mark.django_db
class TestNamedViews:
    def test_search_finds_any_visible_case_whatever_the_view(self, make_case, people, client, tree):
        case = make_case("assigned")  # handled by community A, not waiting for the street
        client.force_login(people[Role.STREET_STAFF])
        assert case.pk not in listed(client)
        for view in ("", "?view=waiting&", "?view=mine&", "?view=overdue&"):
            query = (view or "?") + f"q={case.number}"
            assert listed(client, query) == {case.pk}, query

    def test_search_stays_in_scope(self, make_case, people, client, tree):
        other = make_case("reported", grid=tree.grid_b)
        client.force_login(people[Role.STREET_STAFF])
        assert listed(client, f"?q={other.number}") == set()

    def test_views(self, one_of_each, people, client):
        Case.objects.filter(pk=one_of_each["handled"].pk).update(current_deadline="2020-01-01T00:00:00Z")
        client.force_login(people[Role.COMMUNITY_STAFF])
        assert listed(client, "?view=unit") == {one_of_each[s].pk for s in ("assigned", "handled", "fed_back", "rated")}
        assert listed(client, "?view=overdue") == {one_of_each["handled"].pk}
        client.force_login(people[Role.GRID_WORKER])
        assert listed(client, "?view=mine") == {one_of_each[s].pk for s in one_of_each if s != "other_street"}

    def test_columns_and_thumbnail(self, make_case, people, client, photo):
        case = make_case("reported", address="人民路12号", photos=[photo()])
        client.force_login(people[Role.COMMUNITY_STAFF])
        page = client.get(LIST).content.decode()
        shot = Attachment.objects.get(case=case)
        assert shot.image.url in page and "人民路12号" in page
        assert 'class="time-left deadline-green"' in page

    @pytest.mark.parametrize("view", ["", "?view=all", "?view=unit", "?view=overdue", "?q=2026"])
    def test_list_queries_constant_with_photos(self, view, make_case, people, client, photo):
        template = make_case("reported", photos=[photo()])
        client.force_login(people[Role.DISTRICT_STAFF])
        clone_cases(template, 9)
        client.get(LIST + view)
        with CaptureQueriesContext(connection) as few:
            assert client.get(LIST + view).status_code == 200
        clone_cases(template, 190)
        for c in Case.objects.exclude(pk=template.pk)[:60]:
            Attachment.objects.create(case=c, kind="before", image=template.attachments.first().image.name)
        with CaptureQueriesContext(connection) as many:
            assert client.get(LIST + view).status_code == 200
        assert len(many) == len(few), [q["sql"][:150] for q in many.captured_queries]

    def test_after_adding_the_reporter_lands_on_the_case(self, people, client, tree, categories):
        client.force_login(people[Role.GRID_WORKER])
        response = client.post(
            "/admin/cases/case/add/",
            {
                "title": "井盖缺失",
                "description": "人行道井盖缺失",
                "category": categories["dispute"].pk,
                "grid": tree.grid_a.pk,
                "source": "grid_patrol",
                "priority": "normal",
            },
        )
        case = Case.objects.get(title="井盖缺失")
        assert response.status_code == 302 and response.url == f"/admin/cases/case/{case.pk}/change/"
        assert client.get(response.url).status_code == 200
