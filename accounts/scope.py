"""The one scope selector: what a user may see and administer.

Every place that lists or changes rows (admin querysets, API querysets,
exports, metrics) asks this module, so scope is decided once:

- area posts see their area's subtree;
- department posts see their department (and, read-only, the area it serves);
- street leaders see what they reported (cases add that rule on top);
- superusers see everything.

Administering the organisation is narrower than seeing it: a managing post
(community, street or district staff) may change the areas strictly below
its own area, and may give posts within its subtree.
"""

from dataclasses import dataclass, field

from django.db.models import Q

from gov_platform.prepared import prepared_values
from grids.models import Area, Camera, Department, PartyOrganization, ancestor_paths

from .roles import MANAGING_ROLES, Role

_CACHE_ATTR = "_grid_scope"


@dataclass(frozen=True)
class Scope:
    is_global: bool = False
    # Paths of the areas whose organisation (areas, departments, party
    # organisations) the user sees.
    area_paths: tuple[str, ...] = ()
    # Paths of the areas whose cases the user sees: area posts other than
    # street leaders, who see only what they reported.
    case_paths: tuple[str, ...] = ()
    # Paths of the areas whose strict subtrees the user administers.
    managed_paths: tuple[str, ...] = ()
    department_ids: frozenset[int] = field(default_factory=frozenset)
    # Areas the user holds a working post at (not street leader): a case
    # handed to one of these areas is handled by this user.
    post_area_ids: frozenset[int] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    # (role, path) of each post held at an area, street leaders' included: who records patrols where
    # (cases.visits) without reading the posts again.
    area_posts: tuple[tuple[str, str], ...] = ()
    user_id: int | None = None

    # --- building blocks -------------------------------------------------
    def path_q(self, lookup: str, paths=None) -> Q:
        """``Q`` matching rows whose ``lookup`` path lies in one of ``paths`` (default: the visible subtrees)."""
        paths = self.area_paths if paths is None else paths
        q = Q(pk__in=[])
        for path in paths:
            q |= Q(**{f"{lookup}__startswith": path})
        return q

    def manages_path(self, path: str, *, strictly_below: bool = True) -> bool:
        if self.is_global:
            return True
        return any(path.startswith(p) and (path != p or not strictly_below) for p in self.managed_paths)

    # --- cases -------------------------------------------------------------
    def sees_cases_at(self, path: str) -> bool:
        """Whether the cases of the area at ``path`` are this user's to see (its figures too)."""
        return self.is_global or any(path.startswith(p) for p in self.case_paths)

    def case_home_areas(self):
        """The outermost areas whose cases (and figures) this user reads: the district for superusers."""
        if self.is_global:
            return Area.objects.filter(parent__isnull=True)
        return Area.objects.filter(path__in=self.case_paths)

    def case_path_q(self, lookup: str = "area_path") -> Q:
        return Q() if self.is_global else self.path_q(lookup, self.case_paths)

    def dispatch_path_q(self, lookup: str = "area_path") -> Q:
        """Rows whose area a managing post of this user dispatches (its own area included)."""
        return Q() if self.is_global else self.path_q(lookup, self.managed_paths)

    def dispatches_at(self, path: str) -> bool:
        return self.manages_path(path, strictly_below=False)

    def dispatching_path(self, path: str) -> str | None:
        """The nearest of this user's managing areas above ``path``: the tier that dispatches for them there."""
        covering = [p for p in self.managed_paths if path.startswith(p)]
        return max(covering, key=len) if covering else None

    def may_report_at(self, path: str) -> bool:
        """Anyone reports inside their areas, and in the area that holds their building (street leaders)."""
        return self.is_global or any(path.startswith(p) or p.startswith(path) for p in self.area_paths)

    def reportable_q(self, lookup: str = "path") -> Q:
        """``Q`` of the areas where ``may_report_at`` holds."""
        if self.is_global:
            return Q()
        above = {a for path in self.area_paths for a in ancestor_paths(path)}
        return self.path_q(lookup) | Q(**{f"{lookup}__in": above})

    def works_in(self, *, department=None, area=None) -> bool:
        """Whether this user works in a handling unit: the department, or the area or below it."""
        if department is not None:
            return department.pk in self.department_ids
        return area is not None and any(p.startswith(area.path) for p in self.case_paths)

    def handles_unit_q(self, *, department_lookup: str, area_lookup: str) -> Q:
        """Rows handed to one of this user's departments or post areas."""
        if self.is_global:
            return Q()
        return Q(**{f"{department_lookup}__in": self.department_ids}) | Q(**{f"{area_lookup}__in": self.post_area_ids})

    def handles_unit(self, *, department_id=None, area_id=None) -> bool:
        return self.is_global or (
            (department_id is not None and department_id in self.department_ids)
            or (area_id is not None and area_id in self.post_area_ids)
        )

    # --- organisation ------------------------------------------------------
    def areas(self, qs=None):
        qs = Area.objects.all() if qs is None else qs
        return qs if self.is_global else qs.filter(self.path_q("path"))

    def managed_areas(self, qs=None, *, include_roots=False):
        qs = Area.objects.all() if qs is None else qs
        if self.is_global:
            return qs
        q = self.path_q("path", self.managed_paths)
        if not include_roots:
            q &= ~Q(path__in=self.managed_paths)
        return qs.filter(q)

    def departments(self, qs=None):
        qs = Department.objects.all() if qs is None else qs
        if self.is_global:
            return qs
        return qs.filter(self.path_q("area__path") | Q(pk__in=self.department_ids))

    def managed_departments(self, qs=None):
        qs = Department.objects.all() if qs is None else qs
        return qs if self.is_global else qs.filter(self.path_q("area__path", self.managed_paths))

    def party_organizations(self, qs=None):
        qs = PartyOrganization.objects.all() if qs is None else qs
        return qs if self.is_global else qs.filter(self.path_q("area__path"))

    def cameras(self, qs=None):
        """Cameras in the areas this user sees; ``manages_path(camera.grid.path)`` says who administers one."""
        qs = Camera.objects.all() if qs is None else qs
        return qs if self.is_global else qs.filter(self.path_q("grid__path"))

    def managed_cameras(self, qs=None):
        qs = Camera.objects.all() if qs is None else qs
        return qs if self.is_global else qs.filter(self.path_q("grid__path", self.managed_paths))

    # --- administering people -------------------------------------------
    # One rule, used by the admin, the services, the import and the API: an
    # official administers a user only when every post of that user lies
    # strictly below the official's own area, or in a department of an area
    # the official manages. Never peers, never their supervisors, never
    # themselves; a user without posts (auditors, new superusers) only by a
    # superuser.
    def _managed_post_q(self, prefix: str = "") -> Q:
        area_q = self.path_q(f"{prefix}area__path", self.managed_paths) & ~Q(
            **{f"{prefix}area__path__in": self.managed_paths}
        )
        return area_q | self.path_q(f"{prefix}department__area__path", self.managed_paths)

    def manages_post_unit(self, *, area=None, department=None) -> bool:
        """Whether a post over ``area`` or ``department`` lies where this user administers people."""
        if self.is_global:
            return True
        if area is not None:
            return self.manages_path(area.path, strictly_below=True)
        if department is not None:
            return self.manages_path(department.area.path, strictly_below=False)
        return False

    def administered_users(self, qs=None):
        from .models import Post, User

        qs = User.objects.all() if qs is None else qs
        if self.is_global:
            return qs
        if not self.managed_paths:
            return qs.none()
        inside = Post.objects.filter(self._managed_post_q()).values("user_id")
        outside = Post.objects.exclude(self._managed_post_q()).values("user_id")
        return qs.filter(pk__in=inside, is_superuser=False).exclude(pk__in=outside).exclude(pk=self.user_id)

    def administers(self, user) -> bool:
        """Whether this user may change ``user``: their account, password, status and posts."""
        if self.is_global:
            return True
        if user is None or user.pk is None:
            return False
        return self.administered_users().filter(pk=user.pk).exists()

    def posts(self, qs=None):
        """Posts of the users this user administers."""
        from .models import Post

        qs = Post.objects.all() if qs is None else qs
        if self.is_global:
            return qs
        return qs.filter(user__in=self.administered_users().values("pk"))

    def users(self, qs=None):
        """Users this user administers, and the user themself (read-only)."""
        from .models import User

        qs = User.objects.all() if qs is None else qs
        if self.is_global:
            return qs
        return qs.filter(Q(pk__in=self.administered_users().values("pk")) | Q(pk=self.user_id))


