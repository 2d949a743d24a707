"""The back office as officials use it daily: to-do counts, named list views, search, list columns."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from cases import mediation, rules, selectors
from cases.extensions import suspended_q
from cases.models import Attachment, Case
from cases.selectors import todo_counts
from cases.services import transition_case
from tests.cases.test_admin import LIST, clone_cases, listed
from tests.cases.test_rules import World


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


def plain_counts(user, cap):
    """The to-do counts as the rules state them, one OR per count over what the user sees: what the
    header's one statement (read term by term, cases.selectors.any_of) must give."""
    visible = selectors.cases_for(user)
    decide = rules.may_decide_extension.q(user) | rules.may_decide_suspension.q(user)
    rows = [visible.filter(selectors.waiting_at_q(user, status)) for _key, status, _label in selectors.TODO]
    rows += [visible.filter(decide), visible.filter(suspended_q()), visible.overdue()]
    return [selectors.capped_count(qs, cap) for qs in rows]


@pytest.fixture
def busy_world(tree, people, make_user, categories, make_case, settings, tmp_path):
    """test_rules' world (every state, every kind of handling unit, street leaders' reports) with what the
    header also counts: clock requests waiting, a suspended case, an assisting task, a mediation, overdue
    cases, and a case moved out of its named handler's area."""
    settings.MEDIA_ROOT = tmp_path / "media"
    world = World(tree, people, make_user, categories["dispute"])
    community, dept = people[Role.COMMUNITY_STAFF], people[Role.DEPARTMENT_STAFF]

    def to_dept():
        return transition_case(actor=community, case=make_case("assessed"), name="assign", department=tree.dept_a)

    transition_case(actor=dept, case=to_dept(), name="request_extension", comment="需协调", days=3)
    transition_case(actor=dept, case=to_dept(), name="request_suspension", comment="需资金", review_date=tomorrow())
    suspended = transition_case(
        actor=dept, case=to_dept(), name="request_suspension", comment="需资金", review_date=tomorrow()
    )
    transition_case(actor=people[Role.DISTRICT_STAFF], case=suspended, name="approve_suspension", comment="同意")
    transition_case(
        actor=community,
        case=make_case("assigned"),
        name="add_assist",
        department=tree.dept_district,
        task="拆除",
        days=3,
    )
    categories["dispute"].requires_mediation = True
    categories["dispute"].save()
    mediation.open_mediation(
        actor=community,
        case=make_case("assigned"),
        kind="police",
        mediators=[world.users["dept_district"]],
        parties=[("张建国", "13912345678"), ("李秀兰", "13887654321")],
    )
    open_cases = Case.objects.filter(status__in=["reported", "assigned", "handled"]).order_by("pk")
    Case.objects.filter(pk__in=list(open_cases.values_list("pk", flat=True)[::2])).update(
        current_deadline="2020-01-01T00:00:00Z"
    )
    # Named handler a grid worker of street A; the case (a resident's) then moved to street B's grid: still
    # his to handle, no longer in his sight, so counted nowhere for him.
    moved = Case.objects.filter(handler=people[Role.GRID_WORKER], status="assigned").first()
    Case.objects.filter(pk=moved.pk).update(grid=tree.grid_b, area_path=tree.grid_b.path, reporter=None)
    return world


def tomorrow():
    return timezone.localdate() + timedelta(days=5)


@pytest.mark.django_db
class TestTodoStatement:
    @pytest.mark.parametrize("cap", [1, 99])
    def test_every_count_of_every_user_is_what_the_rules_say(self, busy_world, cap):
        seen = {}
        for key, user in busy_world.users.items():
            shown = [row["count"] for row in todo_counts(user, cap=cap)]
            assert shown == plain_counts(user, cap), key
            seen[key] = shown
        # The world exercises the counts: each row is above zero for someone, and capped for someone at 1.
        for i, (row_key, _label, _params) in enumerate(selectors.TODO_ROWS):
            assert any(counts[i] for counts in seen.values()), row_key
        if cap == 1:
            assert any(counts[i] == 2 for counts in seen.values() for i in range(len(selectors.TODO_ROWS)))

    def test_one_statement_and_built_once_per_user_and_scope(self, busy_world, django_assert_num_queries):
        from accounts.models import Post
        from accounts.services import save_post

        user = busy_world.users[Role.COMMUNITY_STAFF]
        user.scope  # noqa: B018 - read once per request by the middleware's user, not what is counted here
        with django_assert_num_queries(1):
            first = todo_counts(user)
        built = []
        original = selectors.todo_querysets
        try:
            selectors.todo_querysets = lambda *a, **k: built.append(1) or original(*a, **k)
            with django_assert_num_queries(1):
                assert todo_counts(user) == first
            assert built == []  # the statement was kept: nothing rebuilt, nothing compiled
            # A new post changes the scope, so the statement is built again for it.
            save_post(actor=None, post=Post(user=user, role=Role.COMMUNITY_STAFF, area=busy_world.tree.community_b))
            again = type(user).objects.get(pk=user.pk)
            assert [r["count"] for r in todo_counts(again)] == plain_counts(again, selectors.TODO_CAP)
            assert built == [1]
        finally:
            selectors.todo_querysets = original

    def test_the_database_clock_decides_overdue(self, make_case, people):
        case = make_case("assigned")
        Case.objects.filter(pk=case.pk).update(current_deadline=timezone.now() + timedelta(minutes=5))
        overdue = {r["key"]: r["count"] for r in todo_counts(people[Role.COMMUNITY_STAFF])}["overdue"]
        later = {
            r["key"]: r["count"]
            for r in todo_counts(people[Role.COMMUNITY_STAFF], now=timezone.now() + timedelta(minutes=10))
        }["overdue"]
        assert (overdue, later) == (0, 1)


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


