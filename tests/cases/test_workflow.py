"""The case workflow through its services (cases/services.py), DESIGN §4.

Every transition from every state, who may take which step inside and
outside their scope, the input each step requires, and the audit trail.
The expected behaviour is written out here from the design's table, not
read back from the model, so that a change to the model shows up as a
failure.
"""

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from django_fsm_log.models import StateLog
from PIL import Image

from accounts.roles import Role
from cases import selectors
from cases.calendar import deadline_after
from cases.models import Attachment, AttachmentKind, Case, Source, Status
from cases.services import CaseStateConflict, check_transition, create_case, transition_case

SH = ZoneInfo("Asia/Shanghai")

# DESIGN §4, the state machine table: transition -> (from, to).
SPEC = {
    "assess": ("reported", "assessed"),
    "dismiss": ("reported", "dismissed"),
    "assign": ("assessed", "assigned"),
    "send_back": ("assigned", "assessed"),
    "handle": ("assigned", "handled"),
    "reject": ("handled", "assigned"),
    "feed_back": ("handled", "fed_back"),
    "rate": ("fed_back", "rated"),
    "rework": ("rated", "assigned"),
    "close": ("fed_back", "closed"),
}
SYSTEM = {"rework", "close"}
HUMAN = [name for name in SPEC if name not in SYSTEM]
STATES = ["reported", "assessed", "dismissed", "assigned", "handled", "fed_back", "rated", "closed"]
DISPATCH_STEPS = {"assess", "dismiss", "assign", "reject", "feed_back", "rate"}
HANDLING_STEPS = {"send_back", "handle"}

# A Tuesday in an ordinary week: no holiday within the longest limit used here.
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=SH)


def at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


def png_upload(name="after.png", color=(20, 160, 40)):
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def valid_params(name):
    """Input that satisfies each step (the dispatcher's defaults for assign)."""
    return {
        "assess": {},
        "dismiss": {"reason": "not_real", "comment": "现场无此情况"},
        "assign": {},
        "send_back": {"comment": "不属于本单位职责"},
        "handle": {"result": "已清理楼道", "photos": [png_upload()]},
        "reject": {"comment": "现场仍有杂物"},
        "feed_back": {"comment": "核查属实"},
        "rate": {"rating": "satisfied"},
        "rework": {},
        "close": {},
    }[name]


def row(case):
    """The case as stored, every column."""
    return Case.objects.filter(pk=case.pk).values().get()


def logs(case):
    return StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)


def snapshot(case):
    return row(case), logs(case).count(), Attachment.objects.filter(case=case).count()


# Routes from "reported" to each state; used for cases outside street A, where
# the make_case fixture's fixed reporter and handling area do not apply.
ROUTE = {
    "reported": [],
    "assessed": ["assess"],
    "dismissed": ["dismiss"],
    "assigned": ["assess", "assign"],
    "handled": ["assess", "assign", "handle"],
    "fed_back": ["assess", "assign", "handle", "feed_back"],
    "rated": ["assess", "assign", "handle", "feed_back", "rate"],
    "closed": ["assess", "assign", "handle", "feed_back", "close"],
}


def build_case(status, *, reporter, grid, category, dispatcher, **assign_to):
    case = create_case(actor=reporter, title="路灯损坏", description="小区门口路灯不亮", category=category, grid=grid)
    for step in ROUTE[status]:
        params = valid_params(step)
        if step == "assign":
            params.update(assign_to)
        case = transition_case(actor=None if step in SYSTEM else dispatcher, case=case, name=step, **params)
    case.refresh_from_db()
    assert case.status == status
    return case


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def root(people):
    return people["superuser"]


@pytest.fixture
def case_in_b(tree, categories, root):
    """A case in street B's grid, walked to ``status`` by the superuser, handled by community B by default."""

    def make(status="reported", **assign_to):
        assign_to = assign_to or {"area": tree.community_b}
        return build_case(
            status, reporter=root, grid=tree.grid_b, category=categories["dispute"], dispatcher=root, **assign_to
        )

    return make


