"""The rules exist twice (cases/rules.py): predicates on one case and Q over many. They must agree.

A small world of cases in every state in both streets, handed to every kind of
unit, is checked for every kind of user:
- ``waiting_q`` selects exactly the cases on which some human step passes
  ``check_transition`` for that user;
- ``visible_q`` selects exactly the cases DESIGN §3 lets the user see (area
  posts: their subtree; department posts: cases assigned to their department;
  street leaders and everyone: what they reported; superusers: all), written
  out independently here;
- a user can see every case they can act on.
"""

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import Post
from accounts.roles import Role
from accounts.services import save_post
from cases import rules, selectors, steps
from cases.models import Case
from cases.services import CaseStateConflict, check_transition, create_case, transition_case

HUMAN_STEPS = ["assess", "dismiss", "assign", "send_back", "handle", "reject", "feed_back", "rate"]
SYSTEM_STEPS = {"rework", "close"}
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


def png_upload():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 90, 90)).save(buffer, format="PNG")
    return SimpleUploadedFile("after.png", buffer.getvalue(), content_type="image/png")


def step_params(name):
    return {
        "dismiss": {"reason": "not_real", "comment": "无此事"},
        "handle": {"result": "已处置", "photos": [png_upload()]},
        "feed_back": {"comment": "属实"},
        "rate": {"rating": "satisfied"},
        "reject": {"comment": "不到位"},
        "send_back": {"comment": "误派"},
    }.get(name, {})


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class World:
    def __init__(self, tree, people, make_user, category):
        self.tree, self.people, self.category = tree, people, category
        root = people["superuser"]
        self.users = dict(people)
        self.users.update(
            street_b=make_user(Role.STREET_STAFF, area=tree.street_b),
            community_b=make_user(Role.COMMUNITY_STAFF, area=tree.community_b),
            grid_b=make_user(Role.GRID_WORKER, area=tree.grid_b),
            dept_district=make_user(Role.DEPARTMENT_STAFF, department=tree.dept_district),
            dept_b=make_user(Role.DEPARTMENT_STAFF, department=tree.dept_b),
            nobody=make_user(),
        )
        # Two posts: community staff in A and grid worker in B.
        two = make_user(Role.COMMUNITY_STAFF, area=tree.community_a)
        save_post(actor=None, post=Post(user=two, role=Role.GRID_WORKER, area=tree.grid_b))
        self.users["two_posts"] = type(two).objects.get(pk=two.pk)

        self.cases = []
        reporters = {"A": people[Role.GRID_WORKER], "B": self.users["grid_b"]}
        grids = {"A": tree.grid_a, "B": tree.grid_b}
        communities = {"A": tree.community_a, "B": tree.community_b}
        for street in ("A", "B"):
            for status in ROUTE:
                self.make(status, reporters[street], grids[street], root, area=communities[street])
        # Assigned (and later) to every kind of unit.
        for unit in (
            {"department": tree.dept_a},
            {"department": tree.dept_district},
            {"area": tree.grid_a},
            {"area": tree.street_a},
            {"area": tree.district},
            {"area": tree.community_a, "handler": people[Role.GRID_WORKER]},
        ):
            for status in ("assigned", "handled", "fed_back"):
                self.make(status, reporters["A"], tree.grid_a, root, **unit)
        for unit in ({"department": tree.dept_b}, {"department": tree.dept_district}, {"area": tree.grid_b}):
            for status in ("assigned", "handled"):
                self.make(status, reporters["B"], tree.grid_b, root, **unit)
        # Handled by the unit itself, then rejected: back with that handler.
        self.make(
            "assigned",
            reporters["A"],
            tree.grid_a,
            root,
            department=tree.dept_a,
            handled_by=people[Role.DEPARTMENT_STAFF],
        )
        self.make("assigned", reporters["A"], tree.grid_a, root, area=tree.grid_a, handled_by=people[Role.GRID_WORKER])
        # Sent back by a department: no handling unit any more.
        sent_back = self.make("assigned", reporters["A"], tree.grid_a, root, department=tree.dept_a)
        transition_case(actor=people[Role.DEPARTMENT_STAFF], case=sent_back, name="send_back", comment="误派")
        # A street leader's reports, and a resident's.
        leader = people[Role.STREET_LEADER]
        self.make("reported", leader, tree.grid_a, root)
        self.make("assigned", leader, tree.grid_a, root, department=tree.dept_a)
        self.make("rated", leader, tree.grid_a, root, area=tree.community_a)
        self.make("reported", None, tree.grid_b, root)
        self.cases = list(Case.objects.select_related("grid").order_by("pk"))

    def make(self, status, reporter, grid, root, handled_by=None, **assign_to):
        case = create_case(
            actor=reporter, title="井盖缺失", description="路口井盖缺失", category=self.category, grid=grid
        )
        route = ROUTE[status]
        if handled_by is not None:
            route = ["assess", "assign", "handle", "reject"]
        for name in route:
            params = step_params(name)
            if name == "assign":
                params.update(assign_to)
            actor = None if name in SYSTEM_STEPS else (handled_by if name == "handle" and handled_by else root)
            case = transition_case(actor=actor, case=case, name=name, **params)
        case.refresh_from_db()
        assert case.status == status
        self.cases.append(case)
        return case


@pytest.fixture
def world(tree, people, make_user, categories):
    return World(tree, people, make_user, categories["dispute"])


def may_act(user, case):
    for name in HUMAN_STEPS:
        try:
            check_transition(actor=user, case=case, name=name)
        except (CaseStateConflict, PermissionDenied):
            continue
        return True
    return False


