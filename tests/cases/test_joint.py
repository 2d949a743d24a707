"""Joint handling (主办/协办): assisting tasks, their rules, the lead's handle, the sweep, API and admin."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from cases import selectors
from cases.calendar import deadline_after
from cases.escalation import sweep
from cases.models import AssistTask, Case, Escalation, Status
from cases.services import transition_case


@pytest.fixture
def case(make_case, people):
    """Led by community A (it dispatched the case to itself); street A's department may assist."""
    return make_case("assigned")


def fresh(case):
    return Case.objects.get(pk=case.pk)


def add(case, people, unit, **params):
    params.setdefault("task", "负责拆除违建部分")
    return transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="add_assist", **unit, **params)


def test_assisting_unit_sees_it_waiting_records_its_part_and_frees_the_lead(case, people, tree, photo):
    dept = people[Role.DEPARTMENT_STAFF]
    assert not selectors.cases_for(dept).filter(pk=case.pk).exists()
    add(case, people, {"department": tree.dept_a}, days=3)
    task = AssistTask.objects.get(case=case)
    assert task.deadline == deadline_after(task.created_at, 3, "workdays") and task.status == "open"
    assert selectors.waiting_for(dept).filter(pk=case.pk).exists()
    # The lead cannot handle while the task is open: 400 naming the field, nothing saved.
    with pytest.raises(ValidationError) as exc:
        transition_case(
            actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="handle", result="好了", photos=[photo()]
        )
    assert "assist_tasks" in exc.value.message_dict and fresh(case).status == Status.ASSIGNED
    transition_case(actor=dept, case=fresh(case), name="finish_assist", result="已拆除", photos=[photo()])
    task.refresh_from_db()
    assert (task.status, task.result, task.done_by) == ("done", "已拆除", dept)
    assert fresh(case).open_assist_count == 0
    assert case.attachments.filter(kind="assist").count() == 1
    assert not selectors.waiting_for(dept).filter(pk=case.pk).exists()
    transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="handle", result="好了", photos=[photo()]
    )
    assert fresh(case).status == Status.HANDLED


def test_sent_back_part_blocks_until_the_dispatcher_waives_it(case, people, tree, make_user, photo):
    dept = people[Role.DEPARTMENT_STAFF]
    add(case, people, {"department": tree.dept_a})
    transition_case(actor=dept, case=fresh(case), name="return_assist", comment="不属我局职责")
    assert AssistTask.objects.get(case=case).status == "returned" and fresh(case).open_assist_count == 1
    with pytest.raises(PermissionDenied):  # nothing open for the department any more
        transition_case(actor=dept, case=fresh(case), name="finish_assist", result="x")
    task = AssistTask.objects.get(case=case)
    # Another street's dispatcher may not waive it; a task of another case is refused naming the field.
    street_b = make_user(Role.STREET_STAFF, area=tree.street_b)
    with pytest.raises(PermissionDenied):
        transition_case(actor=street_b, case=fresh(case), name="waive_assist", comment="x", task=task)
    other = fresh(case)
    with pytest.raises(ValidationError) as exc:
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=other, name="waive_assist", comment="x", task=None)
    assert "task" in exc.value.message_dict
    transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="waive_assist", comment="改派", task=task
    )
    task.refresh_from_db()
    assert task.status == "waived" and task.waived_by == people[Role.COMMUNITY_STAFF]
    transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="handle", result="好了", photos=[photo()]
    )


def test_naming_rules(case, people, tree):
    with pytest.raises(ValidationError) as exc:
        add(case, people, {"area": tree.community_a})  # the lead itself
    assert "area" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        add(case, people, {"department": tree.dept_b})  # serves street B
    assert "department" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        add(case, people, {"department": tree.dept_a}, task=" ")
    assert "task" in exc.value.message_dict
    add(case, people, {"department": tree.dept_a})
    with pytest.raises(ValidationError):
        add(case, people, {"department": tree.dept_a})  # one open task per unit
    with pytest.raises(PermissionDenied):  # only the dispatching tier names units
        transition_case(
            actor=people[Role.DEPARTMENT_STAFF], case=fresh(case), name="add_assist", area=tree.grid_a, task="x"
        )
    assert AssistTask.objects.count() == 1 and fresh(case).open_assist_count == 1
    # Naming a unit is not a step anyone owes: the dispatcher's waiting list does not fill with assigned cases.
    assert not selectors.waiting_for(people[Role.STREET_STAFF]).filter(pk=case.pk).exists()


