"""Reads of people by where they work: who to tell about a case."""

from django.db.models import Q

from .models import Post
from .roles import Role


def posts_at(*, area_ids=(), department_ids=()):
    """Working posts (not street leaders) at these areas or departments, with their active users, in one query."""
    if not area_ids and not department_ids:
        return []
    return list(
        Post.objects.filter(Q(area_id__in=list(area_ids)) | Q(department_id__in=list(department_ids)))
        .filter(user__is_active=True)
        .exclude(role=Role.STREET_LEADER)
        .values(
            "user_id", "area_id", "department_id", "is_supervisor", "user__email", "user__real_name", "user__username"
        )
    )
