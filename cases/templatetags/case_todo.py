"""The user's to-do counts for the admin header and dashboard (cases.selectors.todo_counts)."""

from django import template

from .. import todo_badges

register = template.Library()


@register.simple_tag(takes_context=True)
def todo_counts(context):
    """Once per request: the header and the dashboard on the same page share the queries."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("cases.view_case"):
        return []
    cached = getattr(request, "_todo_counts", None)
    if cached is None:
        cached = request._todo_counts = todo_badges.counts_for_page(request)
    return cached