# --- 1. every transition from every state ------------------------------------------------------------
@pytest.mark.django_db
class TestEveryTransitionFromEveryState:
    @pytest.mark.parametrize("state", STATES)
    @pytest.mark.parametrize("name", list(SPEC))
    def test_allowed_or_conflict(self, name, state, make_case, root):
        case = make_case(state)
        actor = None if name in SYSTEM else root
        before = snapshot(case)
        source, target = SPEC[name]

        if state != source:
            with pytest.raises(CaseStateConflict):
                check_transition(actor=actor, case=case, name=name)
            with pytest.raises(CaseStateConflict):
                transition_case(actor=actor, case=case, name=name, now=NOW, **valid_params(name))
            assert snapshot(case) == before
            return

        check_transition(actor=actor, case=case, name=name)
        returned = transition_case(actor=actor, case=case, name=name, now=NOW, **valid_params(name))
        stored = Case.objects.get(pk=case.pk)
        assert returned.status == stored.status == target
        assert logs(case).count() == before[1] + 1
        last = logs(case).latest("pk")
        assert (last.source_state, last.state, last.transition) == (source, target, name)

    @pytest.mark.parametrize("name", sorted(SYSTEM))
    @pytest.mark.parametrize("who", ["superuser", *Role.values])
    def test_system_transitions_refuse_every_person(self, name, who, make_case, people):
        case = make_case(SPEC[name][0])
        before = snapshot(case)
        with pytest.raises(PermissionDenied):
            check_transition(actor=people[who], case=case, name=name)
        with pytest.raises(PermissionDenied):
            transition_case(actor=people[who], case=case, name=name)
        assert snapshot(case) == before

    @pytest.mark.parametrize("name", sorted(SYSTEM))
    def test_system_transitions_run_without_actor(self, name, make_case):
        case = make_case(SPEC[name][0])
        check_transition(actor=None, case=case, name=name)
        transition_case(actor=None, case=case, name=name, now=NOW)
        assert Case.objects.get(pk=case.pk).status == SPEC[name][1]
        assert logs(case).latest("pk").by is None

    def test_unknown_step_is_a_programming_error(self, make_case, root):
        case = make_case()
        with pytest.raises(ValueError):
            check_transition(actor=root, case=case, name="delete")
        with pytest.raises(ValueError):
            transition_case(actor=root, case=case, name="save")


# --- field effects of each step ------------------------------------------------------------------------
@pytest.mark.django_db
class TestCreate:
    def test_reported_with_number_clock_and_report_row(self, people, tree, categories):
        worker = people[Role.GRID_WORKER]
        now = at("2026-11-20T23:30:00")  # Friday late evening: 15:30 UTC
        case = create_case(
            actor=worker,
            title=" 楼道堆物 ",
            description="三楼",
            category=categories["dispute"],
            grid=tree.grid_a,
            now=now,
        )
        stored = Case.objects.get(pk=case.pk)
        assert stored.status == Status.REPORTED
        assert stored.number == f"20261120{stored.pk:07d}"
        assert re.fullmatch(r"\d{15}", stored.number)
        assert stored.title == "楼道堆物"
        assert stored.area_path == tree.grid_a.path
        assert stored.source == Source.GRID_PATROL
        assert stored.priority == "normal"
        assert stored.reporter == worker
        assert stored.reported_at == now
        # One working day: Monday at the same time of day.
        assert stored.assess_deadline == stored.current_deadline == at("2026-11-23T23:30:00")
        assert stored.stage_started_at == now
        assert stored.handle_deadline is None and stored.verify_deadline is None
        (log,) = logs(case)
        assert (log.by, log.source_state, log.state, log.transition) == (worker, None, "reported", "report")
        assert log.description

    def test_number_uses_the_local_date(self, people, tree, categories):
        # 2026-11-20 16:30 UTC is already 2026-11-21 in Shanghai.
        now = dt.datetime(2026, 11, 20, 16, 30, tzinfo=dt.UTC)
        case = create_case(
            actor=people[Role.GRID_WORKER],
            title="t",
            description="d",
            category=categories["dispute"],
            grid=tree.grid_a,
            now=now,
        )
        assert Case.objects.get(pk=case.pk).number.startswith("20261121")

    def test_urgent_category_sets_priority_and_hour_clock(self, people, tree, categories):
        case = create_case(
            actor=people[Role.GRID_WORKER],
            title="t",
            description="d",
            category=categories["hazard"],
            grid=tree.grid_a,
            now=NOW,
        )
        case.refresh_from_db()
        assert case.priority == "urgent"
        assert case.assess_deadline == NOW + dt.timedelta(hours=2)

    def test_sources_follow_the_reporter(self, people, tree, categories):
        def source(actor, grid):
            return create_case(
                actor=actor, title="t", description="d", category=categories["dispute"], grid=grid
            ).source

        assert source(people[Role.STREET_LEADER], tree.grid_a) == Source.STREET_LEADER
        assert source(people[Role.GRID_WORKER], tree.grid_a) == Source.GRID_PATROL
        assert source(None, tree.grid_b) == Source.RESIDENT

    def test_reporting_outside_ones_area_is_refused(self, people, tree, categories):
        with pytest.raises(ValidationError) as err:
            create_case(
                actor=people[Role.GRID_WORKER],
                title="t",
                description="d",
                category=categories["dispute"],
                grid=tree.grid_b,
            )
        assert "grid" in err.value.message_dict
        assert not Case.objects.exists()
        assert not StateLog.objects.exists()

    def test_group_category_and_non_grid_are_refused(self, people, tree, categories):
        with pytest.raises(ValidationError) as err:
            create_case(
                actor=people["superuser"],
                title="",
                description=" ",
                category=categories["group"],
                grid=tree.community_a,
            )
        assert set(err.value.message_dict) == {"category", "grid", "title", "description"}
        assert not Case.objects.exists()


