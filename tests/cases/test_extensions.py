"""Extension (延期) and suspension (挂账): the steps, their rules, the clock they move, the sweep, API and admin."""

import datetime as dt
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_fsm_log.models import StateLog
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import Role
from cases import extensions, selectors
from cases.calendar import deadline_after
from cases.escalation import sweep
from cases.models import Case, ClockRequest, Escalation, ResumeClock, Status
from cases.services import CaseStateConflict, resume_suspended, transition_case
from outbox.models import Notification


@pytest.fixture
def handler(people):
    return people[Role.COMMUNITY_STAFF]


@pytest.fixture
def case(make_case, tree, people):
    """Dispatched by community A to street A's department: the department handles, the community decides."""
    case = make_case("assessed")
    return transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", department=tree.dept_a)


def fresh(case):
    return Case.objects.get(pk=case.pk)


def logs(case):
    return StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)


def ask(case, people, days=3, **params):
    return transition_case(
        actor=people[Role.DEPARTMENT_STAFF],
        case=fresh(case),
        name="request_extension",
        comment="需协调施工队",
        days=days,
        **params,
    )


def tomorrow(days=1):
    return timezone.localdate() + timedelta(days=days)


# --- extension --------------------------------------------------------------------------
def test_request_then_approve_moves_the_deadline_with_the_calendar(case, people, tree):
    before = fresh(case)
    ask(case, people, days=5)
    waiting = fresh(case)
    assert waiting.pending_request == "extension" and waiting.clock_approver_path == tree.community_a.path
    assert waiting.current_deadline == before.current_deadline  # asking moves nothing
    request = ClockRequest.objects.get(case=case)
    assert (request.status, request.days, request.requested_by) == ("pending", 5, people[Role.DEPARTMENT_STAFF])
    assert request.approving_area == tree.community_a and request.deadline > request.requested_at

    transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=waiting, name="approve_extension", comment="同意", granted_days=3
    )
    after = fresh(case)
    expected = deadline_after(before.current_deadline, 3, "workdays")
    assert after.current_deadline == after.handle_deadline == after.extended_until == expected
    assert after.warn_at > before.warn_at and after.final_at > before.final_at
    assert after.pending_request == "" and after.status == Status.ASSIGNED
    request.refresh_from_db()
    assert (request.status, request.granted_days, request.decided_by) == ("approved", 3, people[Role.COMMUNITY_STAFF])
    assert (request.old_deadline, request.new_deadline) == (before.current_deadline, expected)
    history = list(logs(case).order_by("pk").values_list("transition", "by_id", "description"))[-2:]
    assert history == [
        ("request_extension", people[Role.DEPARTMENT_STAFF].pk, "需协调施工队"),
        ("approve_extension", people[Role.COMMUNITY_STAFF].pk, "同意"),
    ]
    assert "延期至" in extensions.clock_note(after) or "Extended to" in extensions.clock_note(after)


def test_refused_request_leaves_the_clock(case, people):
    before = fresh(case)
    ask(case, people)
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="refuse_extension", comment="不符合条件")
    after = fresh(case)
    assert (after.current_deadline, after.warn_at, after.final_at) == (
        before.current_deadline,
        before.warn_at,
        before.final_at,
    )
    assert after.extended_until is None and after.pending_request == ""
    assert ClockRequest.objects.get(case=case).status == "refused"


def test_refusals_name_the_field_and_save_nothing(case, people, make_user, tree):
    n_logs = logs(case).count()
    # More days than the category's cap (10 by default).
    with pytest.raises(ValidationError) as exc:
        ask(case, people, days=11)
    assert "days" in exc.value.message_dict
    # Someone outside the handling unit.
    for outsider in (people[Role.GRID_WORKER], make_user(Role.DEPARTMENT_STAFF, department=tree.dept_b)):
        with pytest.raises(PermissionDenied):
            transition_case(actor=outsider, case=fresh(case), name="request_extension", comment="x", days=2)
    ask(case, people)
    # A second request while one waits (a replay): not a step open now.
    with pytest.raises(PermissionDenied):
        ask(case, people)
    # An approval by someone outside the approving tier: the grid worker, street B, the department itself.
    street_b = make_user(Role.STREET_STAFF, area=tree.street_b)
    for outsider in (people[Role.GRID_WORKER], street_b, people[Role.DEPARTMENT_STAFF]):
        with pytest.raises(PermissionDenied):
            transition_case(actor=outsider, case=fresh(case), name="approve_extension", comment="同意")
    # More days granted than asked.
    with pytest.raises(ValidationError) as exc:
        transition_case(
            actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="ok", granted_days=9
        )
    assert "granted_days" in exc.value.message_dict
    assert ClockRequest.objects.filter(case=case).count() == 1
    assert logs(case).count() == n_logs + 1
    assert fresh(case).extended_until is None


