"""The model district (370702) for the demo and for tests.

Everything is generated from a fixed seed, and every write is an upsert keyed
by code or username, so running the seed twice leaves the same data.
"""

import random
from base64 import b32decode
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Post, User
from accounts.roles import SECURITY_ADMIN, SECURITY_AUDITOR, Role
from accounts.twofactor import TOTP_DEVICE_NAME, otp_required
from cases.models import Category, ResponseTemplate
from cases.privacy import PRIVACY_OFFICER_GROUP
from cases.responsibility_list import seed_categories
from grids.geometry import to_geojson
from grids.models import Area, Department, Tier
from grids.orgfile import Row
from grids.services import import_boundaries, import_organisation
from metrics.kpis import first_of_month
from metrics.services import SnapshotExists, snapshot_safety_index

from . import weicheng
from .cameras import seed_cameras, seed_event_types

DISTRICT_CODE = "370702"
DISTRICT_NAME = "潍城区"
STREETS = [name for name, _columns, _rows, _count in weicheng.STREETS]
ROADS = weicheng.ROADS
GRID_TOTAL = 400
BUILDINGS_PER_GRID = 4
STREET_LEADERS = 210
# Full-time community workers are the community's two staff and its grid workers; a community
# of this many residents per worker meets the standard of 18 per 10,000 (555.5), except the few
# every UNDERSTAFFED_EVERY-th that have more, so the staffing panel has gaps to show.
RESIDENTS_PER_WORKER = (380, 550)
UNDERSTAFFED_EVERY = 31
# Meets the password rules (AUTH_PASSWORD_VALIDATORS): 10 characters, four kinds.
DEMO_PASSWORD = "Demo@2026!"
# The authenticator key of every demo login whose role requires two-factor login
# (README); `manage.py demo_otp <username>` prints the current code.
DEMO_TOTP_SECRET = "DEMOGRIDGOVERNANCE2FASECRETKEY23"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅鹏辉建国志强海燕晓东海波丹宁岩峰云飞雪琳"

DISTRICT_DEPARTMENTS = [
    ("GA", "公安分局"),
    ("ZJ", "住房和城乡建设局"),
    ("SJ", "市场监督管理局"),
    ("ZF", "综合行政执法局"),
    ("HB", "生态环境分局"),
    ("MZ", "民政局"),
    ("SW", "水务局"),
    ("YJ", "应急管理局"),
    ("SF", "司法局"),
    ("XF", "信访局"),
]
STREET_DEPARTMENTS = [("ZD", "综合执法中队"), ("PCS", "派出所")]


@dataclass
class SeedSummary:
    areas: dict
    departments: int
    party_organizations: int
    categories: int
    users: int
    posts: int
    logins: list
    otp_logins: list


class _Names:
    def __init__(self, rng):
        self.rng = rng

    def person(self):
        given = self.rng.choice(GIVEN) + (self.rng.choice(GIVEN) if self.rng.random() < 0.6 else "")
        return self.rng.choice(SURNAMES) + given