@pytest.mark.django_db
class TestStepEffects:
    @pytest.mark.parametrize(
        ("who", "dispatcher"),
        [
            ("superuser", "district"),
            (Role.DISTRICT_STAFF, "district"),
            (Role.STREET_STAFF, "street_a"),
            (Role.COMMUNITY_STAFF, "community_a"),
        ],
    )
    def test_assess_records_the_dispatching_tier(self, who, dispatcher, make_case, people, tree):
        case = make_case()
        clock = (case.assess_deadline, case.current_deadline, case.stage_started_at)
        transition_case(actor=people[who], case=case, name="assess", now=NOW)
        case.refresh_from_db()
        assert case.status == "assessed"
        assert case.assessed_at == NOW
        assert case.dispatcher_area == getattr(tree, dispatcher)
        # The assess clock keeps running until the case is dispatched.
        assert (case.assess_deadline, case.current_deadline, case.stage_started_at) == clock

    def test_assess_confirms_category_and_priority(self, make_case, people, categories):
        case = make_case()
        transition_case(
            actor=people[Role.COMMUNITY_STAFF],
            case=case,
            name="assess",
            category=categories["hazard"],
            priority="urgent",
            now=NOW,
        )
        case.refresh_from_db()
        assert (case.category, case.priority) == (categories["hazard"], "urgent")

    def test_assess_refuses_a_group_category(self, make_case, people, categories):
        case = make_case()
        before = snapshot(case)
        with pytest.raises(ValidationError) as err:
            transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assess", category=categories["group"])
        assert "category" in err.value.message_dict
        assert snapshot(case) == before

    def test_dismiss_closes_and_stops_the_clock(self, make_case, people):
        case = make_case()
        transition_case(
            actor=people[Role.STREET_STAFF],
            case=case,
            name="dismiss",
            reason="outside",
            comment="属于邻区",
            now=NOW,
        )
        case.refresh_from_db()
        assert case.status == "dismissed"
        assert case.dismiss_reason == "outside"
        assert case.duplicate_of is None
        assert case.closed_at == NOW
        assert case.current_deadline is None and case.stage_started_at is None

    def test_dismiss_as_duplicate_links_the_original(self, make_case, people):
        original, case = make_case(), make_case()
        transition_case(
            actor=people[Role.COMMUNITY_STAFF],
            case=case,
            name="dismiss",
            reason="duplicate",
            duplicate_of=original,
            comment="重复上报",
        )
        case.refresh_from_db()
        assert (case.dismiss_reason, case.duplicate_of) == ("duplicate", original)

    def test_dismiss_for_another_reason_drops_a_stray_duplicate_link(self, make_case, people):
        original, case = make_case(), make_case()
        transition_case(
            actor=people[Role.COMMUNITY_STAFF],
            case=case,
            name="dismiss",
            reason="not_real",
            duplicate_of=original,
            comment="无此事",
        )
        case.refresh_from_db()
        assert case.duplicate_of is None

    def test_assign_defaults_dispute_to_the_grids_community(self, make_case, people, tree):
        case = make_case("assessed")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", now=NOW)
        case.refresh_from_db()
        assert case.status == "assigned"
        assert (case.handling_area, case.handling_department, case.handler) == (tree.community_a, None, None)
        assert case.assign_count == 1
        assert case.assigned_at == NOW
        # Five working days from Tuesday 1 December: Tuesday 8 December, same time.
        assert case.handle_deadline == case.current_deadline == at("2026-12-08T10:00:00")
        assert case.stage_started_at == NOW

    def test_assign_defaults_hazard_to_its_department(self, make_case, people, tree, categories):
        case = make_case("assessed", category=categories["hazard"])
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", now=NOW)
        case.refresh_from_db()
        assert (case.handling_department, case.handling_area) == (tree.dept_district, None)
        # Urgent: 24 natural hours.
        assert case.handle_deadline == case.current_deadline == NOW + dt.timedelta(hours=24)

    @pytest.mark.parametrize(
        ("target", "field"),
        [
            ("dept_a", "handling_department"),
            ("dept_district", "handling_department"),
            ("grid_a", "handling_area"),
            ("street_a", "handling_area"),
            ("district", "handling_area"),
        ],
    )
    def test_assign_to_a_chosen_unit(self, target, field, make_case, people, tree):
        case = make_case("assessed")
        unit = getattr(tree, target)
        kwarg = "department" if field == "handling_department" else "area"
        transition_case(actor=people[Role.DISTRICT_STAFF], case=case, name="assign", **{kwarg: unit})
        case.refresh_from_db()
        assert getattr(case, field) == unit
        assert case.handling_unit == unit

    def test_assign_with_a_handler(self, make_case, people, tree):
        case = make_case("assessed")
        worker = people[Role.GRID_WORKER]
        transition_case(
            actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", area=tree.community_a, handler=worker
        )
        case.refresh_from_db()
        assert case.handler == worker
        check_transition(actor=worker, case=case, name="handle")

    @pytest.mark.parametrize(
        ("unit", "field"),
        [
            ({"department": "dept_b"}, "department"),
            ({"area": "street_b"}, "area"),
            ({"area": "grid_b"}, "area"),
            ({"area": "building_a"}, "area"),
            ({"department": "dept_a", "area": "community_a"}, "department"),
        ],
    )
    def test_assign_refuses_a_unit_that_does_not_serve_the_case(self, unit, field, make_case, people, tree):
        case = make_case("assessed")
        before = snapshot(case)
        with pytest.raises(ValidationError) as err:
            transition_case(
                actor=people[Role.DISTRICT_STAFF],
                case=case,
                name="assign",
                **{k: getattr(tree, v) for k, v in unit.items()},
            )
        assert field in err.value.message_dict
        assert snapshot(case) == before

    def test_assign_refuses_a_handler_outside_the_handling_unit(self, make_case, make_user, people, tree):
        """A handler is someone of the handling unit: else they could handle a case they cannot even see."""
        outsider = make_user(Role.GRID_WORKER, area=tree.grid_b)
        case = make_case("assessed")
        before = snapshot(case)
        with pytest.raises(ValidationError) as err:
            transition_case(
                actor=people[Role.DISTRICT_STAFF], case=case, name="assign", area=tree.community_a, handler=outsider
            )
        assert "handler" in err.value.message_dict
        assert snapshot(case) == before

    def test_send_back_counts_a_misdispatch_and_restarts_the_assess_clock(self, make_case, people):
        case = make_case("assigned")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="send_back", comment="不归我们管", now=NOW)
        case.refresh_from_db()
        assert case.status == "assessed"
        assert case.send_back_count == 1
        assert (case.handling_area, case.handling_department, case.handler) == (None, None, None)
        # One working day from Tuesday: Wednesday, same time.
        assert case.assess_deadline == case.current_deadline == at("2026-12-02T10:00:00")
        assert case.stage_started_at == NOW
        assert case.assign_count == 1

    def test_handle_records_result_handler_photos_and_verify_clock(self, make_case, people):
        case = make_case("assigned")
        staff = people[Role.COMMUNITY_STAFF]
        transition_case(
            actor=staff, case=case, name="handle", result="  已清理  ", photos=[png_upload(), png_upload()], now=NOW
        )
        case.refresh_from_db()
        assert case.status == "handled"
        assert case.result == "已清理"
        assert case.handled_at == NOW
        assert case.handler == staff
        assert case.verify_deadline == case.current_deadline == at("2026-12-03T10:00:00")
        after = Attachment.objects.filter(case=case, kind=AttachmentKind.AFTER)
        assert after.count() == 2
        assert {a.uploaded_by for a in after} == {staff}
        assert all(a.image.name.endswith(".jpg") for a in after)

    def test_handle_keeps_a_named_handler(self, make_case, people, tree):
        case = make_case("assessed")
        worker = people[Role.GRID_WORKER]
        transition_case(
            actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", area=tree.community_a, handler=worker
        )
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="handle", **valid_params("handle"))
        case.refresh_from_db()
        assert case.handler == worker

    def test_reject_sends_back_for_rework(self, make_case, people, tree):
        case = make_case("handled")
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="reject", comment="未整改到位", now=NOW)
        case.refresh_from_db()
        assert case.status == "assigned"
        assert case.rework_count == 1
        assert case.handling_area == tree.community_a
        assert case.handle_deadline == case.current_deadline == at("2026-12-08T10:00:00")
        assert case.stage_started_at == NOW

    def test_handle_after_rework_may_reuse_the_earlier_after_photo(self, make_case, people):
        case = make_case("handled")
        staff = people[Role.COMMUNITY_STAFF]
        transition_case(actor=staff, case=case, name="reject", comment="未整改到位")
        transition_case(actor=staff, case=case, name="handle", result="再次清理")
        case.refresh_from_db()
        assert (case.status, case.result) == ("handled", "再次清理")

    def test_feed_back_stops_the_clock(self, make_case, people):
        case = make_case("handled")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="feed_back", comment="属实", now=NOW)
        case.refresh_from_db()
        assert case.status == "fed_back"
        assert case.fed_back_at == NOW
        assert case.current_deadline is None and case.stage_started_at is None
        assert case.closed_at is None

    def test_rate_by_staff_is_a_phone_visit(self, make_case, people):
        case = make_case("fed_back")
        transition_case(
            actor=people[Role.COMMUNITY_STAFF],
            case=case,
            name="rate",
            rating="basically",
            comment="电话回访",
            now=NOW,
        )
        case.refresh_from_db()
        assert (case.status, case.rating, case.rating_comment) == ("rated", "basically", "电话回访")
        assert case.rated_by_phone is True
        assert case.closed_at == NOW

    def test_rate_by_resident(self, make_case):
        case = make_case("fed_back")
        transition_case(actor=None, case=case, name="rate", rating="dissatisfied", rating_comment="没修好")
        case.refresh_from_db()
        assert (case.rating, case.rating_comment, case.rated_by_phone) == ("dissatisfied", "没修好", False)
        # Dissatisfied reopens the case in the same step (the rule in full: tests/cases/test_rating.py).
        assert (case.status, case.rework_count) == ("assigned", 1)

    def test_rework_reopens_with_a_new_handle_clock(self, make_case, tree):
        case = make_case("rated")
        transition_case(actor=None, case=case, name="rework", now=NOW)
        case.refresh_from_db()
        assert case.status == "assigned"
        assert case.rework_count == 1
        assert case.closed_at is None
        assert case.handling_area == tree.community_a
        assert case.handle_deadline == case.current_deadline == at("2026-12-08T10:00:00")

    def test_close_unrated(self, make_case):
        case = make_case("fed_back")
        transition_case(actor=None, case=case, name="close", now=NOW)
        case.refresh_from_db()
        assert (case.status, case.closed_at, case.rating) == ("closed", NOW, "")

    def test_counters_over_a_long_life(self, make_case, people, tree):
        case = make_case("assigned")
        staff = people[Role.COMMUNITY_STAFF]
        transition_case(actor=staff, case=case, name="send_back", comment="误派")
        transition_case(actor=staff, case=case, name="assign", department=tree.dept_a)
        transition_case(actor=people[Role.DEPARTMENT_STAFF], case=case, name="handle", **valid_params("handle"))
        transition_case(actor=staff, case=case, name="reject", comment="不到位")
        transition_case(actor=people[Role.DEPARTMENT_STAFF], case=case, name="handle", result="已整改")
        transition_case(actor=staff, case=case, name="feed_back", comment="属实")
        # Dissatisfied: the platform reworks the case in the same step.
        transition_case(actor=None, case=case, name="rate", rating="dissatisfied")
        case.refresh_from_db()
        assert (case.status, case.assign_count, case.send_back_count, case.rework_count) == ("assigned", 2, 1, 2)
        assert case.handling_department == tree.dept_a
        # report, assess, assign (make_case) and the eight steps above.
        assert logs(case).count() == 11


