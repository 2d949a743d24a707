"""The deadline sweep: warnings, escalation up the tiers, idempotence, digests, the outbox."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from cases.escalation import sweep
from cases.models import Case, Escalation, WorkflowSettings
from cases.services import acknowledge_escalation, transition_case
from outbox.delivery import deliver_pending
from outbox.models import Notification


def digests_to(address):
    return [m for m in mail.outbox if address in m.to]


def overdue(case, hours=1):
    """Move a case's clock into the past, as if its deadline passed ``hours`` ago."""
    case.refresh_from_db()
    shift = case.current_deadline - timezone.now() + timedelta(hours=hours)
    Case.objects.filter(pk=case.pk).update(
        stage_started_at=case.stage_started_at - shift,
        current_deadline=case.current_deadline - shift,
        warn_at=case.warn_at - shift,
        final_at=case.final_at + timedelta(days=30),
    )


@pytest.mark.django_db
class TestLadder:
    def test_community_case_overdue_goes_to_street_supervisors_once(self, make_case, supervisors):
        case = make_case("assigned")  # handled by community A
        overdue(case)
        for _ in range(3):
            sweep()
        red = Escalation.objects.filter(case=case, level=2)
        assert red.count() == 1
        assert red.get().notified == [supervisors["street_a"].pk]
        case.refresh_from_db()
        assert case.deadline_state == "red"
        deliver_pending()
        deliver_pending()
        assert len(digests_to("sup_street_a@example.gov.cn")) == 1
        for other in ("sup_street_b", "sup_district", "sup_comm_b"):
            assert digests_to(f"{other}@example.gov.cn") == []

    def test_department_case_goes_to_the_district(self, make_case, supervisors, people, tree):
        case = make_case("assessed")
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", department=tree.dept_a)
        overdue(case)
        sweep()
        assert Escalation.objects.get(case=case, level=2).notified == [supervisors["district"].pk]

    def test_street_case_goes_to_the_district(self, make_case, supervisors, people, tree):
        case = make_case("assessed")
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", area=tree.street_a)
        overdue(case)
        sweep()
        assert Escalation.objects.get(case=case, level=2).notified == [supervisors["district"].pk]

    def test_unassessed_case_goes_above_its_community(self, make_case, supervisors):
        case = make_case("reported")
        overdue(case)
        sweep()
        assert Escalation.objects.get(case=case, level=2).notified == [supervisors["street_a"].pk]

    def test_street_b_case_tells_street_b_only(self, make_case, supervisors, tree, people):
        case = make_case("assessed", grid=tree.grid_b)
        transition_case(actor=people["superuser"], case=case, name="assign", area=tree.community_b)
        overdue(case)
        sweep()
        assert Escalation.objects.get(case=case, level=2).notified == [supervisors["street_b"].pk]

    def test_warning_at_80_percent_goes_to_the_handling_unit(self, make_case, supervisors, people):
        case = make_case("assigned")
        span = case.current_deadline - case.stage_started_at
        sweep(now=case.stage_started_at + span * 0.79)
        assert not Escalation.objects.filter(case=case).exists()
        sweep(now=case.stage_started_at + span * 0.81)
        warning = Escalation.objects.get(case=case)
        assert warning.level == 1
        # Community A's staff: the handling unit and the dispatcher (both community A here).
        assert set(warning.notified) == {people[Role.COMMUNITY_STAFF].pk, supervisors["community_a"].pk}

    def test_warning_ratio_is_a_setting(self, make_case):
        WorkflowSettings.objects.create(warning_ratio="0.50")
        case = make_case("assigned")
        span = case.current_deadline - case.stage_started_at
        sweep(now=case.stage_started_at + span * 0.55)
        assert Escalation.objects.filter(case=case, level=1).exists()

    def test_district_is_told_after_the_grace_period(self, make_case, supervisors):
        case = make_case("assigned")
        case.refresh_from_db()
        sweep(now=case.current_deadline + timedelta(minutes=1))
        assert set(Escalation.objects.filter(case=case).values_list("level", flat=True)) == {2}
        sweep(now=case.final_at + timedelta(minutes=1))
        district = Escalation.objects.get(case=case, level=3)
        assert district.notified == [supervisors["district"].pk]
        # One working day of grace by default: the final step is on a working day after the deadline.
        assert case.final_at > case.current_deadline

    def test_rework_starts_a_new_clock_with_new_steps(self, make_case, supervisors, people):
        case = make_case("handled")
        overdue(case)
        sweep()
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="reject", comment="不合格")
        case.refresh_from_db()
        assert case.deadline_state == "green"
        overdue(case)
        sweep()
        assert Escalation.objects.filter(case=case, level=2).count() == 2


