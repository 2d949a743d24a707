"""The in-app inbox pages in the back office: a user's own in-app rows, the bell count, mark read."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from . import registry, selectors, services

PER_PAGE = 30


def _link(row) -> str:
    try:
        kind = registry.kind(row.kind)
    except KeyError:
        return ""
    return kind.link(row.context) if kind.link else ""


def inbox(request, admin_site):
    rows = selectors.inbox_for(request.user)
    unread_only = request.GET.get("unread") == "1"
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("p"))
    for row in page.object_list:
        row.link = _link(row)
        row.kind_label = row.get_kind_display()
    context = {
        **admin_site.each_context(request),
        "title": gettext("Inbox"),
        "page": page,
        "unread_only": unread_only,
        "unread": selectors.unread_count(request.user),
    }
    return TemplateResponse(request, "admin/outbox/inbox.html", context)


@require_POST
def mark_read(request, admin_site):
    """Mark one of one's own rows (``id``) or all of them read; another person's id is a 404."""
    if request.POST.get("all") == "1":
        n = services.mark_read(actor=request.user)
        messages.success(request, gettext("%(n)d notices marked read.") % {"n": n})
        return redirect(reverse("admin:outbox_inbox", current_app=admin_site.name))
    row = selectors.inbox_for(request.user).filter(pk=request.POST.get("id") or 0).first()
    if row is None:
        raise Http404
    services.mark_read(actor=request.user, ids=[row.pk])
    target = _link(row) if request.POST.get("open") == "1" else ""
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("admin:outbox_inbox", current_app=admin_site.name)
    return redirect(target)