# --- 2. roles inside and outside their scope ---------------------------------------------------------------
# Who may take each human step on a case of street A (handled by community A)
# and of street B (handled by community B): DESIGN §3-§4.
DISPATCHERS = {
    "A": {"superuser", Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF},
    "B": {"superuser", Role.DISTRICT_STAFF},
}
HANDLERS = {"A": {"superuser", Role.COMMUNITY_STAFF}, "B": {"superuser"}}
OPEN_STATES = ["reported", "assessed", "assigned", "handled", "fed_back"]


def allowed_for(who, street, name):
    if name in DISPATCH_STEPS:
        return who in DISPATCHERS[street]
    return who in HANDLERS[street]


@pytest.mark.django_db
class TestRolesAndScope:
    @pytest.mark.parametrize("street", ["A", "B"])
    @pytest.mark.parametrize("who", ["superuser", *Role.values])
    def test_permission_matrix(self, who, street, make_case, case_in_b, people):
        user = people[who]
        for state in OPEN_STATES:
            case = make_case(state) if street == "A" else case_in_b(state)
            for name in (n for n in HUMAN if SPEC[n][0] == state):
                expected = allowed_for(who, street, name)
                before = snapshot(case)
                if expected:
                    check_transition(actor=user, case=case, name=name)
                    with transaction.atomic():
                        fresh = Case.objects.get(pk=case.pk)
                        transition_case(actor=user, case=fresh, name=name, **valid_params(name))
                        assert Case.objects.get(pk=case.pk).status == SPEC[name][1]
                        transaction.set_rollback(True)
                else:
                    with pytest.raises(PermissionDenied):
                        check_transition(actor=user, case=case, name=name)
                    with pytest.raises(PermissionDenied):
                        transition_case(actor=user, case=case, name=name, **valid_params(name))
                assert snapshot(case) == before, (who, street, name)

    def test_street_staff_assess_in_their_street_only(self, make_case, case_in_b, people):
        staff = people[Role.STREET_STAFF]
        mine, other = make_case(), case_in_b()
        transition_case(actor=staff, case=mine, name="assess")
        with pytest.raises(PermissionDenied):
            transition_case(actor=staff, case=other, name="assess")
        assert Case.objects.get(pk=mine.pk).status == "assessed"
        assert Case.objects.get(pk=other.pk).status == "reported"

    def test_department_handles_only_what_is_assigned_to_it(self, make_case, people, tree, categories):
        dept_staff = people[Role.DEPARTMENT_STAFF]
        dispatcher = people[Role.DISTRICT_STAFF]
        ours, district_s, community_s = make_case("assessed"), make_case("assessed"), make_case("assessed")
        transition_case(actor=dispatcher, case=ours, name="assign", department=tree.dept_a)
        transition_case(actor=dispatcher, case=district_s, name="assign", department=tree.dept_district)
        transition_case(actor=dispatcher, case=community_s, name="assign", area=tree.community_a)
        for name in ("handle", "send_back"):
            check_transition(actor=dept_staff, case=ours, name=name)
            for other in (district_s, community_s):
                with pytest.raises(PermissionDenied):
                    check_transition(actor=dept_staff, case=other, name=name)
        # The community is not the handling unit of a case given to a department.
        with pytest.raises(PermissionDenied):
            check_transition(actor=people[Role.COMMUNITY_STAFF], case=ours, name="handle")
        transition_case(actor=dept_staff, case=ours, name="send_back", comment="非本部门职责")
        ours.refresh_from_db()
        with pytest.raises(CaseStateConflict):
            check_transition(actor=dept_staff, case=ours, name="handle")
        assert not selectors.cases_for(dept_staff).filter(pk=ours.pk).exists()

    def test_grid_worker_handles_a_case_assigned_to_their_grid(self, make_case, case_in_b, make_user, people, tree):
        worker = people[Role.GRID_WORKER]
        case = make_case("assessed")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", area=tree.grid_a)
        check_transition(actor=worker, case=case, name="send_back")
        transition_case(actor=worker, case=case, name="handle", **valid_params("handle"))
        case.refresh_from_db()
        assert (case.status, case.handler) == ("handled", worker)
        # ... but not their community's cases, nor another grid's.
        with pytest.raises(PermissionDenied):
            check_transition(actor=worker, case=make_case("assigned"), name="handle")
        with pytest.raises(PermissionDenied):
            check_transition(actor=worker, case=case_in_b("assigned", area=tree.grid_b), name="handle")
        worker_b = make_user(Role.GRID_WORKER, area=tree.grid_b)
        check_transition(actor=worker_b, case=case_in_b("assigned", area=tree.grid_b), name="handle")

    def test_grid_worker_and_leader_never_dispatch(self, make_case, people):
        case = make_case()
        for who in (Role.GRID_WORKER, Role.STREET_LEADER, Role.DEPARTMENT_STAFF):
            for name in ("assess", "dismiss"):
                with pytest.raises(PermissionDenied):
                    check_transition(actor=people[who], case=case, name=name)

    def test_inactive_staff_lose_their_steps(self, make_case, people):
        staff = people[Role.COMMUNITY_STAFF]
        staff.is_active = False
        staff.save()
        staff = type(staff).objects.get(pk=staff.pk)
        with pytest.raises(PermissionDenied):
            check_transition(actor=staff, case=make_case(), name="assess")

    def test_street_leaders_see_only_their_own_reports(self, make_case, people, case_in_b, tree):
        leader = people[Role.STREET_LEADER]
        own = make_case(reporter=leader)
        make_case()
        make_case("assigned")
        case_in_b()
        assert list(selectors.cases_for(leader)) == [own]
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=own, name="assess")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=own, name="assign", department=tree.dept_a)
        assert list(selectors.cases_for(leader)) == [own]
        assert not selectors.waiting_for(leader).exists()

    def test_who_sees_which_cases(self, make_case, case_in_b, people, tree):
        a_reported = make_case()
        a_dept = make_case("assessed")
        transition_case(actor=people["superuser"], case=a_dept, name="assign", department=tree.dept_a)
        b_reported = case_in_b()
        everything = {a_reported, a_dept, b_reported}
        expected = {
            "superuser": everything,
            Role.DISTRICT_STAFF: everything,
            Role.STREET_STAFF: {a_reported, a_dept},
            Role.COMMUNITY_STAFF: {a_reported, a_dept},
            Role.GRID_WORKER: {a_reported, a_dept},
            Role.STREET_LEADER: set(),
            Role.DEPARTMENT_STAFF: {a_dept},
        }
        for who, cases in expected.items():
            assert set(selectors.cases_for(people[who])) == cases, who


