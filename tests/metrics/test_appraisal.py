"""The monthly appraisal worked out by hand on the fixed data set (tests/metrics/conftest.py), recorded once
with its rules, appealed by the unit and decided by the district only."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from accounts.models import SecurityEvent
from accounts.roles import Role
from cases.models import Escalation
from metrics import appraisal, services, tasks
from metrics.models import (
    AccountabilityDecision,
    AccountabilityRecord,
    AppealStatus,
    AppraisalRules,
    AppraisalRun,
    AppraisalScore,
)

from .conftest import at

MARCH, FEBRUARY = date(2026, 3, 1), date(2026, 2, 1)
D = Decimal


def record_safety(month):
    services.snapshot_safety_index(actor=None, month=month, now=at(month.month + 1, 1, 0, 30))


def record(month, **kwargs):
    return appraisal.record_month(actor=None, month=month, now=at(month.month + 1, 1, 1), **kwargs)


def scores(month):
    return {(s.tier, s.unit_code): s for s in AppraisalScore.objects.filter(month=month)}


def points(score):
    return {p["key"]: p["points"] for p in score.parts}


@pytest.fixture
def march_findings(dataset, tree, people, make_user):
    """A red escalation on C5 (grid A), a yellow one that does not count, two decided accountability records
    (community A; grid A naming its worker), one undecided, and the streets' ratings of the district police."""
    c5 = dataset["C5"]
    Escalation.objects.create(case=c5, level=3, stage="handle", deadline=at(3, 23, 9), created_at=at(3, 25, 9))
    Escalation.objects.create(case=c5, level=1, stage="handle", deadline=at(3, 23, 9), created_at=at(3, 22, 9))
    decision = AccountabilityDecision.objects.get(name="提醒谈话")
    district = people[Role.DISTRICT_STAFF]
    AccountabilityRecord.objects.create(
        source="overdue", area=tree.community_a, unit_path=tree.community_a.path, finding="多次超期",
        decision=decision, opened_by=district, decided_by=district, decided_at=at(3, 26, 10),
    )  # fmt: skip
    AccountabilityRecord.objects.create(
        source="escalation", case=c5, area=tree.grid_a, unit_path=tree.grid_a.path, person=people[Role.GRID_WORKER],
        finding="超期未处置", decision=decision, opened_by=district, decided_by=district, decided_at=at(3, 27, 10),
    )  # fmt: skip
    AccountabilityRecord.objects.create(
        source="overdue", area=tree.street_b, unit_path=tree.street_b.path, finding="待查", opened_by=district
    )
    street_b = make_user(Role.STREET_STAFF, area=tree.street_b, username="street_b")
    for user, street, stars in ((people[Role.STREET_STAFF], tree.street_a, 4), (street_b, tree.street_b, 5)):
        appraisal.rate_department(
            actor=user, street=street, department=tree.dept_district, month=MARCH, stars=stars, now=at(3, 31)
        )
    return dataset


