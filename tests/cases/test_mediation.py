"""Mediation (调解) of dispute cases: the record, the outcome step, handling waits for it, the parties masked
to all but the mediators and the dispatcher (admin, API, export, email), the follow-up reminder sent once."""

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.roles import Role
from cases import mediation, selectors
from cases.models import Case, Mediation, MediationSession, Status
from cases.services import transition_case
from outbox.delivery import deliver_pending
from outbox.models import Notification
from tests.api_support import isolate_throttling, token_client

NAME_1, PHONE_1, NAME_2, PHONE_2 = "张建国", "13912345678", "李秀兰", "13887654321"
PARTIES = [(NAME_1, PHONE_1), (NAME_2, PHONE_2)]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def dispute(categories):
    category = categories["dispute"]
    category.requires_mediation = True
    category.save()
    return category


@pytest.fixture
def police(make_user, tree):
    """A police officer of the district's public security bureau: the mediator of a 警民联调."""
    officer = make_user(Role.DEPARTMENT_STAFF, department=tree.dept_district, username="police")
    officer.email = "police@example.gov.cn"
    officer.save()
    return officer


@pytest.fixture
def case(make_case, dispute):
    """Assessed and assigned by community A to itself: community A's staff is the dispatcher."""
    return make_case("assigned", category=dispute)


def fresh(case):
    return Case.objects.get(pk=case.pk)


def opened(case, people, police, **kwargs):
    return mediation.open_mediation(
        actor=people[Role.COMMUNITY_STAFF],
        case=fresh(case),
        kind=kwargs.get("kind", "police"),
        mediators=[police],
        parties=PARTIES,
    )


def with_session(record, people):
    return mediation.add_session(
        actor=people[Role.COMMUNITY_STAFF],
        mediation=record,
        date=timezone.localdate(),
        place="甲一社区调解室",
        agreed="楼上住户维修防水，赔偿楼下粉刷费用",
    )


def handle(case, people, photo):
    return transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=fresh(case), name="handle", result="已调解", photos=[photo()]
    )


# --- handling waits for the outcome ------------------------------------------------------------------------
@pytest.mark.django_db
def test_handle_refused_without_a_record_and_without_an_outcome(case, people, police, photo):
    with pytest.raises(ValidationError) as exc:
        handle(case, people, photo)
    assert "mediation" in exc.value.message_dict and fresh(case).status == Status.ASSIGNED
    no_record = exc.value.message_dict["mediation"]
    record = opened(case, people, police)
    with pytest.raises(ValidationError) as exc:
        handle(case, people, photo)
    # Now it says the outcome is missing, not the record.
    assert exc.value.message_dict["mediation"] != no_record
    # The outcome needs a session first, then a valid outcome.
    with pytest.raises(ValidationError) as exc:
        transition_case(actor=police, case=fresh(case), name="record_mediation", comment="达成协议", outcome="resolved")
    assert "mediation" in exc.value.message_dict
    with_session(record, people)
    with pytest.raises(ValidationError) as exc:
        transition_case(actor=police, case=fresh(case), name="record_mediation", comment="x", outcome="won")
    assert "outcome" in exc.value.message_dict
    # A mediator outside the handling unit records it (the police officer of 警民联调).
    assert selectors.waiting_for(police).filter(pk=case.pk).exists()
    transition_case(actor=police, case=fresh(case), name="record_mediation", comment="达成协议", outcome="resolved")
    record.refresh_from_db()
    assert (record.outcome, record.outcome_by, record.outcome_note) == ("resolved", police, "达成协议")
    assert record.follow_up_due == timezone.localdate() + timedelta(days=30)
    assert not selectors.waiting_for(police).filter(pk=case.pk).exists()
    handle(case, people, photo)
    assert fresh(case).status == Status.HANDLED


@pytest.mark.django_db
def test_outcome_step_refused_to_people_outside_the_case(case, people, police, make_user, tree):
    with_session(opened(case, people, police), people)
    other_community = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    for outsider in (other_community, people[Role.GRID_WORKER], people[Role.STREET_LEADER]):
        with pytest.raises(PermissionDenied):
            transition_case(actor=outsider, case=fresh(case), name="record_mediation", comment="x", outcome="resolved")
    assert Mediation.objects.get(case=case).outcome == ""


@pytest.mark.django_db
def test_non_dispute_categories_are_handled_without_mediation(make_case, categories, people, photo):
    other = make_case("assigned", category=categories["hazard"])
    transition_case(actor=people["superuser"], case=other, name="handle", result="已处置", photos=[photo()])
    assert fresh(other).status == Status.HANDLED