# --- 3. required input ----------------------------------------------------------------------------------------
def text_upload():
    return SimpleUploadedFile("after.png", b"just some text, not an image", content_type="image/png")


BAD_INPUT = [
    ("reported", "dismiss", {"comment": "无此事"}, "reason"),
    ("reported", "dismiss", {"reason": "bogus", "comment": "无此事"}, "reason"),
    ("reported", "dismiss", {"reason": "not_real"}, "comment"),
    ("reported", "dismiss", {"reason": "outside", "comment": "   "}, "comment"),
    ("reported", "dismiss", {"reason": "duplicate", "comment": "重复"}, "duplicate_of"),
    ("assigned", "send_back", {}, "comment"),
    ("assigned", "send_back", {"comment": " \n "}, "comment"),
    ("handled", "reject", {}, "comment"),
    ("handled", "feed_back", {}, "comment"),
    ("assigned", "handle", {"photos": "after"}, "result"),
    ("assigned", "handle", {"result": "   ", "photos": "after"}, "result"),
    ("assigned", "handle", {"result": "已清理"}, "photos"),
    ("assigned", "handle", {"result": "已清理", "photos": "text"}, "photos"),
    ("assigned", "handle", {"result": "已清理", "photos": "after+text"}, "photos"),
    ("fed_back", "rate", {}, "rating"),
    ("fed_back", "rate", {"rating": "great"}, "rating"),
]


