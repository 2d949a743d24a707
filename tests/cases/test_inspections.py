"""Joint inspections (联合巡查): planning, cases found linked to them, handled on the spot, the admin pages."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.roles import Role
from cases.inspections import inspections_for, plan_inspection, report_found
from cases.models import Case, JointInspection, Source, Status

from .conftest import png_bytes


def photo(name="p.png"):
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


@pytest.fixture
def plan(people, tree):
    def make(**overrides):
        params = {
            "actor": people[Role.STREET_STAFF],
            "title": "甲街道餐饮油烟联合巡查",
            "area": tree.street_a,
            "date": timezone.localdate() + dt.timedelta(days=1),
            "leader": people[Role.STREET_STAFF],
            "departments": [tree.dept_a],
        }
        params.update(overrides)
        return plan_inspection(**params)

    return make


def test_plan_rules_name_the_field_and_save_nothing(plan, people, tree):
    with pytest.raises(ValidationError) as exc:
        plan(date=timezone.localdate() - dt.timedelta(days=1))
    assert "date" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        plan(departments=[tree.dept_b])  # serves street B
    assert "departments" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        plan(area=tree.community_a)
    assert "area" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        plan(leader=people[Role.GRID_WORKER])
    assert "leader" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        plan(actor=people[Role.COMMUNITY_STAFF])  # a community does not plan a street's inspection
    assert not JointInspection.objects.exists()
    inspection = plan()
    assert list(inspection.departments.all()) == [tree.dept_a] and inspection.planned_by == people[Role.STREET_STAFF]


def test_cases_found_are_linked_and_one_is_handled_on_the_spot(plan, people, tree, categories, make_user):
    inspection = plan()
    dept = people[Role.DEPARTMENT_STAFF]
    found = report_found(
        actor=dept,
        inspection=inspection,
        title="油烟直排",
        description="烧烤店无油烟净化设施",
        category=categories["dispute"],
        grid=tree.grid_a,
        photos=[photo()],
    )
    assert (found.source, found.inspection, found.status, found.reporter) == (
        Source.JOINT_INSPECTION,
        inspection,
        Status.REPORTED,
        dept,
    )
    spot = report_found(
        actor=dept,
        inspection=inspection,
        title="占道经营",
        description="水果摊占用人行道",
        category=categories["dispute"],
        grid=tree.grid_a,
        on_the_spot=True,
        result="当场劝离",
        after_photos=[photo()],
    )
    spot = Case.objects.get(pk=spot.pk)
    assert spot.status == Status.HANDLED and spot.handling_department == tree.dept_a and spot.handler == dept
    assert spot.dispatcher_area == tree.street_a  # the planning tier verifies it
    assert [c.pk for c in inspection.cases.order_by("pk")] == [found.pk, spot.pk]
    # The street staff who planned it can verify it.
    from cases.services import transition_case

    transition_case(actor=people[Role.STREET_STAFF], case=spot, name="feed_back", comment="核查属实")
    # Outside the area, not taking part, on the spot without a department: refused, nothing saved.
    before = Case.objects.count()
    with pytest.raises(ValidationError) as exc:
        report_found(
            actor=dept,
            inspection=inspection,
            title="x",
            description="x",
            category=categories["dispute"],
            grid=tree.grid_b,
        )
    assert "grid" in exc.value.message_dict
    outsider = make_user(Role.DEPARTMENT_STAFF, department=tree.dept_b)
    with pytest.raises(PermissionDenied):
        report_found(
            actor=outsider,
            inspection=inspection,
            title="x",
            description="x",
            category=categories["dispute"],
            grid=tree.grid_a,
        )
    with pytest.raises(ValidationError) as exc:
        report_found(
            actor=people[Role.STREET_STAFF],
            inspection=inspection,
            title="x",
            description="x",
            category=categories["dispute"],
            grid=tree.grid_a,
            on_the_spot=True,
            result="x",
            after_photos=[photo()],
        )
    assert "on_the_spot" in exc.value.message_dict
    assert Case.objects.count() == before


def test_who_sees_which_inspection(plan, people, tree, make_user):
    inspection = plan()
    street_b = make_user(Role.STREET_STAFF, area=tree.street_b)
    assert inspection in inspections_for(people[Role.DISTRICT_STAFF])
    assert inspection in inspections_for(people[Role.COMMUNITY_STAFF])
    assert inspection in inspections_for(people[Role.DEPARTMENT_STAFF])  # its department takes part
    assert inspection not in inspections_for(street_b)


def test_admin_plan_and_report_pages(client, plan, people, tree, categories):
    client.force_login(people[Role.STREET_STAFF])
    day = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    response = client.post(
        "/admin/cases/jointinspection/add/",
        {
            "title": "联合执法",
            "area": tree.street_a.pk,
            "date": "2020-01-01",
            "leader": people[Role.STREET_STAFF].pk,
            "departments": [tree.dept_a.pk],
        },
    )
    assert response.status_code == 200 and not JointInspection.objects.exists()
    response = client.post(
        "/admin/cases/jointinspection/add/",
        {
            "title": "联合执法",
            "area": tree.street_a.pk,
            "date": day,
            "leader": people[Role.STREET_STAFF].pk,
            "departments": [tree.dept_a.pk],
        },
    )
    assert response.status_code == 302
    inspection = JointInspection.objects.get()
    client.force_login(people[Role.DEPARTMENT_STAFF])
    url = f"/admin/cases/jointinspection/{inspection.pk}/report/"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "title": "乱搭建",
            "description": "楼顶违建",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.pk,
            "on_the_spot": "on",
            "result": "当场拆除",
            "after_photos": [photo()],
        },
    )
    assert response.status_code == 302
    page = client.get(f"/admin/cases/jointinspection/{inspection.pk}/change/").content.decode()
    assert "乱搭建" in page
    assert Case.objects.get().status == Status.HANDLED


def test_monthly_counts_per_street(plan, people, tree, categories):
    from cases.inspections import monthly_counts

    first = plan()
    plan(title="第二次巡查")
    report_found(
        actor=people[Role.DEPARTMENT_STAFF],
        inspection=first,
        title="油烟直排",
        description="无净化设施",
        category=categories["dispute"],
        grid=tree.grid_a,
    )
    day = first.date
    counts = monthly_counts(street_paths={tree.street_a.path, tree.street_b.path}, year=day.year, month=day.month)
    assert counts == {tree.street_a.path: (2, 1)}