@pytest.mark.django_db
class TestDigests:
    def test_one_digest_per_supervisor_listing_every_case(self, make_case, supervisors):
        cases = [make_case("assigned", title=f"案件{i}") for i in range(3)]
        for case in cases:
            overdue(case, hours=26)
        sweep()
        deliver_pending()
        [digest] = digests_to("sup_street_a@example.gov.cn")
        text = digest.body
        html = digest.alternatives[0][0]
        for case in cases:
            case.refresh_from_db()
            assert case.number in text and case.number in html
            assert f"/admin/cases/case/{case.pk}/change/" in html
        assert "甲一网格" in text  # the area
        assert "超期" in digest.subject or "Overdue" in digest.subject

    def test_assignment_tells_the_handling_unit_through_the_outbox(self, make_case, people, tree, make_user):
        from accounts.models import User

        User.objects.filter(pk=people[Role.DEPARTMENT_STAFF].pk).update(email="dept_a@example.gov.cn")
        case = make_case("assessed")
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", department=tree.dept_a)
        row = Notification.objects.get(to_address="dept_a@example.gov.cn")
        assert row.kind == "case_assigned"
        deliver_pending()
        [message] = digests_to("dept_a@example.gov.cn")
        assert case.number in message.subject


@pytest.mark.django_db
def test_supervisor_acknowledges_and_instructs(make_case, supervisors, client):
    case = make_case("assigned")
    overdue(case)
    sweep()
    red = Escalation.objects.get(case=case, level=2)
    with pytest.raises(PermissionDenied):
        acknowledge_escalation(actor=supervisors["street_b"], escalation=red, instruction="快办")
    client.force_login(supervisors["street_a"])
    response = client.post(f"/admin/cases/escalation/{red.pk}/change/", {"instruction": "请于今日内处置完毕"})
    assert response.status_code == 302
    red.refresh_from_db()
    assert red.acknowledged_by == supervisors["street_a"] and red.instruction == "请于今日内处置完毕"
    # The handling unit sees the instruction on the case.
    page = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert "请于今日内处置完毕" in page


def _sweep_queries():
    with CaptureQueriesContext(connection) as queries:
        result = sweep()
    sql = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "sqlite":
        # SQLite caps bound parameters per statement, so Django splits one bulk
        # INSERT into chunks; PostgreSQL sends one. Count everything else there.
        sql = [q for q in sql if not q.startswith("INSERT")]
    return result, sql


@pytest.mark.django_db
def test_sweep_queries_do_not_grow_with_cases(make_case, supervisors, make_user, tree):
    from accounts.models import User
    from tests.cases.test_admin import clone_cases

    def make_overdue(n):
        clone_cases(template, n)
        Case.objects.filter(escalations__isnull=True).update(
            stage_started_at=timezone.now() - timedelta(days=10),
            current_deadline=timezone.now() - timedelta(hours=1),
            warn_at=timezone.now() - timedelta(days=2),
            final_at=timezone.now() + timedelta(days=1),
        )

    template = make_case("assigned")
    make_overdue(9)
    few_result, few = _sweep_queries()
    # More people to tell must not mean more queries either: twenty more street supervisors.
    for i in range(20):
        user = make_user(Role.STREET_STAFF, area=tree.street_a, supervisor=True, username=f"extra_sup{i}")
        User.objects.filter(pk=user.pk).update(email=f"extra{i}@example.gov.cn")
    make_overdue(1000)
    many_result, many = _sweep_queries()
    assert (few_result.recorded[2], many_result.recorded[2]) == (10, 1000)
    assert (few_result.notifications, many_result.notifications) == (1, 21)
    assert len(many) == len(few), many


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_record_once(postgres, make_case, supervisors):
    cases = [make_case("assigned") for _ in range(20)]
    for case in cases:
        overdue(case)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(sweep())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.recorded[2] for r in results) == 20
    assert Escalation.objects.filter(level=2).count() == 20
    assert Notification.objects.filter(to_address="sup_street_a@example.gov.cn").count() == 1


@pytest.mark.django_db
def test_escalations_show_in_the_api_detail(make_case, supervisors, people):
    from tests.api_support import token_client

    case = make_case("assigned")
    overdue(case)
    sweep()
    body = token_client(people[Role.COMMUNITY_STAFF]).get(f"/api/v1/cases/{case.pk}/").json()
    assert body["deadline_state"] == "red"
    [step] = body["escalations"]
    assert step["level"] == 2 and step["notified_names"]


@pytest.mark.django_db
def test_changing_the_warning_ratio_moves_open_clocks(make_case, people, client, django_capture_on_commit_callbacks):
    case = make_case("assigned")
    span = case.current_deadline - case.stage_started_at
    client.force_login(people["superuser"])
    # The settings list opens the one row; its change page is where the ratio is edited.
    row_url = client.get("/admin/cases/workflowsettings/")["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            row_url,
            {
                "warning_ratio": "0.50",
                "grace_workdays": 2,
                "sweep_interval_minutes": 1,
                "max_delivery_attempts": 5,
                "rework_limit": 2,
                "rating_window_days": 7,
                "rating_link_days": 7,
                "camera_alarm_window_minutes": 30,
            },
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    # The admin queued the recomputation for a worker; run it here.
    from cases.services import recompute_open_clocks

    assert recompute_open_clocks() == 1
    case.refresh_from_db()
    assert abs((case.warn_at - case.stage_started_at) - span * 0.5) < timedelta(seconds=1)
    assert case.final_at > case.current_deadline + timedelta(days=1)