@pytest.mark.django_db
class TestRequiredInput:
    @pytest.mark.parametrize(("state", "name", "params", "field"), BAD_INPUT)
    def test_missing_input_names_the_field_and_changes_nothing(self, state, name, params, field, make_case, root):
        case = make_case(state)
        params = dict(params)
        if "photos" in params:
            params["photos"] = {
                "after": [png_upload()],
                "text": [text_upload()],
                "after+text": [png_upload(), text_upload()],
            }[params["photos"]]
        before = snapshot(case)
        with pytest.raises(ValidationError) as err:
            transition_case(actor=root, case=case, name=name, **params)
        assert field in err.value.message_dict
        assert snapshot(case) == before

    def test_a_case_cannot_duplicate_itself(self, make_case, root):
        case = make_case()
        before = snapshot(case)
        with pytest.raises(ValidationError) as err:
            transition_case(actor=root, case=case, name="dismiss", reason="duplicate", duplicate_of=case, comment="x")
        assert "duplicate_of" in err.value.message_dict
        assert snapshot(case) == before

    def test_a_before_photo_does_not_count_as_after_photo(self, make_case, root, photo):
        case = make_case("assigned", photos=[photo()])
        assert Attachment.objects.filter(case=case, kind=AttachmentKind.BEFORE).count() == 1
        with pytest.raises(ValidationError) as err:
            transition_case(actor=root, case=case, name="handle", result="已清理")
        assert "photos" in err.value.message_dict
        assert Case.objects.get(pk=case.pk).status == "assigned"

    def test_the_same_object_can_be_retried_after_a_refused_input(self, make_case, root):
        case = make_case("assigned")
        with pytest.raises(ValidationError):
            transition_case(actor=root, case=case, name="handle", result="已清理", photos=[text_upload()])
        case = Case.objects.get(pk=case.pk)
        transition_case(actor=root, case=case, name="handle", result="已清理", photos=[png_upload()])
        assert Case.objects.get(pk=case.pk).status == "handled"


