"""The outbox in the admin: below the superuser no usable rating link and no resident's full address."""

import pytest
from django.core import mail

from accounts.roles import Role
from cases.notifications import NotificationKind
from cases.services import transition_case
from outbox.backends import sms
from outbox.models import Notification, NotificationStatus

PHONE, EMAIL = "13912345678", "resident@example.com"
LIST = "/admin/outbox/notification/"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SMS_BACKEND = "outbox.backends.sms.MemoryBackend"
    sms.outbox.clear()
    mail.outbox.clear()


@pytest.fixture
def invitations(make_case, people):
    """A handled case fed back: rating links to the resident by email and SMS, not yet sent."""
    case = make_case("handled", contact_phone=PHONE, contact_email=EMAIL, contact_name="张三")
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="feed_back", comment="核查属实")
    rows = list(Notification.objects.filter(kind=NotificationKind.RATING_INVITATION).order_by("channel"))
    assert [r.channel for r in rows] == ["email", "sms"]
    assert all(r.status == NotificationStatus.PENDING and r.context["link_token"] for r in rows)
    return rows


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.mark.django_db
class TestOutboxMasking:
    def test_officials_see_no_link_and_no_full_address(self, client, people, invitations):
        client.force_login(people[Role.DISTRICT_STAFF])  # the outbox keepers: they see every row
        token = invitations[0].context["link_token"]
        listing = page(client, LIST)
        assert "139****5678" in listing and "r***@example.com" in listing
        views = [page(client, f"{LIST}{row.pk}/change/") for row in invitations]
        for text in [listing, *views]:
            assert PHONE not in text and EMAIL not in text
            assert token not in text and invitations[1].context["link_token"] not in text
        assert "/rate/" not in "".join(views)
        # The content is the message's subject line as its recipient reads it, not the stored ids and keys.
        assert "link_token" not in views[0] and '"case"' not in views[0]

    def test_a_failed_rows_error_does_not_repeat_the_address(self, client, people, invitations):
        row = invitations[0]
        Notification.objects.filter(pk=row.pk).update(
            status=NotificationStatus.FAILED, last_error=f"SMTPRecipientsRefused: {{'{EMAIL}': (550, 'no')}}"
        )
        client.force_login(people[Role.DISTRICT_STAFF])
        text = page(client, LIST) + page(client, f"{LIST}{row.pk}/change/")
        assert EMAIL not in text and "SMTPRecipientsRefused" in text

    def test_search_by_address_is_for_superusers_only(self, client, people, invitations):
        client.force_login(people[Role.DISTRICT_STAFF])
        response = client.get(LIST, {"q": PHONE})
        # The term is ignored: no address search to read a masked number back prefix by prefix.
        assert response.context["cl"].result_count == Notification.objects.count()
        assert Notification.objects.exclude(channel="inapp").count() == 2
        assert client.get(LIST, {"to_address__startswith": "1391"}).status_code == 400
        client.force_login(people["superuser"])
        response = client.get(LIST, {"q": PHONE})
        assert [n.pk for n in response.context["cl"].result_list] == [invitations[1].pk]

    def test_superuser_sees_the_row_as_it_is(self, client, people, invitations):
        client.force_login(people["superuser"])
        assert PHONE in page(client, LIST)
        assert invitations[0].context["link_token"] in page(client, f"{LIST}{invitations[0].pk}/change/")

    def test_own_rows_are_masked_too(self, client, people, invitations):
        worker = people[Role.GRID_WORKER]
        Notification.objects.create(kind=NotificationKind.CASE_ASSIGNED, recipient=worker, to_address="me@example.cn")
        client.force_login(worker)
        listing = page(client, LIST)
        assert "m***@example.cn" in listing and "me@example.cn" not in listing
        assert PHONE not in listing  # not their row at all

    def test_a_row_is_never_edited_but_failed_ones_can_be_resent(self, client, people, invitations):
        row = invitations[0]
        Notification.objects.filter(pk=row.pk).update(status=NotificationStatus.FAILED)
        client.force_login(people[Role.DISTRICT_STAFF])
        assert client.post(f"{LIST}{row.pk}/change/", {"dedupe_key": "x"}).status_code == 403
        response = client.post(LIST, {"action": "resend", "_selected_action": [row.pk]})
        assert response.status_code == 302
        row.refresh_from_db()
        assert row.status == NotificationStatus.PENDING and row.dedupe_key is None

    def test_the_row_title_carries_no_address(self, invitations):
        assert PHONE not in str(invitations[1]) and EMAIL not in str(invitations[0])

    def test_kinds_read_as_the_labels_cases_registered_never_as_codes(self, client, people, invitations):
        client.force_login(people[Role.DISTRICT_STAFF])
        listing = page(client, LIST)
        detail = page(client, f"{LIST}{invitations[0].pk}/change/")
        assert "评价邀请" in listing and "评价邀请" in detail  # column, filter and the row's own page
        assert ">rating_invitation<" not in listing and "rating_invitation" not in detail
        filtered = client.get(LIST, {"kind__exact": NotificationKind.RATING_INVITATION})
        assert filtered.context["cl"].result_count == 2