def test_each_task_climbs_its_own_ladder_once(case, people, tree, supervisors):
    add(case, people, {"department": tree.dept_a}, days=1)
    add(case, people, {"area": tree.grid_a}, days=1)
    tasks = list(AssistTask.objects.filter(case=case))
    later = max(t.deadline for t in tasks) + timedelta(minutes=1)
    for _ in range(3):
        sweep(now=later)
    rows = Escalation.objects.filter(case=case, stage="assist")
    assert {(r.level, r.deadline) for r in rows} == {(2, t.deadline) for t in tasks}
    assert rows.count() == 2  # created a moment apart: two deadlines, two steps
    grid_step = rows.get(deadline=next(t.deadline for t in tasks if t.area_id))
    assert grid_step.notified == [supervisors["community_a"].pk]  # overdue at the grid: its community is told
    # The lead's own clock is untouched by the tasks.
    assert not Escalation.objects.filter(case=case, stage="handle").exists()


def test_sweep_query_count_is_constant_with_assisting_tasks(make_case, people, tree):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            sweep(now=timezone.now() + timedelta(days=60))
        return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("INSERT")]

    make_case("assigned")
    few = queries()
    for _ in range(5):
        c = make_case("assigned")
        add(c, people, {"department": tree.dept_a})
        add(c, people, {"area": tree.grid_a})
    assert len(queries()) == len(few)


def test_rules_as_predicate_and_as_q_agree(case, people, tree, make_user):
    from cases import rules

    add(case, people, {"department": tree.dept_a})
    plain = Case.objects.exclude(pk=case.pk).first() or case
    users = [*people.values(), make_user(Role.DEPARTMENT_STAFF, department=tree.dept_b)]
    for rule in (rules.in_assisting_unit, rules.may_waive_assist):
        for c in {fresh(case), plain}:
            for user in users:
                assert rule(c, user) == Case.objects.filter(rule.q(user), pk=c.pk).exists(), (rule, user)


def test_api_joint_steps(case, people, tree):
    def api(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    url = f"/api/v1/cases/{case.pk}/transitions/"
    community = api(people[Role.COMMUNITY_STAFF])
    response = community.post(url + "add_assist/", {"department": tree.dept_b.pk, "task": "x"}, format="json")
    assert response.status_code == 400 and "department" in response.json()
    response = community.post(url + "add_assist/", {"department": tree.dept_a.pk, "task": "清运"}, format="json")
    assert response.status_code == 200
    dept = api(people[Role.DEPARTMENT_STAFF])
    assert {t["name"] for t in dept.get(url).json()} == {"finish_assist", "return_assist"}
    assert api(people[Role.GRID_WORKER]).post(url + "finish_assist/", {"result": "x"}, format="json").status_code == 403
    response = dept.post(url + "finish_assist/", {"result": "已清运"}, format="json")
    assert response.status_code == 200
    # A replay: nothing open any more for the department, and the case is still visible to it.
    assert dept.post(url + "finish_assist/", {"result": "已清运"}, format="json").status_code == 403
    assert AssistTask.objects.get().status == "done"


def test_admin_pages(client, case, people, tree):
    client.force_login(people[Role.COMMUNITY_STAFF])
    base = f"/admin/cases/case/{case.pk}/transition/"
    assert client.post(base + "add_assist/", {"department": tree.dept_a.pk, "task": ""}).status_code == 400
    assert client.post(base + "add_assist/", {"department": tree.dept_a.pk, "task": "配合执法"}).status_code == 302
    client.force_login(people[Role.DEPARTMENT_STAFF])
    page = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert "配合执法" in page
    assert client.post(base + "finish_assist/", {"result": "已配合"}).status_code == 302
    assert AssistTask.objects.get().status == "done"