# --- 4. audit ----------------------------------------------------------------------------------------------------
@pytest.mark.django_db
class TestAudit:
    def test_every_step_writes_one_row_with_who_from_to_and_comment(self, make_case, people, tree):
        staff, dept = people[Role.COMMUNITY_STAFF], people[Role.DEPARTMENT_STAFF]
        case = make_case()
        steps = [
            (staff, "assess", {}, None),
            (staff, "assign", {"department": tree.dept_a}, None),
            (dept, "send_back", {"comment": "非本部门"}, "非本部门"),
            (staff, "assign", {"department": tree.dept_a}, None),
            (dept, "handle", {"result": "已处置", "photos": [png_upload()], "comment": "现场处置"}, "现场处置"),
            (staff, "reject", {"comment": "不到位"}, "不到位"),
            (dept, "handle", {"result": "再处置"}, None),
            (staff, "feed_back", {"comment": "属实"}, "属实"),
            (None, "rate", {"rating": "dissatisfied"}, None),
            (dept, "handle", {"result": "三次处置"}, None),
            (staff, "feed_back", {"comment": "已整改"}, "已整改"),
            (None, "close", {}, None),
        ]
        # A dissatisfied rating reopens the case within its own step: a rework row follows the rate row.
        follows = {"rate": "rework"}
        for actor, name, params, description in steps:
            count = logs(case).count()
            source = Case.objects.get(pk=case.pk).status
            transition_case(actor=actor, case=case, name=name, **params)
            assert logs(case).count() == count + 1 + (name in follows), name
            log = logs(case).filter(transition=name).latest("pk")
            assert log.by == actor
            assert (log.source_state, log.state, log.transition) == (source, SPEC[name][1], name)
            assert log.description == description
            assert log.content_object == case
        history = list(selectors.case_history(case).values_list("transition", flat=True))
        expected = [step for _, name, _, _ in steps for step in (name, follows.get(name)) if step]
        assert history == ["report", *expected]

    def test_the_log_is_rolled_back_with_a_step_that_fails_after_it(self, make_case, root):
        # The invalid photo is found after the state change and its log row; both must go.
        case = make_case("assigned")
        before = snapshot(case)
        with pytest.raises(ValidationError):
            transition_case(actor=root, case=case, name="handle", result="已清理", photos=[text_upload()])
        assert snapshot(case) == before

    def test_a_stale_object_conflicts_and_writes_no_log(self, make_case, people):
        case = make_case("assigned")
        stale = Case.objects.get(pk=case.pk)
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="handle", **valid_params("handle"))
        after_handle = snapshot(case)
        with pytest.raises(CaseStateConflict):
            transition_case(actor=people[Role.COMMUNITY_STAFF], case=stale, name="send_back", comment="误派")
        assert snapshot(case) == after_handle
        assert Case.objects.get(pk=case.pk).status == "handled"

    def test_refused_steps_write_nothing(self, make_case, people):
        case = make_case("assigned")
        count = logs(case).count()
        with pytest.raises(PermissionDenied):
            transition_case(actor=people[Role.STREET_LEADER], case=case, name="handle", **valid_params("handle"))
        with pytest.raises(CaseStateConflict):
            transition_case(actor=people["superuser"], case=case, name="assess")
        assert logs(case).count() == count
        assert not Attachment.objects.filter(case=case).exists()


# --- deadlines of the workflow (the calculator itself: test_calendar.py) -----------------------------------------
@pytest.mark.django_db
def test_each_stage_clock_comes_from_the_one_calculator(make_case, people, categories):
    case = make_case("assessed", category=categories["hazard"])
    staff = people[Role.STREET_STAFF]
    start = timezone.localtime(NOW)
    transition_case(actor=staff, case=case, name="assign", now=start)
    case.refresh_from_db()
    assert case.handle_deadline == deadline_after(start, 24, "hours")
    transition_case(actor=people["superuser"], case=case, name="handle", now=start, **valid_params("handle"))
    case.refresh_from_db()
    assert case.verify_deadline == deadline_after(start, 1, "workdays") == at("2026-12-02T10:00:00")
