"""``{% nav_sidebar %}``: the admin's navigation sidebar, kept per official and page (gov_platform/admin_nav.py)."""

from django import template

from gov_platform.admin_nav import render_sidebar

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_sidebar(context):
    return render_sidebar(context)