@pytest.mark.django_db
def test_opening_checks_scope_parties_and_mediators(case, people, police, make_user, tree):
    with pytest.raises(PermissionDenied):  # a community that neither dispatched nor handles the case
        mediation.open_mediation(
            actor=make_user(Role.COMMUNITY_STAFF, area=tree.community_b),
            case=case,
            kind="community",
            mediators=[police],
            parties=PARTIES,
        )
    staff = people[Role.COMMUNITY_STAFF]
    with pytest.raises(ValidationError) as exc:
        mediation.open_mediation(actor=staff, case=case, kind="community", mediators=[police], parties=PARTIES[:1])
    assert "parties" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        mediation.open_mediation(
            actor=staff, case=case, kind="community", mediators=[police], parties=[(NAME_1, "abc"), (NAME_2, "")]
        )
    assert "parties" in exc.value.message_dict
    far = make_user(Role.GRID_WORKER, area=tree.grid_b)
    with pytest.raises(ValidationError) as exc:
        mediation.open_mediation(actor=staff, case=case, kind="community", mediators=[far], parties=PARTIES)
    assert "mediators" in exc.value.message_dict
    assert not Mediation.objects.exists()
    opened(case, people, police)
    with pytest.raises(ValidationError):  # one record per case, also on a replay
        opened(case, people, police)


# --- the agreement file ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_agreement_type_and_size_are_checked(case, people, police, settings):
    with_session(opened(case, people, police), people)
    staff = people[Role.COMMUNITY_STAFF]
    bad = SimpleUploadedFile("agreement.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    with pytest.raises(ValidationError) as exc:
        transition_case(
            actor=staff, case=fresh(case), name="record_mediation", comment="x", outcome="resolved", agreement=bad
        )
    assert "agreement" in exc.value.message_dict
    settings.CASE_PHOTO_MAX_BYTES = 10
    big = SimpleUploadedFile("agreement.pdf", PDF, content_type="application/pdf")
    with pytest.raises(ValidationError) as exc:
        transition_case(
            actor=staff, case=fresh(case), name="record_mediation", comment="x", outcome="resolved", agreement=big
        )
    assert "agreement" in exc.value.message_dict and Mediation.objects.get(case=case).outcome == ""
    settings.CASE_PHOTO_MAX_BYTES = 8 * 1024 * 1024
    good = SimpleUploadedFile("协议.pdf", PDF, content_type="application/pdf")
    transition_case(
        actor=staff, case=fresh(case), name="record_mediation", comment="达成协议", outcome="resolved", agreement=good
    )
    record = Mediation.objects.get(case=case)
    assert record.agreement.name.endswith(".pdf") and "协议" not in record.agreement.name


# --- masking: admin, API, export, email -----------------------------------------------------------------------
def viewers(people, police, make_user, tree):
    """Everyone who sees the case, and whether they may read the parties in full."""
    return {
        "mediator": (police, True),
        "dispatcher": (people[Role.COMMUNITY_STAFF], True),
        "superuser": (people["superuser"], True),
        "district": (people[Role.DISTRICT_STAFF], False),
        "street": (people[Role.STREET_STAFF], False),
        "grid_worker": (people[Role.GRID_WORKER], False),
    }


@pytest.mark.django_db
def test_api_case_detail_masks_the_parties_for_all_but_mediators_and_dispatcher(case, people, police, make_user, tree):
    with_session(opened(case, people, police), people)
    for label, (user, plain) in viewers(people, police, make_user, tree).items():
        response = token_client(user).get(f"/api/v1/cases/{case.pk}/")
        assert response.status_code == 200, label
        body = response.content.decode()
        data = response.json()["mediation"]
        assert data["parties_masked"] is (not plain), label
        assert len(data["sessions"]) == 1 and data["outcome"] == ""
        if plain:
            assert NAME_1 in body and PHONE_1 in body, label
        else:
            assert NAME_1 not in body and PHONE_1 not in body and PHONE_2 not in body, label
            assert data["parties"][0] == {"name": "张**", "phone": "139****5678"}


@pytest.mark.django_db
def test_admin_pages_mask_the_parties(case, people, police, make_user, tree, client, role_groups):
    record = opened(case, people, police)
    with_session(record, people)
    pages = [
        reverse("admin:cases_case_change", args=[case.pk]),
        reverse("admin:cases_mediation_change", args=[record.pk]),
        reverse("admin:cases_case_history", args=[case.pk]),
    ]
    for label, (user, plain) in viewers(people, police, make_user, tree).items():
        client.force_login(user)
        shown = 0
        for page in pages:
            response = client.get(page)
            if response.status_code != 200:
                continue
            shown += 1
            body = response.content.decode()
            if plain:
                assert NAME_1 in body or page.endswith("/history/"), (label, page)
            else:
                assert NAME_1 not in body and PHONE_1 not in body and NAME_2 not in body, (label, page)
        assert shown >= 2, label
    # The mediation list's lookups cannot reach around the mask.
    client.force_login(people[Role.STREET_STAFF])
    listing = reverse("admin:cases_mediation_changelist")
    assert client.get(listing + f"?parties__name__startswith={NAME_1[0]}").status_code == 400
    assert client.get(listing + f"?parties__phone={PHONE_1}").status_code == 400


@pytest.mark.django_db
def test_export_masks_row_by_row(case, people, police, make_user, tree, client, role_groups):
    record = opened(case, people, police)
    listing = reverse("admin:cases_mediation_changelist")
    for user, plain in ((people[Role.STREET_STAFF], False), (people[Role.COMMUNITY_STAFF], True)):
        client.force_login(user)
        response = client.post(listing, {"action": "export_xlsx", "_selected_action": [record.pk]})
        assert response.status_code == 200
        cells = [
            c for row in load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True) for c in row
        ]
        text = " ".join(str(c) for c in cells if c)
        assert (NAME_1 in text and PHONE_1 in text) is plain
        if not plain:
            assert "张**" in text and "139****5678" in text


