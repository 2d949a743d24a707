"""The hotline both ways: signed webhooks of public state changes out, signed return-visit ratings in."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from cases import external, intake, webhooks
from cases.models import Case, IntakeRefusal, Source
from cases.services import transition_case
from outbox import delivery
from outbox.backends import webhook
from outbox.models import Notification, NotificationChannel, NotificationStatus
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db
HOOK = "https://hotline.example.gov.cn/hooks/platform?token=abc"


@pytest.fixture(autouse=True)
def _memory_webhooks(settings, monkeypatch):
    isolate_throttling(monkeypatch)
    settings.WEBHOOK_BACKEND = "outbox.backends.webhook.MemoryBackend"
    webhook.outbox.clear()
    yield
    webhook.outbox.clear()


@pytest.fixture
def hotline(make_system, categories):
    system, key = make_system("hotline", name="12345 市民热线", categories_=[categories["group"]], webhook_url=HOOK)
    secret = external.rotate_webhook_secret(actor=None, system=system)
    return system, key, secret


def file(system, external_id="12345-0001", **fields):
    return intake.file_event(
        system=system,
        external_id=external_id,
        category="0101",
        description="楼上装修噪音扰民",
        grid=fields.pop("grid", "370702001001001"),
        source=Source.HOTLINE,
        contact_name="李女士",
        contact_phone="13912345678",
        **fields,
    ).case


def walk(case, people, photo, *, until="fed_back", result="已联系 13912345678 李女士，协调施工时间"):
    staff = people[Role.COMMUNITY_STAFF]
    plan = [
        ("assess", {}),
        ("assign", {"area": staff.posts.get().area}),
        ("handle", {"result": result, "photos": [photo()]}),
        ("feed_back", {"comment": "核查属实，内部意见：该户多次投诉"}),
    ]
    for name, params in plan:
        case = transition_case(actor=staff, case=case, name=name, **params)
        if name == until:
            break
    return case


def hooks():
    return list(Notification.objects.filter(channel=NotificationChannel.WEBHOOK).order_by("pk"))


def test_each_public_step_queues_one_signed_webhook_with_public_state_only(hotline, people, photo):
    system, _key, secret = hotline
    case = walk(file(system), people, photo)
    rows = hooks()
    assert [row.context["payload"]["step"] for row in rows] == ["assess", "assign", "handle", "feed_back"]
    assert {row.to_address for row in rows} == {HOOK}
    delivery.deliver_pending()
    assert len(webhook.outbox) == 4
    url, body, headers = webhook.outbox[-1]
    assert url == HOOK
    assert webhook.signature_matches(secret, headers["X-Timestamp"], body, headers["X-Signature"])
    assert headers["X-Webhook-Id"] == str(rows[-1].pk)
    sent = json.loads(body)
    assert sent["external_id"] == "12345-0001" and sent["status"] == "fed_back"
    assert sent["case_number"] == case.number
    assert sent["status_label"] and sent["step_label"]
    text = body.decode()
    # Public state only: no internal comment, no contact, no person.
    for private in ("内部意见", "13912345678", "李女士", people[Role.COMMUNITY_STAFF].username):
        assert private not in text
    # The handling result is public once fed back, with the caller's contact masked in it.
    assert "协调施工时间" in sent["result"] and "*" in sent["result"]


def test_steps_without_a_public_label_and_cases_of_no_system_send_nothing(hotline, people, photo, make_case):
    system, _key, _secret = hotline
    case = walk(file(system), people, photo, until="assign")
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="send_back", comment="不属本单位")
    assert [row.context["payload"]["step"] for row in hooks()] == ["assess", "assign"]
    make_case("fed_back")
    assert len(hooks()) == 2


def test_a_system_without_a_subscription_gets_no_webhooks(make_system, categories, people, photo):
    system, _key = make_system("dept", categories_=[categories["group"]], sources=[Source.HOTLINE])
    walk(file(system), people, photo, until="assess")
    assert hooks() == []


def test_a_failed_delivery_is_retried_with_backoff_and_logged(hotline, people, photo, settings, monkeypatch):
    system, _key, _secret = hotline
    walk(file(system), people, photo, until="assess")

    class Down:
        def post(self, url, body, headers):
            raise webhook.WebhookRefused("HTTP 503")

    monkeypatch.setattr(webhook, "get_backend", lambda: Down())
    now = timezone.now()
    assert delivery.deliver_pending(now=now)["retried"] == 1
    [row] = hooks()
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.PENDING, 1, "WebhookRefused: HTTP 503")
    assert row.next_attempt_at == now + timedelta(minutes=2)
    monkeypatch.undo()
    settings.WEBHOOK_BACKEND = "outbox.backends.webhook.MemoryBackend"
    assert delivery.deliver_pending(now=now + timedelta(minutes=3))["sent"] == 1
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT and row.attempts == 2


def test_the_delivery_log_is_in_the_outbox_admin_with_the_host_only(hotline, people, photo, client, role_groups):
    system, _key, _secret = hotline
    walk(file(system), people, photo, until="assess")
    delivery.deliver_pending()
    client.force_login(people[Role.DISTRICT_STAFF])
    page = client.get("/admin/outbox/notification/?channel__exact=webhook").content.decode()
    assert "hotline.example.gov.cn" in page
    assert "token=abc" not in page


# --- callbacks in -------------------------------------------------------------------------------


def signed(secret, body: dict, *, at=None, signature=None):
    raw = json.dumps(body).encode()
    timestamp = str(int(at if at is not None else time.time()))
    return raw, {
        "HTTP_X_TIMESTAMP": timestamp,
        "HTTP_X_SIGNATURE": signature or webhook.sign(secret, timestamp, raw),
    }


def rate(key, raw, headers, external_id="12345-0001"):
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=f"System {key}")
    return client.post(f"/api/v1/intake/{external_id}/rating/", raw, content_type="application/json", **headers)


def test_the_hotlines_return_visit_rates_the_case_through_the_rate_step(hotline, people, photo):
    system, key, secret = hotline
    walk(file(system), people, photo)
    raw, headers = signed(secret, {"rating": "satisfied", "comment": "来电人表示满意"})
    response = rate(key, raw, headers)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "rated"
    case = Case.objects.get()
    assert (case.status, case.rating, case.rating_comment, case.rated_by_phone) == (
        "rated",
        "satisfied",
        "来电人表示满意",
        True,
    )
    from cases.selectors import case_history

    assert "12345 市民热线" in case_history(case).last().description
    # The rating is itself a public change: it goes back to the hotline too.
    assert hooks()[-1].context["payload"]["rating"] == "satisfied"


def test_a_replayed_callback_is_refused_and_logged(hotline, people, photo):
    system, key, secret = hotline
    walk(file(system), people, photo)
    raw, headers = signed(secret, {"rating": "dissatisfied"})
    assert rate(key, raw, headers).status_code == 200
    replay = rate(key, raw, headers)
    assert replay.status_code == 403 and "replay" in replay.json()["detail"]
    assert Case.objects.get().rework_count == 1  # dissatisfied once: one rework, not two
    assert IntakeRefusal.objects.get().status_code == 403


@pytest.mark.parametrize(
    "tamper, status",
    [
        ("unsigned", 401),
        ("wrong_secret", 401),
        ("changed_body", 401),
        ("stale", 403),
        ("future", 403),
        ("not_a_number", 401),
    ],
)
def test_unsigned_wrongly_signed_or_stale_callbacks_are_refused(hotline, people, photo, tamper, status):
    system, key, secret = hotline
    walk(file(system), people, photo)
    raw, headers = signed(secret, {"rating": "satisfied"})
    if tamper == "unsigned":
        headers = {}
    elif tamper == "wrong_secret":
        raw, headers = signed("not-the-secret", {"rating": "satisfied"})
    elif tamper == "changed_body":
        raw = json.dumps({"rating": "dissatisfied"}).encode()
    elif tamper == "stale":
        raw, headers = signed(secret, {"rating": "satisfied"}, at=time.time() - 3600)
    elif tamper == "future":
        raw, headers = signed(secret, {"rating": "satisfied"}, at=time.time() + 3600)
    elif tamper == "not_a_number":
        headers["HTTP_X_TIMESTAMP"] = "yesterday"
    response = rate(key, raw, headers)
    assert response.status_code == status
    assert response.json()["detail"]
    assert Case.objects.get().status == "fed_back"
    assert IntakeRefusal.objects.get().status_code == status


@pytest.mark.parametrize("offset, refused", [(-301, True), (-300, False), (300, False), (301, True)])
def test_the_clock_window_is_exact_at_its_edges(hotline, settings, offset, refused):
    # Measured against a fixed clock: a live clock moves while the request travels, which made the edges flaky.
    system, _key, secret = hotline
    settings.WEBHOOK_TOLERANCE_SECONDS = 300
    now = timezone.now().replace(microsecond=0)
    timestamp = str(int(now.timestamp()) + offset)
    raw = b'{"rating": "satisfied"}'
    verify = lambda: webhooks.verify_callback(  # noqa: E731
        system=system, timestamp=timestamp, signature=webhook.sign(secret, timestamp, raw), body=raw, now=now
    )
    if refused:
        with pytest.raises(webhooks.CallbackRefused) as refusal:
            verify()
        assert refusal.value.status_code == 403
    else:
        verify()


def test_a_system_cannot_rate_another_systems_case(hotline, make_system, categories, people, photo):
    system, _key, _secret = hotline
    walk(file(system), people, photo)
    other, other_key = make_system("other", categories_=[categories["group"]], sources=[Source.HOTLINE])
    other_secret = external.rotate_webhook_secret(actor=None, system=other)
    raw, headers = signed(other_secret, {"rating": "dissatisfied"})
    assert rate(other_key, raw, headers).status_code == 404
    assert Case.objects.get().status == "fed_back"


def test_a_rating_before_the_case_is_fed_back_is_409(hotline, people, photo):
    system, key, secret = hotline
    walk(file(system), people, photo, until="assess")
    raw, headers = signed(secret, {"rating": "satisfied"})
    assert rate(key, raw, headers).status_code == 409
    raw, headers = signed(secret, {"rating": "excellent"})
    assert rate(key, raw, headers).status_code in (400, 409)


def test_old_signatures_are_forgotten_by_beat(hotline, people, photo):
    from cases.models import CallbackSignature
    from cases.tasks import purge_callback_signatures

    system, key, secret = hotline
    walk(file(system), people, photo)
    raw, headers = signed(secret, {"rating": "satisfied"})
    rate(key, raw, headers)
    CallbackSignature.objects.update(at=timezone.now() - timedelta(hours=1))
    assert purge_callback_signatures() == 1


def test_signing_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook.sign("s3cret", "1700000000", body) == "sha256=" + expected
    assert webhooks.KIND == "case_webhook"


def test_the_webhook_body_is_what_the_schema_documents(hotline, people, photo):
    from tests.openapi_contract import Contract, generate_schema

    system, _key, _secret = hotline
    walk(file(system), people, photo)
    delivery.deliver_pending()
    schema = generate_schema()
    documented = schema["x-webhooks"]["caseStateChanged"]["post"]["requestBody"]["content"]["application/json"]
    validator = Contract(schema)._validator(documented["schema"]["$ref"].removeprefix("#"))
    for _url, body, _headers in webhook.outbox:
        assert list(validator.iter_errors(json.loads(body))) == []