def test_past_the_cap_of_requests_the_tier_above_decides(case, people, tree):
    for _ in range(2):
        ask(case, people)
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="同意")
    ask(case, people)
    third = ClockRequest.objects.filter(case=case, status="pending").get()
    assert third.approving_area == tree.street_a
    with pytest.raises(PermissionDenied):
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="同意")
    transition_case(actor=people[Role.STREET_STAFF], case=fresh(case), name="approve_extension", comment="同意")
    assert ClockRequest.objects.filter(case=case, status="approved").count() == 3


def test_handling_lapses_a_waiting_request(case, people, photo):
    ask(case, people)
    transition_case(
        actor=people[Role.DEPARTMENT_STAFF], case=fresh(case), name="handle", result="已处置", photos=[photo()]
    )
    assert ClockRequest.objects.get(case=case).status == "lapsed"
    assert fresh(case).pending_request == ""
    with pytest.raises(CaseStateConflict):
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="x")


def test_waiting_for_me_shows_the_decision_to_the_approving_tier_only(case, people, make_user, tree):
    community, street_b = people[Role.COMMUNITY_STAFF], make_user(Role.STREET_STAFF, area=tree.street_b)
    assert not selectors.waiting_for(community).filter(pk=case.pk).exists()
    ask(case, people)
    assert selectors.waiting_for(community).filter(pk=case.pk).exists()
    assert not selectors.waiting_for(street_b).filter(pk=case.pk).exists()
    # The department still sees it waiting (it may handle it), but may not ask twice.
    assert selectors.waiting_for(people[Role.DEPARTMENT_STAFF]).filter(pk=case.pk).exists()


# --- the sweep --------------------------------------------------------------------------
def test_sweep_never_climbs_a_replaced_deadline_and_records_the_new_ladder_once(case, people):
    c = fresh(case)
    now = c.current_deadline + timedelta(hours=1)
    first = sweep(now=now)
    assert first.recorded[2] == 1  # overdue on the first deadline
    ask(case, people, days=5, now=now)
    transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="同意", now=now
    )
    new = fresh(case)
    assert new.current_deadline > now
    for _ in range(3):
        sweep(now=now + timedelta(minutes=5))
    # Nothing more for the replaced deadline (its district point passes too), nothing yet for the new one.
    rows = list(Escalation.objects.filter(case=case, stage="handle").values_list("deadline", "level"))
    assert rows == [(c.current_deadline, 2)]
    for moment in (new.warn_at, new.current_deadline, new.final_at):
        for _ in range(3):
            sweep(now=moment + timedelta(minutes=1))
    rows = Escalation.objects.filter(case=case, stage="handle").order_by("deadline", "level")
    assert list(rows.values_list("deadline", "level")) == [
        (c.current_deadline, 2),
        (new.current_deadline, 1),
        (new.current_deadline, 2),
        (new.current_deadline, 3),
    ]
    # The request itself climbed on its own clock while nobody decided? It was decided at once: nothing.
    assert not Escalation.objects.filter(case=case, stage="request").exists()


def test_a_waiting_request_climbs_its_own_ladder_to_the_approving_tier(case, people, supervisors):
    ask(case, people)
    request = ClockRequest.objects.get(case=case)
    for _ in range(2):
        result = sweep(now=request.deadline + timedelta(minutes=1))
    rows = Escalation.objects.filter(case=case, stage="request")
    assert list(rows.values_list("level", "deadline")) == [(2, request.deadline)]
    # Overdue at the community: the street's supervisors are told.
    assert rows.get().notified == [supervisors["street_a"].pk]
    assert result.recorded == {1: 0, 2: 0, 3: 0}


def test_sweep_never_touches_a_suspended_case(case, people):
    suspend(case, people)
    c = fresh(case)
    assert c.status == Status.SUSPENDED and c.current_deadline is None
    before = Escalation.objects.count()
    for days in (1, 30, 300):
        sweep(now=timezone.now() + timedelta(days=days))
    assert Escalation.objects.filter(case=case).count() == 0 and Escalation.objects.count() == before


