"""Accountability (问责): opened and decided by district supervisors only, seen and acknowledged by the unit
concerned, never by another community, never public; counted in the appraisal; audited. Also the admin
pages of the appraisal as each role meets them."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import SecurityEvent
from accounts.roles import Role
from cases.models import Escalation, WorkflowSettings
from metrics import accountability, appraisal, services
from metrics.models import AccountabilityDecision, AccountabilityRecord, AppraisalScore

from .conftest import at

MARCH = date(2026, 3, 1)


@pytest.fixture
def escalated(dataset):
    c5 = dataset["C5"]
    Escalation.objects.create(case=c5, level=3, stage="handle", deadline=at(3, 23, 9), created_at=at(3, 25, 9))
    return c5


@pytest.fixture
def warning_talk(db):
    return AccountabilityDecision.objects.get(name="提醒谈话")


def open_on_grid(people, tree, case, **kwargs):
    return accountability.open_record(
        actor=people[Role.DISTRICT_STAFF],
        source="escalation",
        finding="C5 超期未处置，升级至区",
        area=tree.grid_a,
        person=people[Role.GRID_WORKER],
        case=case,
        now=at(3, 26),
        **kwargs,
    )


def test_the_decision_list_is_seeded(db):
    assert list(AccountabilityDecision.objects.values_list("name", flat=True)) == [
        "提醒谈话",
        "通报批评",
        "诫勉谈话",
        "移交纪委",
    ]


def test_open_decide_acknowledge_with_audit_rows(escalated, tree, people, warning_talk):
    rec = open_on_grid(people, tree, escalated)
    assert rec.unit_path == tree.grid_a.path and rec.decision is None
    # The unit cannot acknowledge before the decision.
    with pytest.raises(ValidationError):
        accountability.acknowledge(actor=people[Role.GRID_WORKER], rec=rec)
    accountability.decide(
        actor=people[Role.DISTRICT_STAFF], rec=rec, verification="核实属实", decision=warning_talk, now=at(3, 27)
    )
    with pytest.raises(ValidationError):
        accountability.decide(actor=people[Role.DISTRICT_STAFF], rec=rec, verification="再", decision=warning_talk)
    accountability.acknowledge(actor=people[Role.GRID_WORKER], rec=rec)
    rec.refresh_from_db()
    assert rec.acknowledged_by == people[Role.GRID_WORKER] and rec.decided_by == people[Role.DISTRICT_STAFF]
    steps = [e.detail["step"] for e in SecurityEvent.objects.filter(kind="accountability").order_by("pk")]
    assert steps == ["accountability_opened", "accountability_decided", "accountability_acknowledged"]


def test_findings_are_checked(escalated, dataset, tree, people):
    district = people[Role.DISTRICT_STAFF]
    c1 = dataset["C1"]  # never escalated, never reworked
    with pytest.raises(ValidationError) as err:
        accountability.open_record(actor=district, source="escalation", finding="x", area=tree.grid_a, case=c1)
    assert "case" in err.value.message_dict
    WorkflowSettings.objects.create(rework_limit=1)
    with pytest.raises(ValidationError):
        accountability.open_record(actor=district, source="rework", finding="x", area=tree.grid_a, case=c1)
    accountability.open_record(actor=district, source="rework", finding="x", area=tree.grid_a, case=dataset["C2"])
    # One red escalation in three months is not "repeatedly overdue".
    with pytest.raises(ValidationError) as err:
        accountability.open_record(actor=district, source="overdue", finding="x", area=tree.community_a, now=at(3, 30))
    assert "source" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        accountability.open_record(
            actor=district, source="overdue", finding="", area=tree.community_a, department=tree.dept_a
        )
    assert "area" in err.value.message_dict
    # A person without a post in the unit.
    with pytest.raises(ValidationError) as err:
        accountability.open_record(
            actor=district,
            source="escalation",
            finding="x",
            area=tree.grid_a,
            case=escalated,
            person=people[Role.DEPARTMENT_STAFF],
        )
    assert "person" in err.value.message_dict
    assert AccountabilityRecord.objects.count() == 1


def test_only_district_supervisors_open_and_decide(escalated, tree, people, warning_talk):
    for role in (Role.STREET_STAFF, Role.COMMUNITY_STAFF, Role.GRID_WORKER, Role.DEPARTMENT_STAFF):
        with pytest.raises(PermissionDenied):
            accountability.open_record(
                actor=people[role], source="escalation", finding="x", area=tree.grid_a, case=escalated
            )
    rec = open_on_grid(people, tree, escalated)
    for role in (Role.STREET_STAFF, Role.COMMUNITY_STAFF, Role.GRID_WORKER):
        with pytest.raises(PermissionDenied):
            accountability.decide(actor=people[role], rec=rec, verification="x", decision=warning_talk)
    # Nor does the unit acknowledge for another: the street is not the grid.
    accountability.decide(actor=people[Role.DISTRICT_STAFF], rec=rec, verification="x", decision=warning_talk)
    with pytest.raises(PermissionDenied):
        accountability.acknowledge(actor=people[Role.STREET_STAFF], rec=rec)


def test_a_community_never_sees_another_communitys_records(escalated, tree, people, make_user, warning_talk):
    rec = open_on_grid(people, tree, escalated)
    other = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    assert list(accountability.visible_records(other)) == []
    assert list(accountability.visible_records(people[Role.COMMUNITY_STAFF])) == [rec]
    assert list(accountability.visible_records(people[Role.STREET_LEADER])) == []
    assert list(accountability.visible_records(people[Role.DEPARTMENT_STAFF])) == []


def test_never_on_the_public_page(escalated, tree, people, warning_talk, client):
    rec = open_on_grid(people, tree, escalated)
    accountability.decide(actor=people[Role.DISTRICT_STAFF], rec=rec, verification="核实", decision=warning_talk)
    body = client.get("/public/").content.decode()
    assert "提醒谈话" not in body and "C5 超期" not in body


def test_decided_records_count_in_the_appraisal(escalated, tree, people, warning_talk):
    rec = open_on_grid(people, tree, escalated)
    services.snapshot_safety_index(actor=None, month=MARCH, now=at(4, 1, 0, 30))
    undecided = {u.unit_key: u.accountability for u in appraisal.compute_month(month=MARCH)}
    assert undecided[f"a:{tree.community_a.path}"] == 0
    accountability.decide(
        actor=people[Role.DISTRICT_STAFF], rec=rec, verification="核实", decision=warning_talk, now=at(3, 27)
    )
    decided = {u.unit_key: u for u in appraisal.compute_month(month=MARCH)}
    assert decided[f"a:{tree.community_a.path}"].accountability == 1
    assert decided[f"a:{tree.street_a.path}"].accountability == 1
    assert decided[f"u:{people[Role.GRID_WORKER].pk}"].accountability == 1
    assert decided[f"a:{tree.street_b.path}"].accountability == 0


# --- the admin pages --------------------------------------------------------------------
@pytest.fixture
def recorded(escalated, tree, people, role_groups, warning_talk):
    rec = open_on_grid(people, tree, escalated)
    accountability.decide(
        actor=people[Role.DISTRICT_STAFF], rec=rec, verification="核实", decision=warning_talk, now=at(3, 27)
    )
    services.snapshot_safety_index(actor=None, month=MARCH, now=at(4, 1, 0, 30))
    appraisal.record_month(actor=None, month=MARCH, now=at(4, 1, 1))
    return rec


def test_admin_pages_as_district_and_street(recorded, tree, people, client, make_user):
    district = people[Role.DISTRICT_STAFF]
    client.force_login(district)
    listing = client.get(reverse("admin:metrics_appraisalscore_changelist"))
    assert listing.status_code == 200 and tree.street_a.name in listing.content.decode()
    street_score = AppraisalScore.objects.get(tier="street", area=tree.street_a)
    page = client.get(reverse("admin:metrics_appraisalscore_change", args=[street_score.pk])).content.decode()
    assert "appraisal-parts" in page and "18.75" in page
    assert client.get(reverse("admin:metrics_appraisalrun_record")).status_code == 200
    assert client.get(reverse("admin:metrics_accountabilityrecord_open")).status_code == 200
    # A finding that looks like a formula stays text in the workbook.
    AccountabilityRecord.objects.filter(pk=recorded.pk).update(finding='=HYPERLINK("http://x.example","点我")')
    summary = client.get(
        reverse("admin:metrics_appraisalscore_summary"),
        {"tier": "street", "unit": street_score.unit_key, "year": 2026, "format": "xlsx"},
    )
    assert summary.status_code == 200 and summary.content[:2] == b"PK"
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(summary.content))
    finding = book.worksheets[2].cell(row=2, column=5)
    assert finding.value.startswith("=HYPERLINK") and finding.data_type == "s" and finding.quotePrefix
    assert book.worksheets[0].cell(row=4, column=1).value == "2026-03"
    printable = client.get(
        reverse("admin:metrics_appraisalscore_summary"), {"tier": "street", "unit": street_score.unit_key, "year": 2026}
    )
    assert printable.status_code == 200 and "提醒谈话" in printable.content.decode()

    # The street appeals through the admin; the district decides there.
    client.force_login(people[Role.STREET_STAFF])
    appeal_url = reverse("admin:metrics_appraisalscore_appeal", args=[street_score.pk])
    assert client.post(appeal_url, {"reason": ""}).status_code == 400
    assert client.post(appeal_url, {"reason": "C5 已办结"}).status_code == 302
    appeal = street_score.appeal
    assert client.get(reverse("admin:metrics_appraisalappeal_decide", args=[appeal.pk])).status_code == 403
    client.force_login(district)
    decided = client.post(
        reverse("admin:metrics_appraisalappeal_decide", args=[appeal.pk]),
        {"outcome": "corrected", "corrected_score": "", "decision": "更正"},
    )
    assert decided.status_code == 400
    decided = client.post(
        reverse("admin:metrics_appraisalappeal_decide", args=[appeal.pk]),
        {"outcome": "kept", "decision": "维持"},
    )
    assert decided.status_code == 302

    # Another community: not the street's score, not the grid's record, not their summary.
    other = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    client.force_login(other)
    assert client.get(reverse("admin:metrics_appraisalscore_change", args=[street_score.pk])).status_code == 302
    assert client.get(reverse("admin:metrics_accountabilityrecord_change", args=[recorded.pk])).status_code == 302
    assert client.post(appeal_url, {"reason": "x"}).status_code == 404
    denied = client.get(
        reverse("admin:metrics_appraisalscore_summary"), {"tier": "street", "unit": street_score.unit_key, "year": 2026}
    )
    assert denied.status_code == 403
    assert client.get(reverse("admin:metrics_accountabilityrecord_open")).status_code == 403


def test_the_grid_worker_acknowledges_in_the_admin(recorded, people, client):
    client.force_login(people[Role.GRID_WORKER])
    page = client.get(reverse("admin:metrics_accountabilityrecord_change", args=[recorded.pk]))
    assert page.status_code == 200 and "提醒谈话" in page.content.decode()
    client.post(reverse("admin:metrics_accountabilityrecord_acknowledge", args=[recorded.pk]))
    recorded.refresh_from_db()
    assert recorded.acknowledged_by == people[Role.GRID_WORKER]


def test_street_rates_in_the_admin(dataset, tree, people, role_groups, client):
    client.force_login(people[Role.STREET_STAFF])
    url = reverse("admin:metrics_departmentrating_rate")
    bad = client.post(url, {"street": tree.street_a.pk, "month": "2026-03", "department": tree.dept_b.pk, "stars": 4})
    assert bad.status_code == 400
    assert (
        client.post(
            url, {"street": tree.street_a.pk, "month": "2026-13", "department": tree.dept_a.pk, "stars": 4}
        ).status_code
        == 400
    )
    ok = client.post(url, {"street": tree.street_a.pk, "month": "2026-03", "department": tree.dept_a.pk, "stars": 4})
    assert ok.status_code == 302
    client.force_login(people[Role.COMMUNITY_STAFF])
    assert client.get(url).status_code == 403
