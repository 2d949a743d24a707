"""Video alarms: a case in the camera's grid, occurrences within the window, races, bad input."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone, translation

from cases.cameras import receive_alarm
from cases.models import CameraAlarm, Case, EventType, IntakeRefusal, Source, WorkflowSettings
from grids.models import Camera
from tests.api_support import isolate_throttling, token_client

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=6)


@pytest.fixture(autouse=True)
def _in_chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def video(tree, categories):
    cameras = {
        code: Camera.objects.create(
            code=code, name=f"甲一网格路口{code}", latitude="36.705000", longitude="119.105000", grid=tree.grid_a
        )
        for code in ("CAM-1", "CAM-2")
    }
    kinds = {
        "vendor": EventType.objects.create(code="occupy_road", name="占道经营", category=categories["hazard"]),
        "crowd": EventType.objects.create(code="crowd", name="人员聚集", category=categories["dispute"]),
    }
    return cameras, kinds


def alarm(at, camera="CAM-1", event="occupy_road", **extra):
    return receive_alarm(system=None, camera_code=camera, event_type=event, occurred_at=at, **extra)


@pytest.mark.django_db
class TestCases:
    def test_the_first_alarm_files_a_video_case_in_the_cameras_grid(self, video, tree, categories):
        result = alarm(T0, snapshot="https://video.example/snap/1.jpg")
        case = result.case
        assert result.created and not result.repeat
        assert (case.source, case.grid, case.category) == (Source.VIDEO, tree.grid_a, categories["hazard"])
        assert case.title == "视频告警：占道经营" and case.address == "甲一网格路口CAM-1"
        assert str(case.latitude) == "36.705000" and "https://video.example/snap/1.jpg" in case.description
        assert CameraAlarm.objects.get().opened_case

    def test_the_event_type_may_be_named_by_its_name(self, video):
        assert alarm(T0, event="占道经营").created

    def test_window_arithmetic(self, video):
        first = alarm(T0).case
        # Less than 30 minutes after an alarm of the open case: an occurrence, and the window slides.
        assert alarm(T0 + timedelta(minutes=29, seconds=59)).case == first
        assert alarm(T0 + timedelta(minutes=59, seconds=58)).case == first
        # An alarm that arrives late, from before the first one, within the window: the same case.
        assert alarm(T0 - timedelta(minutes=10)).case == first
        # Exactly the window after the latest alarm: a new case.
        later = alarm(T0 + timedelta(minutes=89, seconds=58))
        assert later.created and later.case != first
        assert first.camera_alarms.count() == 4 and later.case.camera_alarms.count() == 1

    def test_another_camera_or_category_is_another_case(self, video):
        first = alarm(T0).case
        assert alarm(T0 + timedelta(minutes=1), camera="CAM-2").case != first
        assert alarm(T0 + timedelta(minutes=1), event="crowd").case != first
        assert Case.objects.count() == 3

    def test_the_window_is_a_setting(self, video):
        settings = WorkflowSettings.current()
        settings.camera_alarm_window_minutes = 10
        settings.save()
        first = alarm(T0).case
        assert alarm(T0 + timedelta(minutes=9)).case == first
        assert alarm(T0 + timedelta(minutes=19, seconds=30)).case != first

    def test_a_case_no_longer_open_gets_no_occurrences(self, video):
        first = alarm(T0).case
        Case.objects.filter(pk=first.pk).update(status="dismissed")
        assert alarm(T0 + timedelta(minutes=5)).case != first

    def test_a_suspended_case_is_still_open(self, video):
        first = alarm(T0).case
        Case.objects.filter(pk=first.pk).update(status="suspended")
        assert alarm(T0 + timedelta(minutes=5)).case == first

    def test_unknown_camera_and_event_type_name_their_fields_and_write_nothing(self, video):
        with pytest.raises(ValidationError) as refused:
            alarm(T0, camera="CAM-X", event="ufo")
        assert set(refused.value.message_dict) == {"camera", "event_type"}
        assert "CAM-X" in refused.value.message_dict["camera"][0]
        assert "ufo" in refused.value.message_dict["event_type"][0]
        assert not Case.objects.exists() and not CameraAlarm.objects.exists()

    def test_a_retired_camera_a_naive_or_future_time_and_a_bad_snapshot_are_refused(self, video):
        Camera.objects.filter(code="CAM-2").update(status="retired")
        with pytest.raises(ValidationError) as refused:
            alarm(T0, camera="CAM-2")
        assert "停用" in refused.value.message_dict["camera"][0]
        with pytest.raises(ValidationError) as refused:
            alarm(T0.replace(tzinfo=None))
        assert "occurred_at" in refused.value.message_dict
        with pytest.raises(ValidationError) as refused:
            alarm(timezone.now() + timedelta(hours=1), snapshot="javascript:alert(1)")
        assert set(refused.value.message_dict) == {"occurred_at", "snapshot"}
        assert not Case.objects.exists()

    def test_a_repeated_delivery_of_the_same_alarm_is_the_same_case(self, video, make_system):
        system, _key = make_system("video", sources=[Source.VIDEO])
        first = receive_alarm(
            system=system, camera_code="CAM-1", event_type="occupy_road", occurred_at=T0, external_id="V-1"
        )
        again = receive_alarm(
            system=system, camera_code="CAM-1", event_type="occupy_road", occurred_at=T0, external_id="V-1"
        )
        assert again.repeat and not again.created and again.case == first.case
        assert CameraAlarm.objects.count() == 1
        assert first.case.reporter == system.service_user and first.case.external_id == "V-1"

    def test_the_case_page_counts_the_occurrences(self, video, client, people):
        case = alarm(T0).case
        alarm(T0 + timedelta(minutes=3))
        alarm(T0 + timedelta(minutes=6))
        client.force_login(people["superuser"])
        page = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
        assert "摄像头报警：占道经营" in page
        assert "同一摄像头再次报警 2 次（共 3 次报警）" in page

    def test_the_timeline_query_count_does_not_grow_with_occurrences(self, video, django_assert_max_num_queries):
        from cases.cameras import alarm_entries

        case = alarm(T0).case
        for minute in range(1, 30):
            alarm(T0 + timedelta(minutes=minute))
        with django_assert_max_num_queries(1):
            entries = alarm_entries(case, None)
        assert "29" in entries[1].label


@pytest.mark.django_db
def test_unknown_camera_through_the_intake_is_400_naming_the_field_and_logged(video, make_system, monkeypatch):
    isolate_throttling(monkeypatch)
    system, key = make_system("video", sources=[Source.VIDEO])
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=f"System {key}")
    body = {"external_id": "V-9", "camera": "CAM-X", "event_type": "occupy_road", "occurred_at": T0.isoformat()}
    response = client.post("/api/v1/intake/", body, format="json")
    assert response.status_code == 400 and "camera" in response.json()
    response = client.post("/api/v1/intake/", {**body, "camera": "CAM-1", "event_type": "ufo"}, format="json")
    assert response.status_code == 400 and "event_type" in response.json()
    assert not Case.objects.exists() and not CameraAlarm.objects.exists()
    assert list(IntakeRefusal.objects.order_by("pk").values_list("field", flat=True)) == ["camera", "event_type"]


@pytest.mark.django_db(transaction=True)
def test_alarms_at_once_from_one_camera_file_one_case(postgres, tree, categories):
    """Eight alarms of one camera and category at the same instant, each on its own connection: one case."""
    Camera.objects.create(code="CAM-R", name="路口", latitude="36.705000", longitude="119.105000", grid=tree.grid_a)
    EventType.objects.create(code="occupy_road", name="占道经营", category=categories["hazard"])
    barrier = threading.Barrier(8, timeout=20)
    results, errors = [], []

    def send(n):
        try:
            barrier.wait()
            results.append(alarm(T0 + timedelta(seconds=n), camera="CAM-R").case.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(set(results)) == 1 and Case.objects.count() == 1
    assert CameraAlarm.objects.filter(case_id=results[0]).count() == 8
    assert CameraAlarm.objects.filter(opened_case=True).count() == 1
