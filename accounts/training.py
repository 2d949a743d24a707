"""Training (培训) of grid workers and community staff: courses, attendance, and who is due.

The model district trains every grid worker in rotation each year: a grid worker is *due* when no
course they passed lies within the last ``settings.TRAINING_INTERVAL_DAYS`` days. A course is run by a
district, street or community (its area); whoever manages that area keeps it. Attendance is about a
person: an official records it only for the people they administer (``Scope.administers``), so a
community records its own grid workers, a street its communities' staff, never a peer or a superior.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models import Area, Tier, ancestor_path_at, ancestor_paths

from .models import Attendance, Course, Post, User
from .roles import Role

# Who attends training: the people of the grids and communities.
TRAINED_ROLES = [Role.GRID_WORKER, Role.COMMUNITY_STAFF]


def interval_days() -> int:
    return settings.TRAINING_INTERVAL_DAYS


# --- reads ------------------------------------------------------------------------------------------------
def courses_for(user, qs=None):
    """Courses this user sees: those run by their areas, by an area above them, or below them."""
    qs = Course.objects.all() if qs is None else qs
    scope = user.scope
    if scope.is_global:
        return qs
    above = {a for path in scope.area_paths for a in ancestor_paths(path)}
    return qs.filter(scope.path_q("area__path") | Q(area__path__in=above))


def attendance_for(user, qs=None):
    """Attendance rows of the people this user administers, and their own (read-only)."""
    qs = Attendance.objects.all() if qs is None else qs
    scope = user.scope
    if scope.is_global:
        return qs
    return qs.filter(Q(user__in=scope.administered_users().values("pk")) | Q(user_id=user.pk))


def trainees_for(user):
    """The people this user may record attendance for: grid workers and community staff they administer."""
    return (
        user.scope.administered_users(User.objects.filter(is_active=True))
        .filter(posts__role__in=TRAINED_ROLES)
        .distinct()
        .order_by("username")
    )


def may_keep_course(user, course: Course) -> bool:
    return course.area_id is not None and user.scope.dispatches_at(course.area.path)


# --- writes -----------------------------------------------------------------------------------------------
@transaction.atomic
def save_course(*, actor, course: Course) -> Course:
    if course.area_id is None or course.area.tier not in (Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY):
        raise ValidationError({"area": _("A course is run by the district, a street or a community.")})
    if not may_keep_course(actor, course):
        raise PermissionDenied(_("You may keep only the courses of your own area and the areas below it."))
    if course.pk is not None:
        stored = Course.objects.select_related("area").get(pk=course.pk)
        if not may_keep_course(actor, stored):
            raise PermissionDenied(_("You may keep only the courses of your own area and the areas below it."))
    if course.hours is None or course.hours <= 0:
        raise ValidationError({"hours": _("A course lasts more than zero hours.")})
    if course.created_by_id is None:
        course.created_by = actor
    course.full_clean()
    course.save()
    return course


def _hours(value, course) -> Decimal:
    try:
        hours = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({"hours": _("Give the hours as a number.")}) from None
    if hours <= 0 or hours > course.hours:
        raise ValidationError(
            {"hours": _("Between 0 and the course's %(hours)s hours.") % {"hours": f"{course.hours.normalize():f}"}}
        )
    return hours


def check_attendance(*, actor, course: Course, user, hours) -> Decimal:
    """PermissionDenied for a person the actor does not administer or a course not theirs; ValidationError
    naming the field for bad input; the hours otherwise."""
    if user is None or not actor.scope.administers(user):
        raise PermissionDenied(_("You may record attendance only for the people you administer."))
    if not courses_for(actor).filter(pk=course.pk).exists():
        raise PermissionDenied(_("This course is not one of your area's."))
    if not Post.objects.filter(user=user, role__in=TRAINED_ROLES).exists():
        raise ValidationError({"user": _("Only grid workers and community staff are trained here.")})
    if course.date > timezone.localdate():
        raise ValidationError({"course": _("Attendance is recorded once the course has taken place.")})
    return _hours(hours, course)


@transaction.atomic
def record_attendance(*, actor, course: Course, user, hours, passed: bool) -> Attendance:
    """Record (or correct) one person's attendance of a course; only for people the actor administers."""
    hours = check_attendance(actor=actor, course=course, user=user, hours=hours)
    attendance, _created = Attendance.objects.update_or_create(
        course=course, user=user, defaults={"hours": hours, "passed": bool(passed), "recorded_by": actor}
    )
    return attendance


# --- who is due --------------------------------------------------------------------------------------------
@dataclass
class DueWorker:
    user: User
    grid: Area
    last_trained: date | None


@dataclass
class DueCommunity:
    community: Area
    workers: list[DueWorker] = field(default_factory=list)


def due_grid_workers(*, area: Area, today: date | None = None) -> list[DueCommunity]:
    """Grid workers under ``area`` without a passed course in the last interval, per community: one query
    (a grid's community is read with it; a grid outside a community, which the tree does not make, costs one
    more)."""
    today = today or timezone.localdate()
    since = today - timedelta(days=interval_days())
    # Only those without a recent pass are read: at a district's 660 grid workers most are not due, and
    # loading every post with its user and grid was most of the dashboard's staffing panel.
    passed = Attendance.objects.filter(passed=True, course__date__lte=today)
    posts = list(
        Post.objects.filter(role=Role.GRID_WORKER, user__is_active=True, area__path__startswith=area.path)
        .exclude(user_id__in=passed.filter(course__date__gt=since).values("user_id"))
        .annotate(
            last_trained=Subquery(
                passed.filter(user_id=OuterRef("user_id")).order_by("-course__date").values("course__date")[:1]
            )
        )
        .select_related("user", "area", "area__parent")
        .defer("area__boundary", "area__parent__boundary")
        .order_by("area__path", "user__username")
    )
    due: dict[str, DueCommunity] = {}
    communities: dict[str, Area] = {}
    seen = set()
    for post in posts:
        if post.user_id in seen:
            continue
        seen.add(post.user_id)
        path = ancestor_path_at(post.area.path, Tier.COMMUNITY) or post.area.path
        parent = post.area.parent
        if parent is not None and parent.path == path:
            communities[path] = parent
        due.setdefault(path, DueCommunity(community=None)).workers.append(
            DueWorker(post.user, post.area, post.last_trained)
        )
    missing = [path for path in due if path not in communities]
    if missing:
        communities.update((a.path, a) for a in Area.objects.without_boundaries().filter(path__in=missing))
    rows = []
    for path in sorted(due):
        due[path].community = communities.get(path)
        rows.append(due[path])
    return rows