def badge(page: str, key: str) -> str | None:
    """The number on a header badge (hidden when zero)."""
    import re

    from cases.selectors import TODO_ROWS

    label = str(next(label for row_key, label, _params in TODO_ROWS if row_key == key))
    found = re.search(rf'title="{re.escape(label)}">{re.escape(label)} <b>([^<]+)</b>', page)
    return found[1] if found else None


def todo_statements(queries) -> int:
    return sum("counted_0" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
class TestKeptBadges:
    @pytest.fixture(autouse=True)
    def _kept(self, settings):
        settings.TODO_CACHE_SECONDS = 30
        from django.core.cache import cache

        cache.clear()
        yield
        cache.clear()

    def test_read_once_then_kept(self, make_case, people, client):
        make_case("reported")
        client.force_login(people[Role.COMMUNITY_STAFF])
        with CaptureQueriesContext(connection) as first:
            assert badge(client.get(LIST).content.decode(), "reported") == "1"
        with CaptureQueriesContext(connection) as second:
            page = client.get("/admin/").content.decode()
        assert (todo_statements(first), todo_statements(second)) == (1, 0)
        assert badge(page, "reported") == "1" and 'data-todo="reported"' in page

    def test_the_officials_own_step_shows_on_the_next_page(self, make_case, people, client):
        case = make_case("reported")
        make_case("reported")
        client.force_login(people[Role.COMMUNITY_STAFF])
        assert badge(client.get(LIST).content.decode(), "reported") == "2"
        response = client.post(f"/admin/cases/case/{case.pk}/transition/assess/", {"comment": "属实"})
        assert response.status_code == 302
        page = client.get(response.url).content.decode()
        assert (badge(page, "reported"), badge(page, "assessed")) == ("1", "1")

    def test_a_page_the_step_renders_itself_is_counted_afresh(self, make_case, people, client, photo):
        case = make_case("assigned")
        client.force_login(people[Role.COMMUNITY_STAFF])
        assert badge(client.get(LIST).content.decode(), "assigned") == "1"
        from cases.models import Case

        Case.objects.filter(pk=case.pk).update(status="handled")  # as a colleague's step elsewhere
        # A form shown again (400) counts while rendering: never the kept counts.
        page = client.post(f"/admin/cases/case/{case.pk}/transition/feed_back/", {}).content.decode()
        assert badge(page, "handled") == "1" and badge(page, "assigned") is None

    def test_others_steps_wait_for_the_kept_seconds_and_the_api_drops_them_too(self, make_case, people, client):
        from tests.api_support import token_client

        case = make_case("reported")
        staff = people[Role.COMMUNITY_STAFF]
        client.force_login(staff)
        assert badge(client.get(LIST).content.decode(), "reported") == "1"
        make_case("reported")  # a grid worker's report: shown after TODO_CACHE_SECONDS, not at once
        assert badge(client.get(LIST).content.decode(), "reported") == "1"
        # The official's own step through the API (a token, no session) drops the kept counts as well.
        answer = token_client(staff).post(f"/api/v1/cases/{case.pk}/transitions/assess/", {}, format="json")
        assert answer.status_code == 200
        page = client.get(LIST).content.decode()
        assert (badge(page, "reported"), badge(page, "assessed")) == ("1", "1")  # the new report; the assessed

    def test_counts_kept_before_a_step_never_return_when_the_cache_lets_the_version_go(self, make_case, people, client):
        from django.core.cache import cache

        from cases.todo_badges import _keys

        case = make_case("reported")
        staff = people[Role.COMMUNITY_STAFF]
        client.force_login(staff)
        version_key, counts_key = _keys(staff)
        assert badge(client.get(LIST).content.decode(), "reported") == "1"
        assert cache.get(version_key) is not None and cache.get(counts_key)[0] == cache.get(version_key)
        response = client.post(f"/admin/cases/case/{case.pk}/transition/assess/", {"comment": "属实"})
        assert response.status_code == 302
        cache.delete(version_key)  # evicted under memory pressure, or expired
        page = client.get(LIST).content.decode()
        assert (badge(page, "reported"), badge(page, "assessed")) == (None, "1")

    def test_new_posts_count_afresh(self, make_case, people, client, tree):
        from accounts.models import Post
        from accounts.services import save_post

        make_case("reported", grid=tree.grid_b)
        staff = people[Role.COMMUNITY_STAFF]
        client.force_login(staff)
        assert badge(client.get(LIST).content.decode(), "reported") is None
        save_post(actor=None, post=Post(user=staff, role=Role.COMMUNITY_STAFF, area=tree.community_b))
        assert badge(client.get(LIST).content.decode(), "reported") == "1"

    def test_another_officials_counts_are_their_own(self, make_case, people, client):
        make_case("reported")
        client.force_login(people[Role.COMMUNITY_STAFF])
        assert badge(client.get(LIST).content.decode(), "reported") == "1"
        client.force_login(people[Role.DEPARTMENT_STAFF])
        assert badge(client.get(LIST).content.decode(), "reported") is None
