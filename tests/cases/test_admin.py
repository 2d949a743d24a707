"""The back office for cases: lists, the waiting view, transition pages, adding a case."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases.models import Case, Status
from cases.selectors import waiting_for

LIST = "/admin/cases/case/"


def change_url(case):
    return f"/admin/cases/case/{case.pk}/change/"


def step_url(case, name):
    return f"/admin/cases/case/{case.pk}/transition/{name}/"


def listed(client, query=""):
    response = client.get(LIST + query)
    assert response.status_code == 200, response.content[:500]
    return {c.pk for c in response.context["cl"].result_list}


_serial = itertools.count()


def clone_cases(template: Case, n: int):
    """n copies of a case, inserted in one statement, for query-count tests."""
    rows = []
    for _ in range(n):
        i = next(_serial)
        rows.append(
            Case(
                number=f"CLONE{i:08d}",
                tracking_code=f"T{i:09d}",
                title=f"{template.title}{i}",
                description=template.description,
                category_id=template.category_id,
                grid_id=template.grid_id,
                area_path=template.area_path,
                status=template.status,
                source=template.source,
                priority=template.priority,
                reporter_id=template.reporter_id,
                handling_area_id=template.handling_area_id,
                handling_department_id=template.handling_department_id,
                current_deadline=template.current_deadline,
                reported_at=template.reported_at,
            )
        )
    Case.objects.bulk_create(rows, batch_size=500)


@pytest.mark.django_db
class TestLists:
    def test_default_view_is_waiting_for_me(self, make_case, people, client, tree):
        reported = make_case("reported")
        assigned = make_case("assigned")  # to community A: community staff handles it
        handled = make_case("handled")
        other_street = make_case("reported", grid=tree.grid_b)
        staff = people[Role.COMMUNITY_STAFF]
        client.force_login(staff)
        expected = set(waiting_for(staff).values_list("pk", flat=True))
        assert listed(client) == expected == {reported.pk, assigned.pk, handled.pk}
        assert other_street.pk not in listed(client, "?view=all")

    def test_grid_worker_waits_for_nothing_but_sees_own_grid(self, make_case, people, client, tree):
        case = make_case("assigned")
        client.force_login(people[Role.GRID_WORKER])
        assert listed(client) == set()
        assert listed(client, "?view=all") == {case.pk}

    def test_department_waits_for_cases_assigned_to_it(self, make_case, people, client, categories, tree):
        case = make_case("assessed")
        from cases.services import transition_case

        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", department=tree.dept_a)
        client.force_login(people[Role.DEPARTMENT_STAFF])
        assert listed(client) == {case.pk}

    def test_filters_and_search(self, make_case, people, client, tree, categories):
        a = make_case("reported", title="占道经营")
        b = make_case("reported", grid=tree.grid_b, category=categories["hazard"], title="可疑包裹")
        client.force_login(people["superuser"])
        assert listed(client, f"?view=all&area={tree.street_b.code}") == {b.pk}
        assert listed(client, f"?view=all&category__id__exact={categories['hazard'].pk}") == {b.pk}
        assert listed(client, f"?view=all&q={a.number}") == {a.pk}
        assert listed(client, "?view=all&q=可疑") == {b.pk}
        assert listed(client, "?view=all&status__exact=reported") == {a.pk, b.pk}
        Case.objects.filter(pk=a.pk).update(current_deadline="2020-01-01T00:00:00Z")
        assert listed(client, "?view=all&overdue=yes") == {a.pk}
        assert a.pk not in listed(client, "?view=all&overdue=no")

    @pytest.mark.parametrize("role", [Role.DISTRICT_STAFF, Role.COMMUNITY_STAFF, Role.DEPARTMENT_STAFF])
    def test_queries_do_not_grow_with_cases(self, role, make_case, people, client):
        template = make_case("reported")
        client.force_login(people[role])
        for query in ("", "?view=all"):
            clone_cases(template, 10 - Case.objects.count() if Case.objects.count() < 10 else 0)
            client.get(LIST + query)
            with CaptureQueriesContext(connection) as few:
                assert client.get(LIST + query).status_code == 200
            clone_cases(template, 490)
            with CaptureQueriesContext(connection) as many:
                assert client.get(LIST + query).status_code == 200
            assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]

    def test_no_full_table_count(self, make_case, people, client):
        make_case("reported")
        client.force_login(people["superuser"])
        with CaptureQueriesContext(connection) as queries:
            client.get(LIST + "?view=all")
        counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
        assert counts and all("LIMIT" in sql.upper() for sql in counts)


@pytest.mark.django_db
class TestTransitionsInAdmin:
    def test_assess_assign_handle_through_pages(self, make_case, people, client, tree, photo):
        case = make_case("reported")
        client.force_login(people[Role.COMMUNITY_STAFF])
        page = client.get(change_url(case))
        assert step_url(case, "assess") in page.content.decode()
        assert client.post(step_url(case, "assess"), {"comment": "属实"}).status_code == 302
        assert client.post(step_url(case, "assign"), {"area": tree.community_a.pk}).status_code == 302
        response = client.post(step_url(case, "handle"), {"result": "已清理"})
        assert response.status_code == 400
        assert "photos" in response.context["transition_form"].errors
        case.refresh_from_db()
        assert case.status == Status.ASSIGNED
        response = client.post(step_url(case, "handle"), {"result": "已清理", "photos": [photo()]})
        assert response.status_code == 302
        case.refresh_from_db()
        assert case.status == Status.HANDLED and case.attachments.filter(kind="after").count() == 1
        history = client.get(change_url(case)).content.decode()
        assert "handle" in history and "assign" in history

    def test_reason_required_to_dismiss(self, make_case, people, client):
        case = make_case("reported")
        client.force_login(people[Role.STREET_STAFF])
        response = client.post(step_url(case, "dismiss"), {"reason": "not_real"})
        assert response.status_code == 400
        assert "comment" in response.context["transition_form"].errors
        case.refresh_from_db()
        assert case.status == Status.REPORTED

    def test_step_not_allowed_for_role_is_403(self, make_case, people, client):
        case = make_case("reported")
        client.force_login(people[Role.GRID_WORKER])
        assert client.get(step_url(case, "assess")).status_code == 403
        case.refresh_from_db()
        assert case.status == Status.REPORTED

    def test_case_outside_scope_is_not_found(self, make_case, people, client, tree):
        case = make_case("reported", grid=tree.grid_b)
        client.force_login(people[Role.STREET_STAFF])
        assert client.get(change_url(case)).status_code == 302
        assert client.post(step_url(case, "assess"), {}).status_code == 302
        case.refresh_from_db()
        assert case.status == Status.REPORTED

    def test_wrong_state_redirects_with_a_message(self, make_case, people, client):
        case = make_case("assigned")
        client.force_login(people[Role.COMMUNITY_STAFF])
        response = client.post(step_url(case, "assess"), {}, follow=True)
        from django.utils import translation

        with translation.override("zh-hans"):
            status = str(case.get_status_display())
        assert any(status in str(m) for m in response.context["messages"])

    def test_case_fields_cannot_be_edited_directly(self, make_case, people, client):
        case = make_case("reported")
        client.force_login(people["superuser"])
        client.post(change_url(case), {"title": "改了"})
        case.refresh_from_db()
        assert case.title != "改了"

    def test_contact_masked_for_those_who_do_not_need_it(self, make_case, people, client, tree):
        case = make_case(
            "reported", contact_name="张三丰", contact_phone="13912345678", reporter=people[Role.COMMUNITY_STAFF]
        )
        client.force_login(people[Role.GRID_WORKER])  # sees the grid's cases, is neither dispatcher nor handler
        body = client.get(change_url(case)).content.decode()
        assert "139****5678" in body and "13912345678" not in body
        client.force_login(people[Role.COMMUNITY_STAFF])
        assert "13912345678" in client.get(change_url(case)).content.decode()


@pytest.mark.django_db
class TestAddCase:
    def test_grid_worker_reports_with_a_photo(self, people, client, tree, categories, photo):
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
                "photos": [photo()],
            },
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        case = Case.objects.get(title="井盖缺失")
        assert case.number and case.reporter == people[Role.GRID_WORKER]
        assert case.attachments.filter(kind="before").count() == 1

    def test_grid_outside_area_and_fake_photo_are_form_errors(self, people, client, tree, categories, photo):
        client.force_login(people[Role.GRID_WORKER])
        response = client.post(
            "/admin/cases/case/add/",
            {
                "title": "x",
                "description": "y",
                "category": categories["dispute"].pk,
                "grid": tree.grid_b.pk,
                "source": "grid_patrol",
                "priority": "normal",
                "photos": [photo("fake.png", b"not an image")],
            },
        )
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "grid" in errors and "photos" in errors
        assert not Case.objects.exists()


@pytest.mark.django_db
def test_calendar_warning_for_a_year_without_entries(people, client):
    client.force_login(people[Role.DISTRICT_STAFF])
    response = client.get("/admin/cases/workcalendarday/", follow=True)  # it opens at this year
    years = [str(m) for m in response.context["messages"]]
    assert any("2027" in m for m in years) or any("2026" in m for m in years) or not years
    from cases.calendar import years_without_calendar

    assert bool(years) == bool(years_without_calendar())


@pytest.mark.django_db
def test_list_queries_do_not_grow_with_the_area_tree(make_case, people, client, tree):
    from grids.models import Area

    make_case("reported")
    client.force_login(people[Role.DISTRICT_STAFF])
    client.get(LIST)
    with CaptureQueriesContext(connection) as small:
        client.get(LIST)
    for i in range(2, 42):
        Area.objects.create(tier="community", code=f"370702002{i:03d}", name=f"乙社区{i}", parent=tree.street_b)
    with CaptureQueriesContext(connection) as large:
        response = client.get(LIST)
    assert "乙社区41" in response.content.decode()  # the area filter lists them
    assert len(large) == len(small)