@pytest.mark.django_db
def test_follow_up_reminder_sent_once_and_masked(case, people, police):
    with_session(opened(case, people, police), people)
    transition_case(actor=police, case=fresh(case), name="record_mediation", comment="达成协议", outcome="partly")
    record = Mediation.objects.get(case=case)
    assert mediation.remind_follow_ups() == 0  # not due yet
    later = timezone.now() + timedelta(days=30, hours=1)
    assert [mediation.remind_follow_ups(now=later) for _ in range(3)] == [1, 0, 0]
    record.refresh_from_db()
    assert record.follow_up_reminded_at == later
    rows = Notification.objects.filter(kind="mediation_follow_up", channel="email")
    assert rows.count() == 1 and rows.get().recipient == police
    mail.outbox.clear()
    deliver_pending()
    sent = [m for m in mail.outbox if police.email in m.to]
    assert len(sent) == 1 and fresh(case).number in sent[0].subject
    body = sent[0].body + str(sent[0].alternatives)
    assert NAME_1 not in body and PHONE_1 not in body and "张**" in body and "139****5678" in body
    # The reminder is in the case's timeline; no party is named there.
    entries = selectors.case_timeline(fresh(case), people[Role.GRID_WORKER])
    names = [e.name for e in entries]
    assert "mediation_session" in names and "mediation_follow_up_reminder" in names
    assert NAME_1 not in str([(e.label, e.details, e.comment) for e in entries])


@pytest.mark.django_db
def test_another_communitys_record_is_refused(case, people, police, make_user, tree, client, role_groups):
    record = opened(case, people, police)
    other = make_user(Role.COMMUNITY_STAFF, area=tree.community_b)
    client.force_login(other)
    assert client.get(reverse("admin:cases_mediation_change", args=[record.pk])).status_code == 403
    assert client.post(reverse("admin:cases_mediation_change", args=[record.pk]), {}).status_code == 403
    # A grid worker of the case reads the record but cannot change it, nor fetch the agreement.
    client.force_login(people[Role.GRID_WORKER])
    page = client.get(reverse("admin:cases_mediation_change", args=[record.pk]))
    assert page.status_code == 200 and NAME_1 not in page.content.decode()
    MediationSession.objects.create(mediation=record, date=timezone.localdate(), place="x")
    record.agreement.save("a.pdf", io.BytesIO(PDF))
    assert client.get(reverse("admin:cases_mediation_agreement", args=[record.pk])).status_code == 403
    client.force_login(police)
    assert client.get(reverse("admin:cases_mediation_agreement", args=[record.pk])).status_code == 200


@pytest.mark.django_db
def test_api_handle_is_400_naming_the_mediation(case, people, police, photo):
    client = token_client(people[Role.COMMUNITY_STAFF])
    response = client.post(
        f"/api/v1/cases/{case.pk}/transitions/handle/", {"result": "已调解", "photos": [photo()]}, format="multipart"
    )
    assert response.status_code == 400 and "mediation" in response.json()
    assert fresh(case).status == Status.ASSIGNED


def _formsets(parties=(), sessions=(), initial_parties=0, initial_sessions=0):
    data = {
        "parties-TOTAL_FORMS": str(len(parties)),
        "parties-INITIAL_FORMS": str(initial_parties),
        "sessions-TOTAL_FORMS": str(len(sessions)),
        "sessions-INITIAL_FORMS": str(initial_sessions),
    }
    for i, party in enumerate(parties):
        data.update({f"parties-{i}-{k}": v for k, v in party.items()})
    for i, session in enumerate(sessions):
        data.update({f"sessions-{i}-{k}": v for k, v in session.items()})
    return data