def test_sweep_query_count_is_constant_with_requests_and_suspensions(make_case, people, tree):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            sweep(now=timezone.now() + timedelta(days=60))
        return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("INSERT")]

    base = make_case("assigned")
    few = queries()
    for _ in range(6):
        c = make_case("assigned")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=c, name="request_extension", comment="等材料", days=2)
    for _ in range(4):
        suspend(make_case("assigned"), people, actor=people[Role.COMMUNITY_STAFF])
    assert base.pk
    many = queries()
    assert len(many) == len(few), many


# --- suspension -------------------------------------------------------------------------
def suspend(case, people, *, actor=None, review=None):
    actor = actor or people[Role.DEPARTMENT_STAFF]
    transition_case(
        actor=actor,
        case=fresh(case),
        name="request_suspension",
        comment="需专项资金",
        review_date=review or tomorrow(5),
    )
    return transition_case(
        actor=people[Role.DISTRICT_STAFF], case=fresh(case), name="approve_suspension", comment="同意挂账"
    )


def test_suspension_request_rules(case, people):
    with pytest.raises(ValidationError) as exc:
        transition_case(
            actor=people[Role.DEPARTMENT_STAFF],
            case=fresh(case),
            name="request_suspension",
            comment="x",
            review_date=timezone.localdate() - timedelta(days=1),
        )
    assert "review_date" in exc.value.message_dict
    transition_case(
        actor=people[Role.DEPARTMENT_STAFF],
        case=fresh(case),
        name="request_suspension",
        comment="x",
        review_date=tomorrow(),
    )
    # The district approves by default: the community and the street may not.
    for outsider in (people[Role.COMMUNITY_STAFF], people[Role.STREET_STAFF]):
        with pytest.raises(PermissionDenied):
            transition_case(actor=outsider, case=fresh(case), name="approve_suspension", comment="同意")
    assert fresh(case).status == Status.ASSIGNED and not ClockRequest.objects.filter(status="approved").exists()


def test_resume_on_review_date_with_the_time_left_and_tells_unit_and_dispatcher(case, people):
    c = fresh(case)
    left = c.current_deadline - timezone.now()
    suspend(case, people, review=tomorrow(3))
    s = fresh(case)
    assert abs(s.suspended_remaining - left) < timedelta(minutes=1)
    assert resume_suspended(now=timezone.now()) == 0  # not yet
    Notification.objects.all().delete()
    for role in (Role.DEPARTMENT_STAFF, Role.COMMUNITY_STAFF):
        User.objects.filter(pk=people[role].pk).update(email=f"{role}@example.gov.cn")
    review_day = timezone.make_aware(dt.datetime.combine(tomorrow(3), dt.time(8)))
    assert resume_suspended(now=review_day) == 1
    r = fresh(case)
    assert r.status == Status.ASSIGNED and r.suspended_until is None and r.clock_approver_path == ""
    assert r.current_deadline == review_day + s.suspended_remaining and r.warn_at is not None
    told = set(Notification.objects.filter(kind="case_resumed").values_list("recipient_id", flat=True))
    assert {people[Role.DEPARTMENT_STAFF].pk, people[Role.COMMUNITY_STAFF].pk} <= told
    assert logs(case).order_by("-pk").first().by_id is None  # the platform resumed it
    assert resume_suspended(now=review_day) == 0


def test_resume_with_a_new_clock_when_the_category_says(case, people):
    case.category.suspension_resume = ResumeClock.NEW
    case.category.save()
    suspend(case, people)
    now = timezone.now() + timedelta(days=10)
    transition_case(
        actor=people[Role.DISTRICT_STAFF], case=fresh(case), name="lift_suspension", comment="资金到位", now=now
    )
    r = fresh(case)
    assert r.status == Status.ASSIGNED and r.current_deadline == deadline_after(now, 5, "workdays")


def test_only_the_approving_tier_lifts_early(case, people):
    suspend(case, people)
    for outsider in (people[Role.COMMUNITY_STAFF], people[Role.DEPARTMENT_STAFF]):
        with pytest.raises(PermissionDenied):
            transition_case(actor=outsider, case=fresh(case), name="lift_suspension", comment="x")
    assert selectors.waiting_for(people[Role.DISTRICT_STAFF]).filter(pk=case.pk).exists()
    assert not selectors.waiting_for(people[Role.COMMUNITY_STAFF]).filter(pk=case.pk).exists()
    assert selectors.suspended_count(people[Role.STREET_STAFF]) == 1
    assert selectors.suspended_count(people[Role.GRID_WORKER]) == 1


