"""Case fixtures over the conftest tree: a small responsibility list, photos, a case factory."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cases.models import Category, DeadlineUnit
from cases.services import create_case, transition_case


def png_bytes(size=(32, 24), color=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def photo():
    def make(name="photo.png", content=None):
        return SimpleUploadedFile(name, content or png_bytes(), content_type="image/png")

    return make


@pytest.fixture
def categories(tree):
    group = Category.objects.create(code="01", name="矛盾纠纷调解")
    dispute = Category.objects.create(
        code="0101",
        name="邻里纠纷",
        parent=group,
        default_tier="community",
        assess_limit=1,
        assess_unit=DeadlineUnit.WORKDAYS,
        handle_limit=5,
        handle_unit=DeadlineUnit.WORKDAYS,
        verify_limit=2,
        verify_unit=DeadlineUnit.WORKDAYS,
        safety_dimension="stability",
        safety_weight=1,
    )
    hazards = Category.objects.create(code="02", name="社会治安隐患")
    hazard = Category.objects.create(
        code="0201",
        name="治安隐患",
        parent=hazards,
        default_department=tree.dept_district,
        priority="urgent",
        assess_limit=2,
        assess_unit=DeadlineUnit.HOURS,
        handle_limit=24,
        handle_unit=DeadlineUnit.HOURS,
        verify_limit=1,
        verify_unit=DeadlineUnit.WORKDAYS,
        safety_dimension="criminal",
        safety_weight=3,
    )
    return {"group": group, "dispute": dispute, "hazard": hazard, "hazard_group": hazards}


@pytest.fixture
def make_case(tree, categories, people):
    """A case in street A's grid, reported by its grid worker, optionally walked to ``status``."""
    from accounts.roles import Role

    def make(status="reported", *, grid=None, category=None, reporter=None, photo_file=None, **fields):
        in_street_a = grid is None or grid == tree.grid_a
        reporter = reporter or (people[Role.GRID_WORKER] if in_street_a else people["superuser"])
        case = create_case(
            actor=reporter,
            title=fields.pop("title", "楼道堆放杂物"),
            description=fields.pop("description", "三楼楼道堆放纸箱"),
            category=category or categories["dispute"],
            grid=grid or tree.grid_a,
            **fields,
        )
        staff = people[Role.COMMUNITY_STAFF] if in_street_a else people["superuser"]
        community = tree.community_a if in_street_a else tree.community_b
        steps = {
            "assessed": [("assess", staff, {})],
            "assigned": [("assess", staff, {}), ("assign", staff, {"area": community})],
            "handled": [
                ("assess", staff, {}),
                ("assign", staff, {"area": community}),
                ("handle", staff, {"result": "已清理", "photos": [photo_file or _photo()]}),
            ],
            "fed_back": [
                ("assess", staff, {}),
                ("assign", staff, {"area": community}),
                ("handle", staff, {"result": "已清理", "photos": [photo_file or _photo()]}),
                ("feed_back", staff, {"comment": "核查属实"}),
            ],
            "rated": [
                ("assess", staff, {}),
                ("assign", staff, {"area": community}),
                ("handle", staff, {"result": "已清理", "photos": [photo_file or _photo()]}),
                ("feed_back", staff, {"comment": "核查属实"}),
                ("rate", staff, {"rating": "satisfied"}),
            ],
            "dismissed": [("dismiss", staff, {"reason": "not_real", "comment": "现场无此情况"})],
            "closed": [
                ("assess", staff, {}),
                ("assign", staff, {"area": community}),
                ("handle", staff, {"result": "已清理", "photos": [photo_file or _photo()]}),
                ("feed_back", staff, {"comment": "核查属实"}),
                ("close", None, {}),
            ],
        }
        for name, actor, params in steps.get(status, []):
            case = transition_case(actor=actor, case=case, name=name, **params)
        case.refresh_from_db()
        assert case.status == status
        return case

    return make


def _photo():
    return SimpleUploadedFile("after.png", png_bytes(color=(20, 160, 40)), content_type="image/png")


@pytest.fixture
def supervisors(tree, make_user):
    """A supervisor (with an email address) at every tier of both streets, plus a department supervisor."""
    from accounts.models import User
    from accounts.roles import Role

    made = {
        "district": make_user(Role.DISTRICT_STAFF, area=tree.district, supervisor=True, username="sup_district"),
        "street_a": make_user(Role.STREET_STAFF, area=tree.street_a, supervisor=True, username="sup_street_a"),
        "street_b": make_user(Role.STREET_STAFF, area=tree.street_b, supervisor=True, username="sup_street_b"),
        "community_a": make_user(Role.COMMUNITY_STAFF, area=tree.community_a, supervisor=True, username="sup_comm_a"),
        "community_b": make_user(Role.COMMUNITY_STAFF, area=tree.community_b, supervisor=True, username="sup_comm_b"),
    }
    for user in made.values():
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@example.gov.cn")
        user.email = f"{user.username}@example.gov.cn"
    return made


@pytest.fixture
def make_system(tree, categories):
    """An external system registered by the platform: ``make_system(code, ...)`` returns (system, key).
    By default it files hazards (category group 02) in street A by hotline and video."""
    from cases import external
    from cases.models import ExternalSystem, Source

    def make(code="hotline", *, name=None, areas=None, categories_=None, sources=None, webhook_url=""):
        system = ExternalSystem(
            name=name or f"系统 {code}",
            code=code,
            sources=sources if sources is not None else [Source.HOTLINE, Source.VIDEO],
            webhook_url=webhook_url,
        )
        key = external.register_system(
            actor=None,
            system=system,
            areas=areas if areas is not None else [tree.street_a],
            categories=categories_ if categories_ is not None else [categories["hazard_group"]],
        )
        return system, key

    return make