@pytest.mark.django_db
def test_admin_opens_a_record_and_keeps_it(case, people, police, client, role_groups):
    staff = people[Role.COMMUNITY_STAFF]
    client.force_login(staff)
    add = reverse("admin:cases_mediation_add")
    page = client.get(add + f"?case={case.pk}")
    assert page.status_code == 200 and police.get_full_name() in page.content.decode()
    today = timezone.localdate().isoformat()
    data = {
        "case": case.pk,
        "kind": "police",
        "mediators": [staff.pk, police.pk],
        **_formsets(
            parties=[{"name": NAME_1, "phone": PHONE_1}, {"name": NAME_2, "phone": PHONE_2}],
            sessions=[{"date": today, "place": "调解室", "agreed": "约定维修"}],
        ),
    }
    response = client.post(add, data)
    assert response.status_code == 302 and response["Location"].endswith(f"/cases/case/{case.pk}/change/")
    record = Mediation.objects.get(case=case)
    assert record.opened_by == staff and set(record.mediators.all()) == {staff, police}
    assert [p.name for p in record.parties.all()] == [NAME_1, NAME_2] and record.sessions.get().recorded_by == staff
    # A second record for the same case (a replay of the page) is refused, nothing added.
    client.post(add, data)
    assert Mediation.objects.filter(case=case).count() == 1 and record.parties.count() == 2
    # The follow-up visit waits for the outcome, then is recorded on the record's page.
    transition_case(actor=staff, case=fresh(case), name="record_mediation", comment="达成", outcome="resolved")
    change = reverse("admin:cases_mediation_change", args=[record.pk])
    parties = [{"id": p.pk, "name": p.name, "phone": p.phone, "mediation": record.pk} for p in record.parties.all()]
    session = record.sessions.get()
    sessions = [
        {"id": session.pk, "date": today, "place": session.place, "agreed": session.agreed, "mediation": record.pk}
    ]
    response = client.post(
        change,
        {
            "kind": "police",
            "mediators": [staff.pk, police.pk],
            "followed_up_at": today,
            "follow_up_note": "双方履行良好",
            **_formsets(parties=parties, sessions=sessions, initial_parties=2, initial_sessions=1),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    record.refresh_from_db()
    assert (record.followed_up_at.isoformat(), record.follow_up_note) == (today, "双方履行良好")


@pytest.mark.django_db
def test_api_records_the_outcome_with_the_agreement(case, people, police):
    with_session(opened(case, people, police), people)
    client = token_client(police)
    assert "record_mediation" in [t["name"] for t in client.get(f"/api/v1/cases/{case.pk}/transitions/").json()]
    bad = client.post(
        f"/api/v1/cases/{case.pk}/transitions/record_mediation/",
        {
            "comment": "达成协议",
            "outcome": "resolved",
            "agreement": [SimpleUploadedFile("a.pdf", b"=cmd|' /C calc'!A0")],
        },
        format="multipart",
    )
    assert bad.status_code == 400 and "agreement" in bad.json()
    response = client.post(
        f"/api/v1/cases/{case.pk}/transitions/record_mediation/",
        {"comment": "达成协议", "outcome": "resolved", "agreement": [SimpleUploadedFile("a.pdf", PDF)]},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    detail = client.get(f"/api/v1/cases/{case.pk}/").json()["mediation"]
    assert detail["outcome"] == "resolved" and detail["has_agreement"] and not detail["parties_masked"]


@pytest.mark.django_db
def test_admin_page_names_what_is_wrong(case, people, police, make_user, tree, client, role_groups):
    client.force_login(people[Role.COMMUNITY_STAFF])
    add = reverse("admin:cases_mediation_add")
    far = make_user(Role.GRID_WORKER, area=tree.grid_b)
    response = client.post(
        add,
        {
            "case": case.pk,
            "kind": "community",
            "mediators": [police.pk],
            **_formsets(parties=[{"name": NAME_1, "phone": PHONE_1}]),
        },
    )
    assert response.status_code == 200 and not Mediation.objects.exists()
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    response = client.post(
        add,
        {
            "case": case.pk,
            "kind": "community",
            "mediators": [far.pk],
            **_formsets(parties=[{"name": NAME_1, "phone": PHONE_1}, {"name": NAME_2, "phone": "abc"}]),
        },
    )
    assert response.status_code == 200 and not Mediation.objects.exists()
    assert "mediators" in response.context["adminform"].form.errors
