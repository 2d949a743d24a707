"""Writes to users and posts. Each checks the acting user's scope itself, so
the admin, the API and commands cannot give a post outside the actor's subtree."""

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Post, User
from .roles import Role


def sync_role_groups(*, user: User) -> None:
    """Make the user's groups and staff flag follow their posts."""
    roles = set(user.posts.values_list("role", flat=True))
    groups = Group.objects.filter(name__in=roles)
    keep = list(user.groups.exclude(name__in=Role.values)) + list(groups)
    user.groups.set(keep)
    should_be_staff = bool(roles) or user.is_superuser
    if user.is_staff != should_be_staff:
        user.is_staff = should_be_staff
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_grid_scope", None)


def _check_may_give(actor, post: Post) -> None:
    if actor is None:
        return
    if not actor.scope.may_give_post(area=post.area, department=post.department):
        raise PermissionDenied(_("You can only give posts within the part of the organisation you manage."))


@transaction.atomic
def save_post(*, actor: User | None, post: Post) -> Post:
    """Create or change a post. ``actor`` None is the system (seed, commands)."""
    _check_may_give(actor, post)
    if post.pk:
        # Moving a post is taking it away from where it was: that must be in scope too.
        _check_may_give(actor, Post.objects.select_related("area", "department__area").get(pk=post.pk))
    post.full_clean()
    post.save()
    sync_role_groups(user=post.user)
    return post


@transaction.atomic
def delete_post(*, actor: User | None, post: Post) -> None:
    _check_may_give(actor, post)
    user = post.user
    post.delete()
    sync_role_groups(user=user)
