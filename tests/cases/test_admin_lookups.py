"""Changelist lookups come only from an allow-list: a masked contact cannot be read back a digit at a time."""

import pytest
from django.contrib import admin
from django.db import models

from accounts.admin_site import PlatformAdminSite
from accounts.roles import Role
from cases.selectors import contact_for
from gov_platform.admin_lookups import LookupAllowListMixin
from gov_platform.admin_singleton import SingletonAdminMixin
from outbox.models import Notification

LIST = "/admin/cases/case/"
PHONE = "13912345678"


@pytest.fixture
def contact_case(make_case, people):
    """A case in grid A with a resident's contact, reported by community A on the resident's call."""
    return make_case(
        "assigned",
        reporter=people[Role.COMMUNITY_STAFF],
        contact_name="张三丰",
        contact_phone=PHONE,
        contact_email="zhangsan@example.com",
    )


def changelist_url(model_admin):
    opts = model_admin.model._meta
    return f"/admin/{opts.app_label}/{opts.model_name}/"


@pytest.mark.django_db
class TestContactLookups:
    @pytest.mark.parametrize("who", [Role.GRID_WORKER, Role.STREET_STAFF, Role.DISTRICT_STAFF])
    def test_contact_phone_prefix_lookup_refused(self, client, people, contact_case, who):
        """The issue's attack: ?contact_phone__startswith=13912345 listed the case, …13912340 did not."""
        user = people[who]
        client.force_login(user)
        assert client.get(LIST + "?view=all").context["cl"].result_count == 1  # the case is in the list
        if who == Role.GRID_WORKER:
            assert contact_for(user, contact_case)["masked"]  # …with its contact masked
        right = client.get(LIST + "?view=all&contact_phone__startswith=13912345")
        wrong = client.get(LIST + "?view=all&contact_phone__startswith=13912340")
        assert right.status_code == wrong.status_code == 400
        assert PHONE[:8].encode() not in right.content and contact_case.number.encode() not in right.content

    @pytest.mark.parametrize(
        "lookup",
        [
            "contact_name__startswith=张",
            "contact_email__istartswith=z",
            "contact_phone=13912345678",
            "contact_phone__regex=^139",
            "rated_by_phone__startswith=1",
            "reporter__mobile__startswith=1",
            "duplicate_of__contact_phone__startswith=139",
            "title__startswith=楼",  # not listed either: only filters and named lookups pass
        ],
    )
    def test_other_unlisted_lookups_refused(self, client, people, contact_case, lookup):
        client.force_login(people[Role.GRID_WORKER])
        assert client.get(f"{LIST}?view=all&{lookup}").status_code == 400

    def test_contact_lookup_through_a_relation_refused(self, client, people, contact_case):
        client.force_login(people[Role.STREET_STAFF])
        response = client.get("/admin/cases/escalation/?case__contact_phone__startswith=139")
        assert response.status_code == 400

    def test_outbox_address_lookup_refused(self, client, people, contact_case):
        Notification.objects.create(kind="rating_invitation", channel="sms", to_address=PHONE)
        client.force_login(people[Role.DISTRICT_STAFF])
        assert client.get("/admin/outbox/notification/").status_code == 200
        assert client.get("/admin/outbox/notification/?to_address__startswith=139").status_code == 400
        # and the search box does not search addresses below the superuser
        unfiltered = client.get("/admin/outbox/notification/").context["cl"].result_count
        response = client.get("/admin/outbox/notification/?q=13912345678")
        # The phone is ignored: the list is what it is without a search, not the row with that address.
        assert response.status_code == 200 and response.context["cl"].result_count == unfiltered > 1
        assert response.context["cl"].search_fields == []

    def test_filters_still_work(self, client, people, contact_case, categories):
        client.force_login(people[Role.GRID_WORKER])
        for query in (
            "?view=all&status__exact=assigned",
            f"?view=all&category__id__exact={categories['dispute'].pk}",
            "?view=all&source__exact=grid_patrol",
            "?view=all&reported_at__gte=2000-01-01&reported_at__lt=2100-01-01",
            "?view=all&overdue=no",
        ):
            response = client.get(LIST + query)
            assert response.status_code == 200, query
            assert response.context["cl"].result_count == 1, query


def _registered():
    # Settings kept in one row have no list: their changelist opens the row.
    lists = {m: a for m, a in admin.site._registry.items() if not isinstance(a, SingletonAdminMixin)}
    return sorted(lists.items(), key=lambda item: item[0]._meta.label)


def _unlisted_field(model_admin):
    """A concrete, non-relational field that no list filter or date hierarchy of the admin covers."""
    covered = {model_admin.date_hierarchy}
    for item in model_admin.list_filter:
        if isinstance(item, list | tuple):
            covered.add(item[0])
        elif isinstance(item, str):
            covered.add(item.split("__")[0])
    for field in model_admin.model._meta.concrete_fields:
        if not field.is_relation and field.name not in covered:
            return field
    raise AssertionError(f"{model_admin} has no unlisted field")


@pytest.mark.django_db
class TestEveryAdmin:
    @pytest.mark.parametrize("model", [m for m, _ in _registered()], ids=lambda m: m._meta.label)
    def test_every_registered_admin_refuses_an_unlisted_lookup(self, client, people, model):
        model_admin = admin.site._registry[model]
        assert isinstance(model_admin, LookupAllowListMixin)
        field = _unlisted_field(model_admin)
        client.force_login(people["superuser"])
        url = changelist_url(model_admin)
        assert client.get(url, follow=True).status_code == 200
        lookup = f"{field.name}__startswith" if isinstance(field, models.CharField) else f"{field.name}__gt"
        assert client.get(f"{url}?{lookup}=1").status_code == 400, lookup
        assert client.get(f"{url}?{field.name}=1").status_code == 400, field.name

    @pytest.mark.parametrize("model", [m for m, _ in _registered()], ids=lambda m: m._meta.label)
    def test_every_filter_link_is_allowed(self, client, people, contact_case, model):
        """Each link the list filters draw passes the allow-list (it is derived from the same filters)."""
        model_admin = admin.site._registry[model]
        client.force_login(people["superuser"])
        url = changelist_url(model_admin)
        changelist = client.get(url, follow=True).context["cl"]
        links = {choice["query_string"] for spec in changelist.filter_specs for choice in spec.choices(changelist)} - {
            "?"
        }
        if model_admin.date_hierarchy:
            links.add(f"?{model_admin.date_hierarchy}__year=2026&{model_admin.date_hierarchy}__month=3")
        for link in links:
            assert client.get(url + link).status_code == 200, link

    def test_an_admin_registered_later_gets_the_rule_too(self):
        assert isinstance(admin.site, PlatformAdminSite)  # the site every admin module registers on
        site = PlatformAdminSite(name="probe")

        class PlainAdmin(admin.ModelAdmin):
            list_filter = ["status"]

        site.register(Notification, PlainAdmin)
        registered = site._registry[Notification]
        assert isinstance(registered, LookupAllowListMixin) and isinstance(registered, PlainAdmin)
        assert registered.lookup_allowed("status__exact", "sent", None)
        assert not registered.lookup_allowed("attempts__gt", "1", None)