# --- API -----------------------------------------------------------------------------------
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_steps_answer_200_400_403_409(case, people, make_user, tree):
    url = f"/api/v1/cases/{case.pk}/transitions/"
    dept = api(people[Role.DEPARTMENT_STAFF])
    names = [t["name"] for t in dept.get(url).json()]
    assert {"request_extension", "request_suspension"} <= set(names)
    response = dept.post(url + "request_extension/", {"comment": "x", "days": 30}, format="json")
    assert response.status_code == 400 and "days" in response.json()
    response = api(people[Role.GRID_WORKER]).post(
        url + "request_extension/", {"comment": "x", "days": 2}, format="json"
    )
    assert response.status_code == 403
    response = dept.post(url + "request_extension/", {"comment": "等配件", "days": 2}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "assigned"
    community = api(people[Role.COMMUNITY_STAFF])
    assert "approve_extension" in [t["name"] for t in community.get(url).json()]
    response = api(make_user(Role.STREET_STAFF, area=tree.street_b)).post(
        url + "approve_extension/", {"comment": "同意"}, format="json"
    )
    assert response.status_code == 404  # not even visible
    response = community.post(url + "approve_extension/", {"comment": "同意", "granted_days": 1}, format="json")
    assert response.status_code == 200
    # A replayed approval: the step is no longer open to anyone.
    response = community.post(url + "approve_extension/", {"comment": "同意"}, format="json")
    assert response.status_code == 403
    assert ClockRequest.objects.get(case=case).granted_days == 1
    # Suspension with a past review date names the field.
    response = dept.post(url + "request_suspension/", {"comment": "x", "review_date": "2020-01-01"}, format="json")
    assert response.status_code == 400 and "review_date" in response.json()


def test_api_conflict_when_the_case_moved(case, people, photo):
    ask(case, people)
    stale = fresh(case)
    transition_case(
        actor=people[Role.DEPARTMENT_STAFF], case=fresh(case), name="handle", result="好了", photos=[photo()]
    )
    with pytest.raises(CaseStateConflict):
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=stale, name="approve_extension", comment="同意")
    response = api(people[Role.COMMUNITY_STAFF]).post(
        f"/api/v1/cases/{case.pk}/transitions/approve_extension/", {"comment": "同意"}, format="json"
    )
    assert response.status_code == 409


# --- admin -------------------------------------------------------------------------------------
def test_admin_transition_pages_use_the_same_service(client, case, people):
    client.force_login(people[Role.DEPARTMENT_STAFF])
    url = f"/admin/cases/case/{case.pk}/transition/request_extension/"
    page = client.get(url)
    assert page.status_code == 200
    response = client.post(url, {"comment": "材料不全", "days": "40"})
    assert response.status_code == 400 and not ClockRequest.objects.exists()
    response = client.post(url, {"comment": "材料不全", "days": "4"})
    assert response.status_code == 302 and ClockRequest.objects.get().days == 4
    client.force_login(people[Role.COMMUNITY_STAFF])
    change = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert "approve_extension" in change
    response = client.post(
        f"/admin/cases/case/{case.pk}/transition/approve_extension/", {"comment": "同意", "granted_days": "2"}
    )
    assert response.status_code == 302 and fresh(case).extended_until is not None


def test_public_tracking_shows_the_moved_clock_without_reasons(client, case, people):
    suspend(case, people)
    page = client.get(f"/track/{case.tracking_code}/").content.decode()
    assert "需专项资金" not in page and "同意挂账" not in page
    assert tomorrow(5).strftime("%Y-%m-%d") in page


def test_api_detail_shows_the_moved_clock(case, people):
    ask(case, people)
    client = api(people[Role.DEPARTMENT_STAFF])
    clock = client.get(f"/api/v1/cases/{case.pk}/").json()["clock"]
    assert clock["pending_request"] == "extension" and clock["extended_until"] is None
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="同意")
    clock = client.get(f"/api/v1/cases/{case.pk}/").json()["clock"]
    assert clock["pending_request"] == "" and clock["extended_until"] is not None and clock["note"]
    suspend(case, people)
    clock = client.get(f"/api/v1/cases/{case.pk}/").json()["clock"]
    assert clock["suspended_until"] == tomorrow(5).isoformat()


def test_admin_case_page_shows_the_clock_line(client, case, people):
    suspend(case, people)
    client.force_login(people[Role.COMMUNITY_STAFF])
    page = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert "挂账至 " + tomorrow(5).strftime("%Y-%m-%d") in page