def may_view(user, case):
    """DESIGN §3, written from the posts themselves, not from the scope object."""
    if user.is_superuser:
        return True
    if case.reporter_id == user.pk:
        return True
    for post in user.posts.select_related("area"):
        if post.role == Role.DEPARTMENT_STAFF:
            if case.handling_department_id == post.department_id:
                return True
        elif post.role != Role.STREET_LEADER and case.grid.path.startswith(post.area.path):
            return True
    return False


def describe(cases):
    street = {"370702001": "A", "370702002": "B"}
    return sorted(
        f"#{c.pk} {c.status} street {street[c.area_path.split('/')[1]]} unit={c.handling_unit} handler={c.handler_id}"
        for c in cases
    )


@pytest.mark.django_db
class TestRulesAgree:
    def test_the_world_covers_every_state_in_both_streets(self, world):
        pairs = {(c.status, c.area_path.startswith(world.tree.street_a.path)) for c in world.cases}
        assert pairs == {(status, in_a) for status in ROUTE for in_a in (True, False)}

    def test_waiting_q_is_exactly_what_check_transition_allows(self, world):
        for key, user in world.users.items():
            selected = set(Case.objects.filter(steps.waiting_q(user)))
            allowed = {case for case in world.cases if may_act(user, case)}
            assert selected == allowed, (
                f"{key}: waiting_q only {describe(selected - allowed)}; check_transition only "
                f"{describe(allowed - selected)}"
            )

    def test_visible_q_is_exactly_design_scope(self, world):
        for key, user in world.users.items():
            selected = set(Case.objects.filter(rules.visible_q(user)))
            expected = {case for case in world.cases if may_view(user, case)}
            assert selected == expected, (
                f"{key}: visible_q only {describe(selected - expected)}; design only {describe(expected - selected)}"
            )
            assert set(selectors.cases_for(user)) == expected, key

    def test_everyone_can_see_what_they_can_act_on(self, world):
        for key, user in world.users.items():
            actionable = {case for case in world.cases if may_act(user, case)}
            visible = set(selectors.cases_for(user))
            assert actionable <= visible, f"{key}: acts on unseen {describe(actionable - visible)}"
            # So the "waiting for me" list loses nothing to the scope filter.
            assert set(selectors.waiting_for(user)) == set(Case.objects.filter(steps.waiting_q(user))), key

    def test_dispatch_and_handling_q_match_their_predicates(self, world):
        for key, user in world.users.items():
            dispatch = set(Case.objects.filter(rules.dispatch_q(user)))
            handling = set(Case.objects.filter(rules.handling_q(user)))
            for case in world.cases:
                assert (case in dispatch) == rules.may_dispatch(case, user), (key, case.pk)
                assert (case in handling) == rules.in_handling_unit(case, user), (key, case.pk)
                assert rules.system_only(case, user) is False

    def test_someone_waits_on_every_open_case(self, world):
        """No case falls between the chairs: every case short of the end waits for some person."""
        waiting = set()
        for user in world.users.values():
            waiting |= set(Case.objects.filter(steps.waiting_q(user)))
        stuck = [c for c in world.cases if c.status in ("reported", "assessed", "handled") and c not in waiting]
        stuck += [c for c in world.cases if c.status == "assigned" and c.handling_unit and c not in waiting]
        assert not stuck, describe(stuck)

    def test_waiting_lists_by_role(self, world):
        users = world.users
        only_leader = Case.objects.filter(reporter=users[Role.STREET_LEADER])
        assert only_leader.count() == 3
        assert not Case.objects.filter(steps.waiting_q(users[Role.STREET_LEADER])).exists()
        assert not Case.objects.filter(steps.waiting_q(users["nobody"])).exists()
        dept = set(Case.objects.filter(steps.waiting_q(users[Role.DEPARTMENT_STAFF])))
        assert dept and all(c.status == "assigned" and c.handling_department == world.tree.dept_a for c in dept)
        district = set(Case.objects.filter(steps.waiting_q(users[Role.DISTRICT_STAFF])))
        assert {c.area_path.startswith(world.tree.street_b.path) for c in district} == {True, False}


@pytest.mark.django_db
class TestWaitingForTheDispatcher:
    def test_a_fed_back_case_waits_for_its_dispatchers_phone_visit(self, make_case, people):
        """``rate`` is a human step of the dispatchers (the phone visit), so the case is waiting for them."""
        case = make_case("fed_back")
        staff = people[Role.COMMUNITY_STAFF]
        check_transition(actor=staff, case=case, name="rate")
        assert selectors.waiting_for(staff).filter(pk=case.pk).exists()
        assert not selectors.waiting_for(people[Role.GRID_WORKER]).filter(pk=case.pk).exists()


@pytest.mark.django_db
class TestPersonalData:
    def test_contact_is_masked_for_those_who_do_not_need_it(self, people, tree, categories):
        case = create_case(
            actor=None,
            title="噪音扰民",
            description="夜间施工",
            category=categories["dispute"],
            grid=tree.grid_a,
            contact_name="张三丰",
            contact_phone="13812345678",
            contact_email="zhang@example.com",
        )
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assess")
        transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", department=tree.dept_a)
        case.refresh_from_db()
        for who in ("superuser", Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF, Role.DEPARTMENT_STAFF):
            contact = selectors.contact_for(people[who], case)
            assert contact == {
                "name": "张三丰",
                "phone": "13812345678",
                "email": "zhang@example.com",
                "masked": False,
            }, who
        contact = selectors.contact_for(people[Role.GRID_WORKER], case)
        assert contact == {"name": "张**", "phone": "138****5678", "email": "z***@example.com", "masked": True}
