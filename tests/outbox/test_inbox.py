"""The in-app inbox: every user's copy of their messages, the bell, mark read (only one's own)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.roles import Role
from cases.models import Escalation
from cases.notifications import NotificationKind
from cases.services import acknowledge_escalation, create_case, reply_to_supervision
from outbox.models import Notification, NotificationChannel, NotificationStatus
from outbox.selectors import inbox_for

INBOX = "/admin/outbox/notification/inbox/"
READ = "/admin/outbox/notification/inbox/read/"


def inapp(user, kind=None):
    rows = Notification.objects.filter(recipient=user, channel=NotificationChannel.INAPP)
    return rows.filter(kind=kind) if kind else rows


@pytest.fixture
def escalated(make_case, supervisors, people):
    """An assigned case (community A handles it) with a red escalation the street supervisor was told about."""
    case = make_case("assigned")
    escalation = Escalation.objects.create(
        case=case,
        level=2,
        stage="handle",
        deadline=case.current_deadline,
        sweep="t",
        notified=[supervisors["street_a"].pk],
        notified_names="sup",
    )
    return escalation


@pytest.mark.django_db
class TestInAppCopies:
    def test_every_email_to_a_user_has_an_inbox_copy(self, make_case, people, tree):
        from accounts.models import User

        User.objects.filter(pk=people[Role.COMMUNITY_STAFF].pk).update(email="c@example.gov.cn")
        make_case("assigned")
        emails = Notification.objects.filter(channel=NotificationChannel.EMAIL, recipient__isnull=False)
        assert emails.exists()
        for row in emails:
            copy = inapp(row.recipient, row.kind).get(context=row.context)
            assert copy.status == NotificationStatus.SENT and copy.read_at is None and copy.subject

    def test_a_new_report_tells_the_dispatchers_of_its_grid(self, people, tree, categories):
        case = create_case(
            actor=people[Role.GRID_WORKER],
            title="井盖缺失",
            description="缺",
            category=categories["dispute"],
            grid=tree.grid_a,
        )
        told = inapp(people[Role.COMMUNITY_STAFF], NotificationKind.CASE_REPORTED).get()
        assert told.context == {"case": case.pk} and case.number in told.subject
        # Not the reporter, not the other street, not the district.
        assert not Notification.objects.filter(kind=NotificationKind.CASE_REPORTED).exclude(
            recipient=people[Role.COMMUNITY_STAFF]
        )

    def test_supervision_reaches_the_unit_which_replies(self, escalated, supervisors, people):
        staff = people[Role.COMMUNITY_STAFF]
        acknowledge_escalation(actor=supervisors["street_a"], escalation=escalated, instruction="今天必须处理")
        notice = inapp(staff, NotificationKind.SUPERVISION).get()
        assert notice.context["text"] == "今天必须处理"
        reply_to_supervision(actor=staff, escalation=escalated, text="已安排人员，明天完成")
        told = inapp(supervisors["street_a"], NotificationKind.SUPERVISION_REPLY).get()
        assert told.context["text"] == "已安排人员，明天完成"
        from cases.selectors import case_history

        assert [r.transition for r in case_history(escalated.case)][-2:] == ["supervise", "supervision_reply"]

    def test_reply_refused_to_others_and_before_an_instruction(self, escalated, supervisors, people, tree, make_user):
        with pytest.raises(ValidationError):
            reply_to_supervision(actor=people[Role.COMMUNITY_STAFF], escalation=escalated, text="x")
        acknowledge_escalation(actor=supervisors["street_a"], escalation=escalated, instruction="办")
        outsider = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
        for actor in (outsider, people[Role.GRID_WORKER], people[Role.DEPARTMENT_STAFF]):
            with pytest.raises(PermissionDenied):
                reply_to_supervision(actor=actor, escalation=escalated, text="x")
        with pytest.raises(ValidationError):
            reply_to_supervision(actor=people[Role.COMMUNITY_STAFF], escalation=escalated, text="  ")
        assert not Notification.objects.filter(kind=NotificationKind.SUPERVISION_REPLY).exists()

    def test_reply_page(self, escalated, supervisors, people, client, tree, make_user):
        acknowledge_escalation(actor=supervisors["street_a"], escalation=escalated, instruction="办")
        url = f"/admin/cases/escalation/{escalated.pk}/reply/"
        client.force_login(make_user(Role.COMMUNITY_STAFF, area=tree.community_b))
        assert client.post(url, {"text": "x"}).status_code == 404  # not even visible
        client.force_login(people[Role.GRID_WORKER])
        assert client.post(url, {"text": "x"}).status_code == 403
        client.force_login(people[Role.COMMUNITY_STAFF])
        assert client.get(url).status_code == 200
        response = client.post(url, {"text": "马上处理"})
        assert response.status_code == 302
        assert inapp(supervisors["street_a"], NotificationKind.SUPERVISION_REPLY).count() == 1


@pytest.mark.django_db
class TestInboxPages:
    def test_bell_list_and_mark_read(self, make_case, people, client):
        staff = people[Role.COMMUNITY_STAFF]
        make_case("assigned")  # a new report and an assignment: two notices
        client.force_login(staff)
        page = client.get("/admin/").content.decode()
        assert 'id="inbox-bell"' in page and "<b>2</b>" in page
        listing = client.get(INBOX)
        assert listing.status_code == 200 and len(listing.context["page"].object_list) == 2
        row = inbox_for(staff).first()
        response = client.post(READ, {"id": row.pk, "open": "1"})
        assert response.status_code == 302 and response.url == f"/admin/cases/case/{row.context['case']}/change/"
        row.refresh_from_db()
        assert row.read_at is not None
        client.post(READ, {"all": "1"})
        assert not inbox_for(staff).filter(read_at__isnull=True).exists()

    def test_nobody_reads_or_marks_another_persons_notices(self, make_case, people, client):
        make_case("assigned")
        victim_row = inbox_for(people[Role.COMMUNITY_STAFF]).first()
        attacker = people[Role.STREET_STAFF]
        client.force_login(attacker)
        assert client.post(READ, {"id": victim_row.pk}).status_code == 404
        client.post(READ, {"all": "1"})
        victim_row.refresh_from_db()
        assert victim_row.read_at is None
        assert victim_row.pk not in {r.pk for r in client.get(INBOX).context["page"].object_list}

    def test_inbox_shows_no_contacts(self, people, client, tree, categories):
        create_case(
            actor=people[Role.GRID_WORKER],
            title="噪音",
            description="夜间施工",
            category=categories["dispute"],
            grid=tree.grid_a,
            contact_name="张三丰",
            contact_phone="13912345678",
            contact_email="zhang@example.com",
        )
        client.force_login(people[Role.COMMUNITY_STAFF])
        page = client.get(INBOX).content.decode()
        assert "噪音" in page
        assert "13912345678" not in page and "zhang@example.com" not in page and "张三丰" not in page