GLOBAL_SCOPE = Scope(is_global=True)
# What the platform itself acts with (seed, commands, beat tasks): everything.
SYSTEM_SCOPE = GLOBAL_SCOPE
EMPTY_SCOPE = Scope()


def forget_scope(user) -> None:
    """Drop the scope cached on ``user`` after their posts changed."""
    user.__dict__.pop(_CACHE_ATTR, None)


def scope_for(user) -> Scope:
    """The scope of ``user``, computed once per user object (one query)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return EMPTY_SCOPE
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if user.is_superuser:
        scope = GLOBAL_SCOPE
    else:
        area_paths, case_paths, managed_paths, department_ids, roles = set(), set(), set(), set(), set()
        post_area_ids, area_posts = set(), set()
        # Only the columns the scope is made of: every request of a signed-in user reads this, and whole rows
        # would bring each post's area and department's area with their outlines (GeoJSON, kilobytes each).
        posts = _scope_posts(user.pk)
        for role, area_id, area_path, department_id, department_area_path in posts:
            roles.add(role)
            if role == Role.DEPARTMENT_STAFF:
                department_ids.add(department_id)
                area_paths.add(department_area_path)
                continue
            area_paths.add(area_path)
            area_posts.add((role, area_path))
            if role != Role.STREET_LEADER:
                case_paths.add(area_path)
                post_area_ids.add(area_id)
            if role in MANAGING_ROLES:
                managed_paths.add(area_path)
        scope = Scope(
            area_paths=_outermost(area_paths),
            case_paths=_outermost(case_paths),
            managed_paths=_outermost(managed_paths),
            department_ids=frozenset(department_ids),
            post_area_ids=frozenset(post_area_ids),
            roles=frozenset(roles),
            area_posts=tuple(sorted(area_posts)),
            user_id=user.pk,
        )
    setattr(user, _CACHE_ATTR, scope)
    return scope


# Every request of a signed-in user reads it: the statement is built once per process (gov_platform.prepared).
@prepared_values("accounts.Post")
def _scope_posts(user_id):
    from .models import Post

    return Post.objects.filter(user_id=user_id).values_list(
        "role", "area_id", "area__path", "department_id", "department__area__path"
    )


def _outermost(paths) -> tuple[str, ...]:
    """Drop paths already covered by a shorter one, so each filter has the fewest OR terms."""
    kept = []
    for path in sorted(paths, key=len):
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))