def test_march_by_hand(march_findings, tree, people):
    # Default rules: on time 25, satisfaction 25, closure 15, rework 10, mis-dispatch 10, safety 15, visits 0,
    # streets' rating 15 (departments); 0.50 per red escalation (cap 10), 3 per accountability decision (cap 15).
    record_safety(FEBRUARY)
    record_safety(MARCH)
    record(FEBRUARY)
    run = record(MARCH)
    got = scores(MARCH)

    # Street A = community A = grid A (one grid): handled C1 C2 C3 C4, on time 3/4; satisfied 2/3 rated;
    # closed 4/5 accepted; reworked 1/4 handled; send-backs 1/6 assignments; safety 96.20 (test_safety).
    # 100 × (25 × .75 + 25 × 2/3 + 15 × .8 + 10 × .75 + 10 × 5/6 + 15 × .962) / 100 = 77.68.
    street_a = got[("street", tree.street_a.code)]
    assert points(street_a) == {
        "on_time": "18.75",
        "satisfaction": "16.67",  # 16.666… takes the odd cent (largest remainder)
        "closure": "12.00",
        "rework": "7.50",
        "misdispatch": "8.33",
        "safety": "14.43",
        "visits": None,  # weight 0 by default: the patrols' coverage is not read
        "red_escalations": "-0.50",  # the level-3 escalation of C5; the yellow one does not count
        "accountability": "-6.00",  # community A's record and grid A's: 2 × 3
    }
    assert (street_a.base, street_a.deductions, street_a.score) == (D("77.68"), D("6.50"), D("71.18"))
    # February: on time 1/2, satisfied 1/2, closed 2/2, no rework or send-back, safety 98.70:
    # 12.5 + 12.5 + 15 + 10 + 10 + 14.805 = 74.805 → 74.81.
    assert street_a.change == D("71.18") - D("74.81")
    assert street_a.rank == 2

    # Street B: C8 perfect, safety 98.50: 25 + 25 + 15 + 10 + 10 + 14.775 = 99.775 → 99.78; February no cases,
    # safety 100.00 alone: 100.00.
    street_b = got[("street", tree.street_b.code)]
    assert (street_b.score, street_b.rank, street_b.change) == (D("99.78"), 1, D("-0.22"))
    assert points(street_b)["safety"] == "14.78"

    community_a = got[("community", tree.community_a.code)]
    assert (community_a.score, community_a.rank) == (D("71.18"), 2)

    # Grid A's worker: grid A's figures (77.68), C5's red escalation, the record naming them (3); not the
    # community's record.
    worker = got[("grid_worker", tree.grid_a.code)]
    assert worker.user == people[Role.GRID_WORKER] and worker.unit_path == tree.grid_a.path
    assert (worker.base, worker.deductions, worker.score, worker.rank) == (D("77.68"), D("3.50"), D("74.18"), 1)

    # District police: C3 and C8, both on time, closed, one rated satisfied; streets rated 4 and 5: 4.5 / 5.
    # 25 + 25 + 15 + 10 + 10 + 15 × .9 = 98.50.
    police = got[("department", tree.dept_district.code)]
    assert points(police)["street_rating"] == "13.50"
    assert (police.score, police.rank) == (D("98.50"), 1)
    assert next(p for p in police.parts if p["key"] == "street_rating")["value"] == "4.50"
    # Street A's squad: C4 on time, closed, rated dissatisfied; no rating: weights 85.
    # 100 × (25 + 0 + 15 + 10 + 10) / 85 = 70.588… → 70.59; parts 29.41 0 17.65 11.77 11.76.
    squad = got[("department", tree.dept_a.code)]
    assert points(squad) == {
        "on_time": "29.41",
        "satisfaction": "0.00",
        "closure": "17.65",
        "rework": "11.77",
        "misdispatch": "11.76",
        "street_rating": None,
        "red_escalations": "0.00",
        "accountability": "0.00",
    }
    assert (squad.score, squad.rank) == (D("70.59"), 2)
    # No case, no rating: no score and no rank.
    idle = got[("department", tree.dept_b.code)]
    assert (idle.base, idle.score, idle.rank) == (None, None, None)

    assert run.units == len(got) == 2 + 2 + 3 + 1
    assert run.parameters["on_time_weight"] == "25.00" and run.parameters["red_levels"] == [2, 3]
    assert street_a.counts["handled"] == 4 and street_a.counts["assignments"] == 6