def test_rules_as_predicate_and_as_q_agree(make_case, people, make_user, tree):
    from cases import rules

    users = [*people.values(), make_user(Role.STREET_STAFF, area=tree.street_b)]
    plain = make_case("assigned")
    asking = make_case("assigned")
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=asking, name="request_extension", comment="x", days=1)
    suspended = make_case("assigned")
    suspend(suspended, people, actor=people[Role.COMMUNITY_STAFF])
    for rule in (
        rules.may_request_clock,
        rules.may_decide_extension,
        rules.may_decide_suspension,
        rules.may_lift_suspension,
    ):
        for case in (plain, asking, suspended):
            case = fresh(case)
            for user in users:
                assert rule(case, user) == Case.objects.filter(rule.q(user), pk=case.pk).exists(), (rule, case, user)


# --- approve and handle at the same moment (PostgreSQL, real threads) -----------------------
@pytest.mark.django_db(transaction=True)
def test_approve_against_handle_one_wins_nothing_half_written(postgres, make_case, people):
    from tests.cases.test_concurrency import png_upload, run_threads

    staff, dept = people[Role.COMMUNITY_STAFF], people[Role.COMMUNITY_STAFF]
    winners = set()
    for _ in range(4):
        case = make_case("assigned")  # handled by the community itself, which also dispatched it
        transition_case(actor=dept, case=case, name="request_extension", comment="等材料", days=2)
        before_logs = logs(case).count()
        original = fresh(case).current_deadline

        def worker(name, case_pk=case.pk, **params):
            def work(barrier):
                loaded = Case.objects.get(pk=case_pk)
                if name == "handle":
                    params["photos"] = [png_upload()]
                barrier.wait()
                transition_case(actor=staff, case=loaded, name=name, **params)
                return name

            return work

        results = run_threads([worker("approve_extension", comment="同意"), worker("handle", result="已处置")])
        oks = [value for outcome, value in results if outcome == "ok"]
        errors = [value for outcome, value in results if outcome == "error"]
        assert len(oks) == 1 and len(errors) == 1 and isinstance(errors[0], CaseStateConflict), results
        c = fresh(case)
        request = ClockRequest.objects.get(case=case)
        new_logs = list(logs(case).order_by("pk").values_list("transition", flat=True)[before_logs:])
        assert new_logs == oks
        if oks[0] == "approve_extension":
            assert c.status == Status.ASSIGNED and c.extended_until == c.handle_deadline != original
            assert request.status == "approved" and c.result == ""
        else:
            assert c.status == Status.HANDLED and c.extended_until is None and c.handle_deadline == original
            assert request.status == "lapsed"
        winners.add(oks[0])
    assert winners <= {"approve_extension", "handle"}


def test_digest_says_the_deadline_was_extended(case, people, supervisors, mailoutbox):
    from outbox.delivery import deliver_pending

    ask(case, people, days=2)
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="同意")
    extended = fresh(case)
    sweep(now=extended.current_deadline + timedelta(minutes=1))
    deliver_pending()
    bodies = [m.body for m in mailoutbox]
    assert bodies and any("延期至" in body or "Extended to" in body for body in bodies)


def test_everywhere_the_clock_shows(client, case, people):
    """Timeline rows with the moved deadline, the to-do count of suspended cases, /track/ in residents' words."""
    ask(case, people)
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="approve_extension", comment="同意")
    extended = fresh(case)
    entries = selectors.case_timeline(extended, people[Role.COMMUNITY_STAFF])
    moved = [e for e in entries if e.name == "clock_moved"]
    day = timezone.localtime(extended.extended_until).strftime("%Y-%m-%d")
    assert len(moved) == 1 and day in moved[0].label and moved[0].details
    page = client.get(f"/track/{case.tracking_code}/").content.decode()
    assert "延期至 " + day in page and "需协调施工队" not in page
    suspend(case, people)
    todo = {row["key"]: row for row in selectors.todo_counts(people[Role.STREET_STAFF])}
    assert todo["suspended"]["count"] == 1 and "status__exact=suspended" in todo["suspended"]["url"]
    labels = [e.label for e in selectors.case_timeline(fresh(case), people[Role.DISTRICT_STAFF])]
    assert any(tomorrow(5).strftime("%Y-%m-%d") in label for label in labels)
    page = client.get(f"/track/{case.tracking_code}/").content.decode()
    assert "暂缓办理，预计 " + tomorrow(5).strftime("%Y-%m-%d") in page and "需专项资金" not in page
