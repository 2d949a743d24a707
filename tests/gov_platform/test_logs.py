"""Request ids: from the caller or new, echoed, on every log record of the request, carried into its Celery tasks;
JSON lines on request."""

import json
import logging
from types import SimpleNamespace

from django.http import HttpResponse
from django.test import RequestFactory

from gov_platform import logs


def answered(header=None):
    """The id the middleware gave a request, the one echoed, and the id on a record logged inside it."""
    seen = {}

    def view(request):
        record = logging.makeLogRecord({"msg": "inside"})
        logs.RequestIdFilter().filter(record)
        seen["record"] = record.request_id
        return HttpResponse("ok")

    extra = {"HTTP_X_REQUEST_ID": header} if header is not None else {}
    request = RequestFactory().get("/", **extra)
    response = logs.RequestIdMiddleware(view)(request)
    return request.request_id, response[logs.HEADER], seen["record"]


def test_the_callers_request_id_is_kept_echoed_and_on_every_record():
    assert answered("lb-7f3a.2") == ("lb-7f3a.2", "lb-7f3a.2", "lb-7f3a.2")
    assert logs.request_id.get() is None  # nothing leaks past the request


def test_a_missing_or_unreasonable_request_id_is_replaced():
    for header in (None, "", "x" * 65, "a b", "id\nforged: line", "<script>"):
        given, echoed, logged = answered(header)
        assert len(given) == 32 and given == echoed == logged, header


def test_every_request_gets_its_own_id(client, db):
    first = client.get("/healthz/")[logs.HEADER]
    second = client.get("/healthz/", HTTP_X_REQUEST_ID="probe-1")[logs.HEADER]
    assert len(first) == 32 and second == "probe-1"


def test_json_lines_carry_the_request_id_extras_and_the_exception():
    formatter = logs.JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord(
            {"name": "cases", "levelname": "ERROR", "msg": "案件 %s", "args": ("A1",), "exc_info": sys.exc_info()}
        )
    record.request_id = "r-1"
    record.case = 42
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "案件 A1" and entry["request_id"] == "r-1" and entry["case"] == 42
    assert entry["level"] == "ERROR" and entry["logger"] == "cases" and "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_the_request_id_rides_into_the_tasks_the_request_queued():
    headers = {}
    token = logs.request_id.set("req-9")
    try:
        logs.stamp_task(headers=headers, body=None)
    finally:
        logs.request_id.reset(token)
    assert headers == {logs.TASK_HEADER: "req-9"}
    # In the worker: Celery exposes message headers on task.request.
    task = SimpleNamespace(request=SimpleNamespace(**headers))
    logs.task_started(task=task)
    record = logging.makeLogRecord({"msg": "sent"})
    logs.RequestIdFilter().filter(record)
    assert record.request_id == "req-9"
    logs.task_finished(task=task)
    assert logs.request_id.get() is None
    # A task beat queued (no request) gets an id of its own; outside a request nothing is stamped.
    logs.stamp_task(headers=(empty := {}))
    assert empty == {}
    beat_task = SimpleNamespace(request=SimpleNamespace())
    logs.task_started(task=beat_task)
    assert len(logs.request_id.get()) == 32
    logs.task_finished(task=beat_task)


def test_the_celery_signals_are_connected():
    from celery.signals import before_task_publish, task_postrun, task_prerun

    headers, token = {}, logs.request_id.set("req-10")
    try:
        before_task_publish.send(sender="metrics.tasks.refresh_rollups", headers=headers, body=None)
    finally:
        logs.request_id.reset(token)
    assert headers == {logs.TASK_HEADER: "req-10"}

    class Task:  # what the worker hands the signals: a task whose request holds the message headers
        request = SimpleNamespace(**headers)

    task = Task()
    task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    assert logs.request_id.get() == "req-10"
    task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=None, state="SUCCESS")
    assert logs.request_id.get() is None
