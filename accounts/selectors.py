"""Reads of people by where they work: who to tell about a case."""

from django.db.models import Q

from gov_platform.prepared import prepared_values

from .models import Post
from .roles import Role

POST_VALUES = (
    "user_id",
    "area_id",
    "department_id",
    "is_supervisor",
    "user__email",
    "user__real_name",
    "user__username",
)


def _working(posts):
    return posts.filter(user__is_active=True).exclude(role=Role.STREET_LEADER)


def posts_at(*, area_ids=(), department_ids=()):
    """Working posts (not street leaders) at these areas or departments, with their active users, in one query."""
    if not area_ids and not department_ids:
        return []
    return list(
        _working(Post.objects.filter(Q(area_id__in=list(area_ids)) | Q(department_id__in=list(department_ids)))).values(
            *POST_VALUES
        )
    )


def posts_at_paths(*, paths, tiers):
    """``posts_at`` the areas of these paths and tiers (e.g. a grid's community and street), found by path in
    the same query, each with its area's tier (``area__tier``)."""
    return _posts_at_paths(list(paths), list(tiers))


# Every report reads its grid's dispatchers: the statement is built once per process (gov_platform.prepared).
@prepared_values(Post)
def _posts_at_paths(paths, tiers):
    return _working(Post.objects.filter(area__path__in=paths, area__tier__in=tiers)).values(*POST_VALUES, "area__tier")