def test_a_recorded_month_stays_as_it_was_when_the_rules_change(march_findings, tree):
    record_safety(MARCH)
    record(MARCH)
    before = {k: (s.score, s.rank, s.parts) for k, s in scores(MARCH).items()}
    rules = AppraisalRules.current()
    rules.on_time_weight, rules.accountability_deduction = D("90"), D("20")
    appraisal.save_rules(actor=None, rules=rules)
    with pytest.raises(appraisal.AppraisalExists):
        record(MARCH)
    assert {k: (s.score, s.rank, s.parts) for k, s in scores(MARCH).items()} == before
    assert AppraisalRun.objects.get(month=MARCH).parameters["on_time_weight"] == "25.00"
    # Replacing it takes an explicit force, and then the new rules apply.
    record(MARCH, force=True)
    assert scores(MARCH)[("street", tree.street_a.code)].score != before[("street", tree.street_a.code)][0]


def test_only_ended_months_after_their_safety_index(dataset):
    with pytest.raises(ValidationError) as running:
        appraisal.record_month(actor=None, month=MARCH, now=at(3, 20))
    with pytest.raises(ValidationError) as unsafe:
        record(MARCH)
    assert "month" in running.value.message_dict and "2026-03" in unsafe.value.message_dict["month"][0]
    assert not AppraisalRun.objects.exists()


def test_command_task_and_beat(dataset, capsys, settings):
    with pytest.raises(CommandError, match="2026-03"):
        call_command("record_appraisal", "--month", "2026-03")
    record_safety(MARCH)
    call_command("record_appraisal", "--month", "2026-03")
    assert "Recorded the appraisal of 2026-03" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--force"):
        call_command("record_appraisal", "--month", "2026-03")
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("record_appraisal", "--month", "March")
    entry = settings.CELERY_BEAT_SCHEDULE["record-appraisal"]
    assert entry["task"] == "metrics.tasks.record_appraisal"
    safety_entry = settings.CELERY_BEAT_SCHEDULE["snapshot-safety-index"]["schedule"]
    # After the safety index of the same night.
    assert entry["schedule"].hour == safety_entry.hour and min(entry["schedule"].minute) > min(safety_entry.minute)
    assert callable(tasks.record_appraisal)


def test_task_records_the_safety_index_first(dataset, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a: date(2026, 4, 1))
    monkeypatch.setattr(timezone, "now", lambda: at(4, 1, 1))
    assert tasks.record_appraisal() == {"month": "2026-03", "recorded": True, "units": 8}
    assert tasks.record_appraisal() == {"month": "2026-03", "recorded": False}


