"""Two people acting on one case at once (DESIGN §4: the state machine is concurrent-safe).

The races run on PostgreSQL, in real threads with their own connections (the
``postgres`` fixture skips them on SQLite and fails them when
REQUIRE_SERVICES=1). The stale-object test needs no threads and runs anywhere.
"""

import io
import threading
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction
from django_fsm_log.models import StateLog
from PIL import Image

from accounts.roles import Role
from cases.models import Attachment, AttachmentKind, Case
from cases.services import CaseStateConflict, case_number, create_case, transition_case

TIMEOUT = 20


def png_upload(color=(20, 160, 40)):
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, format="PNG")
    return SimpleUploadedFile("after.png", buffer.getvalue(), content_type="image/png")


def logs(case):
    return StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)


def run_threads(workers):
    """Run each worker(barrier) in its own thread and connection; return ("ok", value) or ("error", exc) each."""
    barrier = threading.Barrier(len(workers), timeout=TIMEOUT)
    results = [None] * len(workers)

    def run(index, worker):
        try:
            results[index] = ("ok", worker(barrier))
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            results[index] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w), daemon=True) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def step_worker(case_pk, actor, name, **params):
    """Load the case on this thread's connection, wait for the others, then take the step."""

    def work(barrier):
        case = Case.objects.get(pk=case_pk)
        if name == "handle":
            params.setdefault("photos", [png_upload()])
        barrier.wait()
        transition_case(actor=actor, case=case, name=name, **params)
        return name

    return work


def assert_consistent(case_pk, winner, logs_before):
    case = Case.objects.get(pk=case_pk)
    new_logs = list(logs(case).order_by("pk")[logs_before:])
    assert [log.transition for log in new_logs] == [winner]
    after_photos = Attachment.objects.filter(case=case, kind=AttachmentKind.AFTER).count()
    if winner == "send_back":
        assert case.status == "assessed"
        assert (case.result, case.handled_at, case.verify_deadline) == ("", None, None)
        assert after_photos == 0
        assert case.send_back_count == 1
        assert case.handling_area is None and case.handler is None
    elif winner == "handle":
        assert case.status == "handled"
        assert case.result == "已处置" and case.handled_at is not None and case.verify_deadline is not None
        assert after_photos == 1
        assert case.send_back_count == 0
        assert case.handling_area is not None
    else:
        raise AssertionError(winner)


@pytest.mark.django_db(transaction=True)
class TestRaces:
    def test_handle_against_send_back(self, postgres, make_case, people):
        staff = people[Role.COMMUNITY_STAFF]
        winners = set()
        for _ in range(3):
            case = make_case("assigned")
            before = logs(case).count()
            results = run_threads(
                [
                    step_worker(case.pk, staff, "handle", result="已处置"),
                    step_worker(case.pk, staff, "send_back", comment="不归我们"),
                ]
            )
            oks = [value for outcome, value in results if outcome == "ok"]
            errors = [value for outcome, value in results if outcome == "error"]
            assert len(oks) == 1, results
            assert len(errors) == 1 and isinstance(errors[0], CaseStateConflict), results
            assert_consistent(case.pk, oks[0], before)
            winners.add(oks[0])
        assert winners <= {"handle", "send_back"}

    @pytest.mark.parametrize("first", ["handle", "send_back"])
    def test_the_second_writer_waits_for_the_first_and_conflicts(self, postgres, first, make_case, people):
        """The first step holds its row lock a while before committing; the second must not overwrite it."""
        staff = people[Role.COMMUNITY_STAFF]
        case = make_case("assigned")
        before = logs(case).count()
        params = {"handle": {"result": "已处置"}, "send_back": {"comment": "不归我们"}}
        second = "send_back" if first == "handle" else "handle"
        saved = threading.Event()
        waited = []

        def first_worker(barrier):
            loaded = Case.objects.get(pk=case.pk)
            photos = {"photos": [png_upload()]} if first == "handle" else {}
            barrier.wait()
            with transaction.atomic():
                transition_case(actor=staff, case=loaded, name=first, **params[first], **photos)
                saved.set()
                time.sleep(0.3)  # the second writer is now blocked on the row
            return first

        def second_worker(barrier):
            loaded = Case.objects.get(pk=case.pk)
            photos = {"photos": [png_upload()]} if second == "handle" else {}
            barrier.wait()
            assert saved.wait(TIMEOUT)
            started = time.monotonic()
            try:
                transition_case(actor=staff, case=loaded, name=second, **params[second], **photos)
            finally:
                waited.append(time.monotonic() - started)
            return second

        (outcome_1, value_1), (outcome_2, value_2) = run_threads([first_worker, second_worker])
        assert (outcome_1, value_1) == ("ok", first)
        assert outcome_2 == "error" and isinstance(value_2, CaseStateConflict), value_2
        assert waited[0] > 0.15  # it really met the first writer's uncommitted change
        assert_consistent(case.pk, first, before)

    def test_the_same_step_twice(self, postgres, make_case, people):
        case = make_case()
        dispatchers = [people[Role.COMMUNITY_STAFF], people[Role.STREET_STAFF]]
        before = logs(case).count()
        results = run_threads([step_worker(case.pk, d, "assess") for d in dispatchers])
        assert sorted(outcome for outcome, _ in results) == ["error", "ok"], results
        assert isinstance(next(v for o, v in results if o == "error"), CaseStateConflict)
        assert Case.objects.get(pk=case.pk).status == "assessed"
        assert list(logs(case).values_list("transition", flat=True)[before:]) == ["assess"]

    def test_twenty_reports_at_once_get_twenty_numbers(self, postgres, people, tree, categories):
        worker = people[Role.GRID_WORKER]

        def report(index):
            def work(barrier):
                barrier.wait()
                case = create_case(
                    actor=worker,
                    title=f"同时上报 {index}",
                    description="并发",
                    category=categories["dispute"],
                    grid=tree.grid_a,
                )
                return case.pk, case.number

            return work

        results = run_threads([report(i) for i in range(20)])
        assert all(outcome == "ok" for outcome, _ in results), results
        numbers = {number for _, (_, number) in results}
        assert len(numbers) == 20 and None not in numbers
        stored = dict(Case.objects.values_list("pk", "number"))
        assert stored == {pk: number for _, (pk, number) in results}
        # Each number went in with its row (the id drawn first) and still shows that id.
        assert all(
            number == case_number(at, pk) for pk, number, at in Case.objects.values_list("pk", "number", "reported_at")
        )
        assert StateLog.objects.filter(transition="report").count() == 20


@pytest.mark.django_db
def test_a_stale_object_cannot_undo_steps_it_never_saw(make_case, people):
    """ABA: the case went assigned -> handled -> assigned (rework) after the stale copy was loaded.

    Its status matches again, but saving the stale copy would write back the old
    rework count, result and clock over the newer ones.
    """
    staff = people[Role.COMMUNITY_STAFF]
    case = make_case("assigned")
    stale = Case.objects.get(pk=case.pk)
    transition_case(actor=staff, case=case, name="handle", result="已处置", photos=[png_upload()])
    transition_case(actor=staff, case=case, name="reject", comment="未整改到位")
    newer = Case.objects.filter(pk=case.pk).values().get()
    assert (newer["status"], newer["rework_count"]) == ("assigned", 1)
    logs_before = logs(case).count()

    with pytest.raises(CaseStateConflict):
        transition_case(actor=staff, case=stale, name="send_back", comment="误派")
    assert Case.objects.filter(pk=case.pk).values().get() == newer
    assert logs(case).count() == logs_before


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
