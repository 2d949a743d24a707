"""Training (培训): attendance only for the people one administers, courses kept by their area, who is due."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import training
from accounts.models import Attendance, Course
from accounts.roles import Role


@pytest.fixture
def course(tree):
    return Course.objects.create(
        title="网格员年度轮训", date=timezone.localdate() - timedelta(days=10), hours=Decimal("8"), area=tree.street_a
    )


@pytest.mark.django_db
def test_community_records_its_own_grid_workers_only(course, people, make_user, tree):
    community = people[Role.COMMUNITY_STAFF]
    worker = people[Role.GRID_WORKER]
    attendance = training.record_attendance(actor=community, course=course, user=worker, hours="8", passed=True)
    assert (attendance.hours, attendance.passed, attendance.recorded_by) == (Decimal("8"), True, community)
    # A replay corrects the same row rather than adding one.
    training.record_attendance(actor=community, course=course, user=worker, hours=6, passed=False)
    assert Attendance.objects.filter(course=course, user=worker).count() == 1
    # Not someone they do not administer: a peer, another community's worker, themselves, their superior.
    other_worker = make_user(Role.GRID_WORKER, area=tree.grid_b)
    peer = make_user(Role.COMMUNITY_STAFF, area=tree.community_a)
    for person in (other_worker, peer, community, people[Role.STREET_STAFF]):
        with pytest.raises(PermissionDenied):
            training.record_attendance(actor=community, course=course, user=person, hours=1, passed=True)
    # A street records its communities' staff.
    training.record_attendance(actor=people[Role.STREET_STAFF], course=course, user=peer, hours=8, passed=True)


@pytest.mark.django_db
def test_bad_input_names_the_field(course, people, tree):
    community, worker = people[Role.COMMUNITY_STAFF], people[Role.GRID_WORKER]
    for hours in ("0", "9", "abc", None):
        with pytest.raises(ValidationError) as exc:
            training.record_attendance(actor=community, course=course, user=worker, hours=hours, passed=True)
        assert "hours" in exc.value.message_dict
    future = Course.objects.create(
        title="下月培训", date=timezone.localdate() + timedelta(days=5), hours=4, area=tree.community_a
    )
    with pytest.raises(ValidationError) as exc:
        training.record_attendance(actor=community, course=future, user=worker, hours=4, passed=True)
    assert "course" in exc.value.message_dict
    # A course of another street is not theirs to record against.
    elsewhere = Course.objects.create(title="乙街道培训", date=course.date, hours=4, area=tree.street_b)
    with pytest.raises(PermissionDenied):
        training.record_attendance(actor=community, course=elsewhere, user=worker, hours=4, passed=True)
    assert not Attendance.objects.exists()


@pytest.mark.django_db
def test_courses_are_kept_by_who_manages_their_area(people, tree):
    community = people[Role.COMMUNITY_STAFF]
    own = training.save_course(
        actor=community,
        course=Course(title="社区消防培训", date=timezone.localdate(), hours=2, area=tree.community_a),
    )
    assert own.created_by == community
    with pytest.raises(PermissionDenied):
        training.save_course(
            actor=community, course=Course(title="x", date=timezone.localdate(), hours=2, area=tree.street_a)
        )
    with pytest.raises(ValidationError):
        training.save_course(
            actor=community, course=Course(title="x", date=timezone.localdate(), hours=0, area=tree.community_a)
        )


@pytest.mark.django_db
def test_due_list_per_community(course, people, make_user, tree, settings, django_assert_num_queries):
    settings.TRAINING_INTERVAL_DAYS = 365
    today = timezone.localdate()
    trained = people[Role.GRID_WORKER]
    failed = make_user(Role.GRID_WORKER, area=tree.grid_a, username="failed")
    stale = make_user(Role.GRID_WORKER, area=tree.grid_a, username="stale")
    make_user(Role.GRID_WORKER, area=tree.grid_b, username="never_b")
    old = Course.objects.create(title="去年轮训", date=today - timedelta(days=400), hours=8, area=tree.district)
    Attendance.objects.create(course=course, user=trained, hours=8, passed=True)
    Attendance.objects.create(course=course, user=failed, hours=8, passed=False)
    Attendance.objects.create(course=old, user=stale, hours=8, passed=True)
    with django_assert_num_queries(1):  # the community of each grid comes with it, and the last pass
        rows = training.due_grid_workers(area=tree.district, today=today)
        got = {row.community.name: {(w.user.username, w.last_trained) for w in row.workers} for row in rows}
        assert got == {"甲一社区": {("failed", None), ("stale", old.date)}, "乙一社区": {("never_b", None)}}
    # Within street B only its own community.
    assert [r.community for r in training.due_grid_workers(area=tree.street_b, today=today)] == [tree.community_b]
    # The interval is a setting: with two years the stale worker is no longer due.
    settings.TRAINING_INTERVAL_DAYS = 730
    rows = training.due_grid_workers(area=tree.community_a, today=today)
    assert {w.user.username for r in rows for w in r.workers} == {"failed"}


@pytest.mark.django_db
def test_admin_scope(course, people, make_user, tree, client, role_groups):
    community = people[Role.COMMUNITY_STAFF]
    other = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    worker_b = make_user(Role.GRID_WORKER, area=tree.grid_b)
    theirs = Attendance.objects.create(
        course=Course.objects.create(title="乙社区培训", date=course.date, hours=2, area=tree.community_b),
        user=worker_b,
        hours=2,
        passed=True,
    )
    client.force_login(community)
    # Another community's record: 403, not a redirect that reveals nothing.
    assert client.get(reverse("admin:accounts_attendance_change", args=[theirs.pk])).status_code == 403
    # Attendance for someone they do not administer is refused: the form offers only their people.
    add = reverse("admin:accounts_attendance_add")
    page = client.get(add)
    assert page.status_code == 200
    body = page.content.decode()
    assert people[Role.GRID_WORKER].username in body and worker_b.username not in body
    response = client.post(add, {"course": course.pk, "user": worker_b.pk, "hours": "2", "passed": "on"})
    assert response.status_code == 200 and not Attendance.objects.filter(course=course, user=worker_b).exists()
    response = client.post(
        add, {"course": course.pk, "user": people[Role.GRID_WORKER].pk, "hours": "8", "passed": "on"}
    )
    assert response.status_code == 302
    assert Attendance.objects.get(course=course, user=people[Role.GRID_WORKER]).recorded_by == community
    listing = client.get(reverse("admin:accounts_attendance_changelist")).content.decode()
    assert worker_b.get_full_name() not in listing
    client.force_login(other)
    assert client.get(reverse("admin:accounts_attendance_changelist")).status_code == 200