def test_the_same_scores_on_each_run_and_a_constant_number_of_queries(march_findings, tree, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from grids.models import Area, Department

    record_safety(MARCH)
    with CaptureQueriesContext(connection) as small:
        units = appraisal.compute_month(month=MARCH)
    assert {u.code: u.score for u in units if u.tier == "street"} == {
        tree.street_a.code: D("71.18"),
        tree.street_b.code: D("99.78"),
    }
    # Ten more streets, communities, grids with workers and departments: the same queries.
    for i in range(10):
        street = Area.objects.create(tier="street", code=f"3707020{10 + i}", name=f"街{i}", parent=tree.district)
        community = Area.objects.create(tier="community", code=f"{street.code}001", name=f"社{i}", parent=street)
        grid = Area.objects.create(tier="grid", code=f"{community.code}001", name=f"格{i}", parent=community)
        make_user(Role.GRID_WORKER, area=grid)
        Department.objects.create(name=f"部门{i}", code=f"B{i}", area=tree.district)
    with CaptureQueriesContext(connection) as large:
        more = appraisal.compute_month(month=MARCH)
    assert len(more) == len(units) + 40
    assert len(large.captured_queries) == len(small.captured_queries) == 11


# --- appeals ------------------------------------------------------------------------
@pytest.fixture
def recorded(march_findings):
    record_safety(MARCH)
    record(MARCH)
    return scores(MARCH)


def test_the_unit_appeals_and_the_district_corrects(recorded, tree, people):
    street_a = recorded[("street", tree.street_a.code)]
    appeal = appraisal.file_appeal(actor=people[Role.STREET_STAFF], score=street_a, reason="C5 已办结，系系统延迟")
    with pytest.raises(ValidationError):
        appraisal.file_appeal(actor=people[Role.STREET_STAFF], score=street_a, reason="again")
    appraisal.decide_appeal(
        actor=people[Role.DISTRICT_STAFF],
        appeal=appeal,
        corrected=True,
        decision="核实后扣分撤销",
        corrected_score=D("99.90"),
    )
    street_a.refresh_from_db()
    appeal.refresh_from_db()
    assert (street_a.score, street_a.computed_score, street_a.rank) == (D("99.90"), D("71.18"), 1)
    assert AppraisalScore.objects.get(pk=recorded[("street", tree.street_b.code)].pk).rank == 2
    assert appeal.status == AppealStatus.CORRECTED and appeal.score_before == D("71.18")
    assert appeal.decided_by == people[Role.DISTRICT_STAFF]
    steps = list(SecurityEvent.objects.filter(kind="appraisal").values_list("detail__step", flat=True))
    assert "appeal_filed" in steps and "appeal_corrected" in steps
    with pytest.raises(ValidationError):
        appraisal.decide_appeal(actor=people[Role.DISTRICT_STAFF], appeal=appeal, corrected=False, decision="再议")


def test_kept_needs_a_decision_and_correction_a_score(recorded, tree, people):
    appeal = appraisal.file_appeal(
        actor=people[Role.COMMUNITY_STAFF], score=recorded[("community", tree.community_a.code)], reason="理由"
    )
    district = people[Role.DISTRICT_STAFF]
    with pytest.raises(ValidationError) as err:
        appraisal.decide_appeal(actor=district, appeal=appeal, corrected=True, decision="", corrected_score=None)
    assert set(err.value.message_dict) == {"decision", "corrected_score"}
    with pytest.raises(ValidationError):
        appraisal.decide_appeal(actor=district, appeal=appeal, corrected=True, decision="x", corrected_score=D("101"))
    appraisal.decide_appeal(actor=district, appeal=appeal, corrected=False, decision="维持原分")
    appeal.refresh_from_db()
    assert appeal.status == AppealStatus.KEPT
    assert AppraisalScore.objects.get(pk=appeal.score_id).score == D("71.18")


def test_only_the_unit_appeals(recorded, tree, people, make_user):
    street_a = recorded[("street", tree.street_a.code)]
    for role in (Role.COMMUNITY_STAFF, Role.GRID_WORKER, Role.DISTRICT_STAFF, Role.DEPARTMENT_STAFF):
        with pytest.raises(PermissionDenied):
            appraisal.file_appeal(actor=people[role], score=street_a, reason="不是本单位")
    other_community = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    with pytest.raises(PermissionDenied):
        appraisal.file_appeal(actor=other_community, score=recorded[("community", tree.community_a.code)], reason="x")
    # A grid worker appeals their own card; department staff their department's.
    appraisal.file_appeal(actor=people[Role.GRID_WORKER], score=recorded[("grid_worker", tree.grid_a.code)], reason="x")
    appraisal.file_appeal(
        actor=people[Role.DEPARTMENT_STAFF], score=recorded[("department", tree.dept_a.code)], reason="x"
    )


def test_units_never_decide_their_own_appeal(recorded, tree, people, make_user):
    street_a = recorded[("street", tree.street_a.code)]
    appeal = appraisal.file_appeal(actor=people[Role.STREET_STAFF], score=street_a, reason="理由")
    for role in (Role.STREET_STAFF, Role.COMMUNITY_STAFF, Role.DEPARTMENT_STAFF, Role.GRID_WORKER):
        with pytest.raises(PermissionDenied):
            appraisal.decide_appeal(actor=people[role], appeal=appeal, corrected=False, decision="自己决定")
    # A district official who also holds the street's post is the unit: refused too.
    both = make_user(Role.DISTRICT_STAFF, area=tree.district)
    from accounts.models import Post
    from accounts.services import save_post

    save_post(actor=None, post=Post(user=both, role=Role.STREET_STAFF, area=tree.street_a))
    both = type(both).objects.get(pk=both.pk)
    with pytest.raises(PermissionDenied):
        appraisal.decide_appeal(actor=both, appeal=appeal, corrected=False, decision="自己决定")
    assert AppraisalScore.objects.get(pk=street_a.pk).appeal.status == AppealStatus.PENDING


def test_scope_of_recorded_scores(recorded, tree, people, make_user):
    def seen(user):
        return {(s.tier, s.unit_code) for s in appraisal.month_scores(user=user, month=MARCH)}

    everything = set(recorded)
    assert seen(people[Role.DISTRICT_STAFF]) == everything
    assert seen(people[Role.STREET_STAFF]) == {
        ("street", tree.street_a.code),
        ("community", tree.community_a.code),
        ("grid_worker", tree.grid_a.code),
        ("department", tree.dept_a.code),  # the street's own squad
    }
    assert seen(people[Role.COMMUNITY_STAFF]) == {
        ("community", tree.community_a.code),
        ("grid_worker", tree.grid_a.code),
    }
    other_community = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    assert seen(other_community) == {("community", tree.community_b.code)}
    assert seen(people[Role.DEPARTMENT_STAFF]) == {("department", tree.dept_a.code)}
    assert seen(people[Role.STREET_LEADER]) == set()


def test_reading_a_recorded_month_is_one_query(recorded, people, django_assert_num_queries):
    district = people[Role.DISTRICT_STAFF]
    district.scope  # noqa: B018 - the scope is read once per request, before the page
    with django_assert_num_queries(1):
        rows = appraisal.month_scores(user=district, month=MARCH)
    assert len(rows) == 8


# --- streets rate departments ---------------------------------------------------------
def test_street_ratings(dataset, tree, people, make_user):
    street = people[Role.STREET_STAFF]
    assert appraisal.departments_to_rate(street=tree.street_a, month=MARCH) == sorted(
        [tree.dept_district, tree.dept_a], key=lambda d: d.name
    )
    rating = appraisal.rate_department(
        actor=street, street=tree.street_a, department=tree.dept_a, month=MARCH, stars=3, now=at(3, 31)
    )
    # Rating again replaces it: one per street, department and month.
    again = appraisal.rate_department(
        actor=street, street=tree.street_a, department=tree.dept_a, month=MARCH, stars=5, comment="好", now=at(3, 31)
    )
    assert again.pk == rating.pk and again.stars == 5
    with pytest.raises(ValidationError) as err:
        appraisal.rate_department(
            actor=street, street=tree.street_a, department=tree.dept_a, month=MARCH, stars=6, now=at(3, 31)
        )
    assert set(err.value.message_dict) == {"stars"}
    with pytest.raises(ValidationError) as err:
        appraisal.rate_department(
            actor=street, street=tree.street_a, department=tree.dept_b, month=MARCH, stars=3, now=at(3, 31)
        )
    assert "department" in err.value.message_dict
    for user in (
        people[Role.COMMUNITY_STAFF],
        people[Role.DISTRICT_STAFF],
        make_user(Role.STREET_STAFF, area=tree.street_b),
    ):
        with pytest.raises(PermissionDenied):
            appraisal.rate_department(
                actor=user, street=tree.street_a, department=tree.dept_a, month=MARCH, stars=3, now=at(3, 31)
            )


def test_ratings_close_when_the_month_is_recorded(dataset, tree, people):
    record_safety(MARCH)
    record(MARCH)
    with pytest.raises(ValidationError) as err:
        appraisal.rate_department(
            actor=people[Role.STREET_STAFF], street=tree.street_a, department=tree.dept_a, month=MARCH, stars=3,
            now=at(4, 2),
        )  # fmt: skip
    assert "2026-03" in err.value.message_dict["month"][0]


def test_rating_constraint_in_the_database(dataset, tree, people):
    from django.db import IntegrityError, transaction

    from metrics.models import DepartmentRating

    fields = {"street": tree.street_a, "department": tree.dept_a, "month": MARCH, "rated_by": people[Role.STREET_STAFF]}
    DepartmentRating.objects.create(stars=3, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        DepartmentRating.objects.create(stars=4, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        DepartmentRating.objects.create(stars=9, **{**fields, "month": FEBRUARY})


def test_appeals_block_a_forced_recording(recorded, tree, people):
    appraisal.file_appeal(actor=people[Role.STREET_STAFF], score=recorded[("street", tree.street_a.code)], reason="x")
    with pytest.raises(ValidationError) as err:
        record(MARCH, force=True)
    assert "2026-03" in err.value.message_dict["month"][0]
    assert AppraisalScore.objects.get(tier="street", area=tree.street_a).appeal.reason == "x"


def test_the_public_page_shows_the_latest_scores_and_ranks_only(recorded, client, tree):
    # The public page ranks on last month from the real today; only the appraisal column is checked here.
    from metrics import selectors

    disclosure = selectors.public_disclosure()
    streets = {row.code: row.appraisal for row in disclosure.streets}
    assert streets[tree.street_a.code] == {"score": D("71.18"), "rank": 2}
    assert streets[tree.street_b.code] == {"score": D("99.78"), "rank": 1}
    assert disclosure.appraisal_month == MARCH
    body = client.get("/public/").content.decode()
    assert "71.18（2）" in body and "99.78（1）" in body
    assert "提醒谈话" not in body and "多次超期" not in body


def test_visit_coverage_counts_when_weighted(march_findings, tree, people):
    from cases.models import Visit

    record_safety(MARCH)
    tree.grid_a.households = 100
    tree.grid_a.save()
    Visit.objects.create(
        kind="household", recorded_by=people[Role.GRID_WORKER], grid=tree.grid_a, area_path=tree.grid_a.path,
        started_at=at(3, 10, 9), ended_at=at(3, 10, 10), households=30,
    )  # fmt: skip
    rules = AppraisalRules.current()
    rules.visit_weight = D("10")
    units = {(u.tier, u.code): u for u in appraisal.compute_month(month=MARCH, rules=rules)}
    # Street A: 30 of 100 households; weights 110: 100 × (77.68 + 10 × .3) / 110 = 73.345… → 73.35, the parts
    # rounded down and the five largest remainders given a cent each.
    street_a = units[("street", tree.street_a.code)]
    assert street_a.base == D("73.35")
    assert {p["key"]: p["points"] for p in street_a.parts if p.get("weight")} == {
        "on_time": "17.04",
        "satisfaction": "15.15",
        "closure": "10.91",
        "rework": "6.82",
        "misdispatch": "7.58",
        "safety": "13.12",
        "visits": "2.73",
    }
    assert units[("grid_worker", tree.grid_a.code)].visits == (30, 100)
    # Street B has no registered households: no figure, so its weights stay 100.
    assert units[("street", tree.street_b.code)].base == D("99.78")


def test_record_a_month_in_the_admin(march_findings, client, people):
    """The record page: the safety index first (the service's own error on the month), then recorded, then
    "already recorded" on a second try; a street official may not record at all."""
    from django.urls import reverse

    url = reverse("admin:metrics_appraisalrun_record")
    client.force_login(people["street_staff"])
    assert client.post(url, {"month": "2026-03"}).status_code == 403
    client.force_login(people["district_staff"])
    first = client.post(url, {"month": "2026-03"})
    assert first.status_code == 400 and "2026-03" in first.content.decode()  # its safety index is not recorded
    record_safety(MARCH)
    assert client.post(url, {"month": "2026-03"}).status_code == 302
    assert AppraisalRun.objects.filter(month=MARCH).count() == 1
    again = client.post(url, {"month": "2026-03"})
    assert again.status_code == 400 and AppraisalRun.objects.filter(month=MARCH).count() == 1
