"""``{% quick_result_list cl %}``: Django's ``{% result_list cl %}`` with the rows of gov_platform.admin_rows."""

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from gov_platform.admin_rows import quick_result_list

register = template.Library()


@register.tag(name="quick_result_list")
def quick_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=quick_result_list, template_name="change_list_results.html", takes_context=False
    )
