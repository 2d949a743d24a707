"""The inbox bell's unread count in the admin header."""

from django import template

from .. import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_count(context):
    """None for a page without a logged-in user (no bell); "" when nothing is unread."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return selectors.unread_count(user)