def _organisation_rows(rng):
    rows, grids, buildings, communities, streets = [], [], [], [], []
    boundaries = {DISTRICT_CODE: (weicheng.WEST, weicheng.SOUTH, weicheng.EAST, weicheng.NORTH)}

    def add(record_type, tier, code, name, parent="", **extra):
        rows.append(
            Row(
                line=len(rows) + 2,
                values={
                    "type": record_type,
                    "tier": tier,
                    "code": code,
                    "name": name,
                    "parent": parent,
                    **{k: str(v) for k, v in extra.items()},
                },
            )
        )

    layout = weicheng.community_places(rng)
    places = [community for _street, communities_of in layout for community in communities_of]
    # Two grids for the bigger communities: the urban ones first (the old town is dense), then villages.
    doubles = set(sorted(range(len(places)), key=lambda i: (not places[i].urban, i))[: GRID_TOTAL - len(places)])

    populations = {}
    road_uses = {}
    community_index = 0
    for s, (street, communities_of) in enumerate(layout, start=1):
        street_code = f"{DISTRICT_CODE}{s:03d}"
        streets.append((street_code, street.name))
        boundaries[street_code] = street.rect
        for c, place in enumerate(communities_of, start=1):
            community_code = f"{street_code}{c:03d}"
            communities.append((community_code, place.name, street_code))
            boundaries[community_code] = place.rect
            grid_count = 2 if community_index in doubles else 1
            workers = 2 + grid_count
            population = workers * rng.randint(*RESIDENTS_PER_WORKER)
            if community_index % UNDERSTAFFED_EVERY == UNDERSTAFFED_EVERY - 1:
                population = workers * rng.randint(600, 720)
            # An urban road carries several communities: their house numbers follow on.
            first_number = road_uses.get(place.road, 0) * 20
            road_uses[place.road] = road_uses.get(place.road, 0) + 1
            for g, grid_rect in enumerate(weicheng.halves(place.rect, grid_count), start=1):
                grid_code = f"{community_code}{g:03d}"
                grid_population = population // grid_count + (population % grid_count if g == 1 else 0)
                grids.append((grid_code, f"{place.name}第{g}网格", community_code, grid_population))
                boundaries[grid_code] = grid_rect
                for b, building_rect in enumerate(weicheng.quarters(grid_rect), start=1):
                    building_code = f"{grid_code}{b:03d}"
                    if place.urban:
                        name = f"{place.road}{first_number + ((g - 1) * BUILDINGS_PER_GRID + b) * 2}号"
                    else:
                        name = f"{place.road}{weicheng.VILLAGE_LANES[(g - 1) * BUILDINGS_PER_GRID + b - 1]}"
                    buildings.append((building_code, name, grid_code, grid_population // BUILDINGS_PER_GRID))
                    boundaries[building_code] = building_rect
            community_index += 1

    for code, _name, parent, population in grids:
        populations[code] = population
        for prefix in (parent, parent[:9], DISTRICT_CODE):
            populations[prefix] = populations.get(prefix, 0) + population

    def households(code):
        return populations[code] * 10 // 26

    add(
        "area",
        "district",
        DISTRICT_CODE,
        DISTRICT_NAME,
        "",
        population=populations[DISTRICT_CODE],
        households=households(DISTRICT_CODE),
    )
    for code, name in streets:
        add("area", "street", code, name, DISTRICT_CODE, population=populations[code], households=households(code))
    for code, name, parent in communities:
        add("area", "community", code, name, parent, population=populations[code], households=households(code))
    for code, name, parent, population in grids:
        add("area", "grid", code, name, parent, population=population, households=households(code))
    for code, name, parent, population in buildings:
        add("area", "building", code, name, parent, population=population, households=population * 10 // 26)

    for suffix, name in DISTRICT_DEPARTMENTS:
        add(
            "department",
            "",
            f"D{DISTRICT_CODE}-{suffix}",
            f"{DISTRICT_NAME}{name}",
            DISTRICT_CODE,
            phone=f"0536-8{rng.randint(1000000, 9999999)}",
        )
    for code, name in streets:
        for suffix, dept in STREET_DEPARTMENTS:
            add(
                "department",
                "",
                f"D{code}-{suffix}",
                f"{name}{dept}",
                code,
                phone=f"0536-8{rng.randint(1000000, 9999999)}",
            )

    names = _Names(rng)
    for code, name in streets:
        add(
            "party",
            "street_committee",
            f"P{code}",
            f"{name}工作委员会",
            code,
            members=rng.randint(300, 900),
            head=names.person(),
        )
    for code, name, _parent in communities:
        add(
            "party",
            "community_committee",
            f"P{code}",
            f"{name}党委",
            code,
            members=rng.randint(60, 200),
            head=names.person(),
        )
    for code, name, _parent, _pop in grids:
        add("party", "grid_branch", f"P{code}", f"{name}党支部", code, members=rng.randint(10, 40), head=names.person())
    for i, (code, name, _parent, _pop) in enumerate(buildings):
        if i % 2 == 0:
            add(
                "party",
                "building_group",
                f"P{code}",
                f"{name}党小组",
                code,
                members=rng.randint(3, 12),
                head=names.person(),
            )
        if i % BUILDINGS_PER_GRID == 0:
            add("party", "member_household", f"H{code}", f"{name}党员中心户", code, members=1, head=names.person())
    return rows, streets, communities, grids, buildings, boundaries


def _people(rng, streets, communities, grids, buildings):
    """(username, real name, [(role, area code | None, department code | None, supervisor, title)])."""
    names = _Names(rng)
    people = [
        ("district", names.person(), [(Role.DISTRICT_STAFF, DISTRICT_CODE, None, False, "区社会治理中心调度员")]),
        ("district2", names.person(), [(Role.DISTRICT_STAFF, DISTRICT_CODE, None, False, "区社会治理中心调度员")]),
        ("district_sup", names.person(), [(Role.DISTRICT_STAFF, DISTRICT_CODE, None, True, "区委政法委分管领导")]),
    ]
    for s, (code, _name) in enumerate(streets, start=1):
        people.append(
            (f"street{s}", names.person(), [(Role.STREET_STAFF, code, None, False, "街道网格化服务管理中心")])
        )
        people.append(
            (f"street{s}b", names.person(), [(Role.STREET_STAFF, code, None, False, "街道网格化服务管理中心")])
        )
        people.append((f"street{s}_sup", names.person(), [(Role.STREET_STAFF, code, None, True, "街道分管领导")]))
        for suffix, _dept in STREET_DEPARTMENTS:
            people.append(
                (
                    f"dept_{s}{suffix.lower()}",
                    names.person(),
                    [(Role.DEPARTMENT_STAFF, None, f"D{code}-{suffix}", False, "")],
                )
            )
    for suffix, _dept in DISTRICT_DEPARTMENTS:
        people.append(
            (
                f"dept_{suffix.lower()}",
                names.person(),
                [(Role.DEPARTMENT_STAFF, None, f"D{DISTRICT_CODE}-{suffix}", False, "")],
            )
        )
        people.append(
            (
                f"dept_{suffix.lower()}_sup",
                names.person(),
                [(Role.DEPARTMENT_STAFF, None, f"D{DISTRICT_CODE}-{suffix}", True, "部门分管领导")],
            )
        )
    for c, (code, _name, _parent) in enumerate(communities, start=1):
        people.append(
            (f"community{c:03d}", names.person(), [(Role.COMMUNITY_STAFF, code, None, False, "社区网格员管理员")])
        )
        people.append(
            (f"community{c:03d}_sup", names.person(), [(Role.COMMUNITY_STAFF, code, None, True, "社区党委书记")])
        )
    for g, (code, _name, _parent, _pop) in enumerate(grids, start=1):
        people.append((f"grid{g:03d}", names.person(), [(Role.GRID_WORKER, code, None, False, "专职网格员")]))
    step = len(buildings) / STREET_LEADERS
    for i in range(STREET_LEADERS):
        code = buildings[int(i * step)][0]
        people.append((f"leader{i + 1:03d}", names.person(), [(Role.STREET_LEADER, code, None, False, "街巷长")]))
    return people


LOGINS = [
    ("admin", "superuser"),
    ("district", Role.DISTRICT_STAFF.label),
    ("district_sup", f"{Role.DISTRICT_STAFF.label} (supervisor)"),
    ("street1", Role.STREET_STAFF.label),
    ("street1_sup", f"{Role.STREET_STAFF.label} (supervisor)"),
    ("community001", Role.COMMUNITY_STAFF.label),
    ("community001_sup", f"{Role.COMMUNITY_STAFF.label} (supervisor)"),
    ("grid001", Role.GRID_WORKER.label),
    ("leader001", Role.STREET_LEADER.label),
    ("dept_ga", Role.DEPARTMENT_STAFF.label),
    ("auditor", "security auditor: the security audit log only"),
    ("secadmin", "security administrator: two-factor devices and lockouts only"),
    ("privacy", "privacy officer: residents' data-subject requests only"),
]
# 三员分立: the superuser (admin) is the system administrator; these two hold no post.
SECURITY_LOGINS = {"auditor": ("安全审计员", SECURITY_AUDITOR), "secadmin": ("安全管理员", SECURITY_ADMIN)}
# PIPL: the district's privacy officer finds, exports and erases a resident's contact; no post either.
SECURITY_LOGINS["privacy"] = ("个人信息保护负责人", PRIVACY_OFFICER_GROUP)


@transaction.atomic
def seed_demo(*, password: str = DEMO_PASSWORD) -> SeedSummary:
    validate_password(password)
    rng = random.Random(int(DISTRICT_CODE))
    rows, streets, communities, grids, buildings, boundaries = _organisation_rows(rng)
    import_organisation(actor=None, rows=rows)
    import_boundaries(
        actor=None,
        features=[
            {"type": "Feature", "properties": {"code": code}, "geometry": to_geojson(weicheng.polygon(rect))}
            for code, rect in boundaries.items()
        ],
    )
    people = _people(rng, streets, communities, grids, buildings)

    # One hash for every demo login: hashing a thousand passwords would take minutes.
    hashed = make_password(password)
    usernames = ["admin", *(p[0] for p in people), *SECURITY_LOGINS]
    existing = {u.username: u for u in User.objects.filter(username__in=usernames)}
    mobiles = {username: f"139{i:08d}" for i, username in enumerate(usernames, start=1)}
    new_users, changed, checked = [], [], {}
    security = [(username, real_name, []) for username, (real_name, _group) in SECURITY_LOGINS.items()]
    for username, real_name, _posts in [("admin", "系统管理员", []), *people, *security]:
        is_admin = username == "admin"
        wanted = {
            "real_name": real_name,
            "mobile": mobiles[username],
            "email": f"{username}@grid.example.gov.cn",
            "is_staff": True,
            "is_active": True,
            "is_superuser": is_admin,
            "password": hashed,
        }
        user = existing.get(username)
        if user is None:
            new_users.append(User(username=username, **wanted))
        else:
            # Keep the stored hash when it already matches the printed password
            # (hashes share a salt per run, so one check covers most users).
            if user.password not in checked:
                checked[user.password] = user.check_password(password)
            if checked[user.password]:
                wanted["password"] = user.password
            if any(getattr(user, k) != v for k, v in wanted.items()):
                for k, v in wanted.items():
                    setattr(user, k, v)
                changed.append(user)
    User.objects.bulk_create(new_users, batch_size=500)
    if changed:
        User.objects.bulk_update(
            changed, ["real_name", "mobile", "email", "is_staff", "is_active", "is_superuser", "password"]
        )
    users = {u.username: u for u in User.objects.filter(username__in=usernames)}

    areas = dict(Area.objects.values_list("code", "pk"))
    departments = dict(Department.objects.values_list("code", "pk"))
    wanted_posts = {}
    for username, _real_name, posts in people:
        for role, area_code, dept_code, supervisor, title in posts:
            key = (users[username].pk, role.value, areas.get(area_code), departments.get(dept_code))
            wanted_posts[key] = (supervisor, title)
    current = {(p.user_id, p.role, p.area_id, p.department_id): p for p in Post.objects.filter(user__in=users.values())}
    Post.objects.bulk_create(
        [
            Post(user_id=k[0], role=k[1], area_id=k[2], department_id=k[3], is_supervisor=v[0], title=v[1])
            for k, v in wanted_posts.items()
            if k not in current
        ],
        batch_size=500,
    )
    stale = [p for k, p in current.items() if k in wanted_posts and (p.is_supervisor, p.title) != wanted_posts[k]]
    for post in stale:
        post.is_supervisor, post.title = wanted_posts[(post.user_id, post.role, post.area_id, post.department_id)]
    Post.objects.bulk_update(stale, ["is_supervisor", "title"])
    Post.objects.filter(pk__in=[p.pk for k, p in current.items() if k not in wanted_posts]).delete()

    seed_categories(
        department_codes={suffix: departments[f"D{DISTRICT_CODE}-{suffix}"] for suffix, _name in DISTRICT_DEPARTMENTS}
    )

    group_names = [*Role.values, *(group for _name, group in SECURITY_LOGINS.values())]
    groups = {g.name: g.pk for g in Group.objects.filter(name__in=group_names)}
    Membership = User.groups.through
    wanted_members = {(user_id, groups[role]) for (user_id, role, _a, _d) in wanted_posts}
    wanted_members |= {(users[username].pk, groups[group]) for username, (_name, group) in SECURITY_LOGINS.items()}
    have = set(Membership.objects.filter(user_id__in=[u.pk for u in users.values()]).values_list("user_id", "group_id"))
    Membership.objects.bulk_create(
        [Membership(user_id=u, group_id=g) for u, g in wanted_members - have], batch_size=1000
    )

    otp_logins = _demo_totp_devices(users)
    _response_templates()
    seed_event_types()
    seed_cameras(grids, boundaries)

    return SeedSummary(
        areas={
            tier.value: Area.objects.filter(tier=tier, path__startswith=f"{DISTRICT_CODE}/").count() for tier in Tier
        },
        departments=Department.objects.filter(area__path__startswith=f"{DISTRICT_CODE}/").count(),
        party_organizations=sum(1 for r in rows if r.values["type"] == "party"),
        categories=Category.objects.filter(parent__isnull=False).count(),
        users=len(users),
        posts=len(wanted_posts),
        logins=[(username, label, password) for username, label in LOGINS],
        otp_logins=otp_logins,
    )


def record_safety_index(*, months: int) -> list:
    """The safety index of each of the last ``months`` ended months not recorded yet, as the monthly task records
    it: the dashboard and /public/ read recorded months, so both show the same figures from the first start."""
    this_month = first_of_month(timezone.localdate())
    recorded = []
    for back in range(months, 0, -1):
        year, index = divmod(this_month.year * 12 + this_month.month - 1 - back, 12)
        month = this_month.replace(year=year, month=index + 1)
        try:
            snapshot_safety_index(actor=None, month=month)
        except SnapshotExists:
            continue
        recorded.append(month)
    return recorded


def _demo_totp_devices(users) -> list[str]:
    """A confirmed authenticator with the documented key for every demo login that must use one."""
    usernames = {username for username, _label in LOGINS}
    needing = sorted(u.username for u in users.values() if u.username in usernames and otp_required(u))
    key = b32decode(DEMO_TOTP_SECRET).hex()
    for username in needing:
        TOTPDevice.objects.update_or_create(
            user=users[username], name=TOTP_DEVICE_NAME, defaults={"key": key, "confirmed": True}
        )
    return needing


# The district's stock phrases (惯用语) for the steps officials write most; streets add their own.
RESPONSE_TEMPLATES = [
    ("assess", "internal", "经核实，情况属实，予以立案。"),
    ("dismiss", "public", "经核实，该问题不属于本平台受理范围，已告知反映人向有关部门反映。"),
    ("send_back", "internal", "该事项不属于本单位职责，请重新派遣。"),
    ("handle", "public", "已于{deadline}前处置完毕，现场已恢复正常。"),
    ("reject", "internal", "现场核查未达到处置要求，请于{deadline}前重新处置。"),
    ("feed_back", "public", "案件{number}经{unit}处置，现场核查属实，予以结案。"),
]


def _response_templates():
    district = Area.objects.get(code=DISTRICT_CODE)
    for step, audience, text in RESPONSE_TEMPLATES:
        ResponseTemplate.objects.get_or_create(step=step, text=text, area=district, defaults={"audience": audience})
