"""The camera register: the file import (all or nothing, each bad row named), export, the admin and scope."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation
from openpyxl import Workbook, load_workbook

from accounts.models import SecurityEvent
from accounts.roles import Role
from grids.cameras import CameraImportError, import_cameras, read_camera_rows, save_camera
from grids.models import Area, Camera
from grids.signals import boundaries_changed

HEADER = "编码,名称,纬度,经度,网格编码,状态,安装日期\n"


@pytest.fixture(autouse=True)
def _in_chinese():
    # Messages of the services read in the platform's language, whatever an earlier request activated.
    with translation.override("zh-hans"):
        yield


def box(west, south, east, north):
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


@pytest.fixture
def placed(tree):
    """The tree with outlines: grid A west, grid B east, inside the district's box."""
    Area.objects.filter(pk=tree.district.pk).update(boundary=box(119.0, 36.6, 119.2, 36.8))
    Area.objects.filter(pk=tree.grid_a.pk).update(boundary=box(119.0, 36.6, 119.1, 36.7))
    Area.objects.filter(pk=tree.grid_b.pk).update(boundary=box(119.1, 36.6, 119.2, 36.7))
    boundaries_changed()
    return tree


def upload(text, name="cameras.csv"):
    f = io.BytesIO(text.encode("utf-8"))
    f.name = name
    return f


def rows(text, name="cameras.csv"):
    return read_camera_rows(upload(text, name), name)


def camera(code, grid, *, lat="36.650000", lng="119.050000", **extra):
    return Camera.objects.create(code=code, name=f"摄像头{code}", latitude=lat, longitude=lng, grid=grid, **extra)


GOOD = HEADER + (
    "CAM-1,甲一网格路口,36.65,119.05,370702001001001,在线,2021-05-01\n"
    "CAM-2,乙一网格广场,36.65,119.15,,离线,\n"  # grid found from the point
    "CAM-3,甲一网格菜市场,36.66,119.06,,停用,2019-01-02\n"
)


@pytest.mark.django_db
class TestImport:
    def test_good_file_creates_cameras_and_a_second_import_changes_nothing(self, placed):
        result = import_cameras(actor=None, rows=rows(GOOD), source="cameras.csv")
        assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
        cam2 = Camera.objects.get(code="CAM-2")
        assert cam2.grid == placed.grid_b and cam2.status == "offline"
        assert Camera.objects.get(code="CAM-3").status == "retired"
        assert str(Camera.objects.get(code="CAM-1").installed_at) == "2021-05-01"
        again = import_cameras(actor=None, rows=rows(GOOD))
        assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    def test_english_header_and_changed_rows_update(self, placed):
        import_cameras(actor=None, rows=rows(GOOD))
        text = "code,name,latitude,longitude,grid,status,installed_at\nCAM-1,甲一网格新路口,36.65,119.05,,offline,\n"
        result = import_cameras(actor=None, rows=rows(text))
        assert (result.created, result.updated) == (0, 1)
        assert Camera.objects.get(code="CAM-1").name == "甲一网格新路口"

    def test_every_bad_row_is_named_and_nothing_is_saved(self, placed):
        text = HEADER + (
            "OK-1,好摄像头,36.65,119.05,,,\n"  # line 2: fine on its own
            "BAD-2,未知网格,36.65,119.05,370702009009009,,\n"  # 3: unknown grid
            "BAD-3,区外,37.50,119.05,,,\n"  # 4: outside the district
            "BAD-4,不在网格内,36.65,119.15,370702001001001,,\n"  # 5: in grid B, file says grid A
            "OK-1,重复,36.65,119.05,,,\n"  # 6: duplicate code
            "BAD-6,坏状态,36.65,119.05,,损坏,\n"  # 7: unknown status
            "BAD-7,坏纬度,abc,119.05,,,\n"  # 8: latitude not a number
            "BAD-8,楼院,36.65,119.05,370702001001001001,,\n"  # 9: a building is not a grid
            "BAD 9,空格编码,36.65,119.05,,,\n"  # 10: code with a space
            "BAD-10,,36.65,119.05,,,\n"  # 11: no name
            "BAD-11,区内无网格,36.75,119.05,,,\n"  # 12: inside the district, no grid there
            "BAD-12,坏日期,36.65,119.05,,,2021-13-01\n"  # 13: no such date
        )
        with pytest.raises(CameraImportError) as refused:
            import_cameras(actor=None, rows=rows(text))
        messages = {e.line: e.message for e in refused.value.errors}
        assert sorted(messages) == list(range(3, 14))
        assert "370702009009009" in messages[3]
        assert "本区范围之外" in messages[4]
        assert "不在网格“甲一网格”内" in messages[5]
        assert "第2行" in messages[6]
        assert "损坏" in messages[7]
        assert "abc" in messages[8]
        assert "不是网格" in messages[9]
        assert "字母、数字" in messages[10]
        assert "名称为空" in messages[11]
        assert "不在任何网格内" in messages[12]
        assert "2021-13-01" in messages[13]
        assert not Camera.objects.exists()

    def test_a_formula_in_a_cell_is_refused_by_line(self, placed):
        text = (
            HEADER
            + '=CAM,甲一网格路口,36.65,119.05,,,\nCAM-2,"=HYPERLINK(""http://x.example"",""点我"")",36.65,119.05,,,\n'
        )
        with pytest.raises(CameraImportError) as refused:
            import_cameras(actor=None, rows=rows(text))
        messages = {e.line: e.message for e in refused.value.errors}
        assert set(messages) == {2, 3}
        assert "公式" in messages[3]
        assert not Camera.objects.exists()

    def test_a_formula_in_an_excel_cell_without_a_value_is_an_empty_name(self, placed):
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(["编码", "名称", "纬度", "经度", "网格编码", "状态", "安装日期"])
        sheet.append(["CAM-1", "=A1&A1", 36.65, 119.05, None, None, None])
        buffer = io.BytesIO()
        workbook.save(buffer)
        buffer.seek(0)
        with pytest.raises(CameraImportError) as refused:
            import_cameras(actor=None, rows=read_camera_rows(buffer, "cameras.xlsx"))
        assert [(e.line, e.message) for e in refused.value.errors] == [(2, "名称为空。")]

    def test_a_street_official_imports_only_into_their_street(self, placed, people):
        street_a = people[Role.STREET_STAFF]
        theirs = camera("B-OLD", placed.grid_b, lng="119.150000")
        text = HEADER + (
            "A-1,甲一网格路口,36.65,119.05,,,\n"
            "B-1,乙一网格路口,36.65,119.15,,,\n"  # line 3: a grid of street B
            "B-OLD,搬到甲街道,36.65,119.05,,,\n"  # line 4: moving street B's camera into street A
        )
        with pytest.raises(CameraImportError) as refused:
            import_cameras(actor=street_a, rows=rows(text))
        messages = {e.line: e.message for e in refused.value.errors}
        assert set(messages) == {3, 4}
        assert "370702002001001" in messages[3] and "不管辖" in messages[4]
        assert list(Camera.objects.values_list("code", "grid")) == [("B-OLD", placed.grid_b.pk)]
        theirs.refresh_from_db()
        assert theirs.name == "摄像头B-OLD"

    def test_grids_without_outlines_take_the_named_grid(self, tree):
        result = import_cameras(actor=None, rows=rows(HEADER + "CAM-1,路口,36.65,119.05,370702001001001,,\n"))
        assert result.created == 1 and Camera.objects.get().grid == tree.grid_a
        with pytest.raises(CameraImportError) as refused:
            import_cameras(actor=None, rows=rows(HEADER + "CAM-2,路口,36.65,119.05,,,\n"))
        assert "请填写网格编码" in refused.value.errors[0].message


@pytest.mark.django_db
class TestSaveCamera:
    def test_the_grid_is_found_from_the_point(self, placed, people):
        saved = save_camera(
            actor=people[Role.STREET_STAFF],
            camera=Camera(code="NEW-1", name="路口", latitude="36.650000", longitude="119.050000"),
        )
        assert saved.grid == placed.grid_a

    def test_a_street_official_cannot_place_or_move_a_camera_in_another_street(self, placed, people):
        street_a = people[Role.STREET_STAFF]
        with pytest.raises(ValidationError) as refused:
            save_camera(actor=street_a, camera=Camera(code="X", name="x", latitude="36.65", longitude="119.15"))
        assert "grid" in refused.value.message_dict
        other = camera("B-1", placed.grid_b, lng="119.150000")
        other.latitude, other.longitude, other.grid = "36.650000", "119.050000", placed.grid_a
        with pytest.raises(PermissionDenied):
            save_camera(actor=street_a, camera=other)
        assert Camera.objects.get(code="B-1").grid == placed.grid_b


@pytest.mark.django_db
class TestAdmin:
    def test_street_official_sees_and_exports_only_their_street(self, placed, people, client):
        camera("A-1", placed.grid_a)
        camera("B-1", placed.grid_b, lng="119.150000")
        client.force_login(people[Role.STREET_STAFF])
        page = client.get("/admin/grids/camera/").content.decode()
        assert "A-1" in page and "B-1" not in page
        assert "甲街道" in page and "甲一社区" in page  # street and community columns
        exported = client.get("/admin/grids/camera/export/?format=csv").content.decode("utf-8")
        assert "A-1" in exported and "B-1" not in exported

    def test_filters_by_status_street_and_search(self, placed, people, client):
        camera("A-1", placed.grid_a, status="offline")
        camera("A-2", placed.grid_a)
        camera("B-1", placed.grid_b, lng="119.150000")
        client.force_login(people["superuser"])
        page = client.get("/admin/grids/camera/?status__exact=offline").content.decode()
        assert "A-1" in page and "A-2" not in page
        page = client.get(f"/admin/grids/camera/?street={placed.street_b.pk}").content.decode()
        assert "B-1" in page and "A-1" not in page
        page = client.get("/admin/grids/camera/?q=A-2").content.decode()
        assert "A-2" in page and "A-1" not in page
        # A lookup no filter offers is refused (gov_platform.admin_lookups).
        assert client.get("/admin/grids/camera/?grid__path__startswith=370702/").status_code == 400

    def test_street_official_cannot_open_or_change_another_streets_camera(self, placed, people, client):
        theirs = camera("B-1", placed.grid_b, lng="119.150000")
        mine = camera("A-1", placed.grid_a)
        client.force_login(people[Role.STREET_STAFF])
        response = client.get(f"/admin/grids/camera/{theirs.pk}/change/")
        assert response.status_code == 302  # not found in their list: back to the index
        # Moving their own camera into street B's grid: the point and the grid are refused.
        response = client.post(
            f"/admin/grids/camera/{mine.pk}/change/",
            {
                "code": "A-1",
                "name": "搬走",
                "latitude": "36.650000",
                "longitude": "119.150000",
                "grid": placed.grid_b.pk,
                "status": "online",
            },
        )
        assert response.status_code == 200 and "errorlist" in response.content.decode()
        assert Camera.objects.get(pk=mine.pk).grid == placed.grid_a

    def test_admin_add_locates_the_grid(self, placed, people, client):
        client.force_login(people[Role.STREET_STAFF])
        response = client.post(
            "/admin/grids/camera/add/",
            {"code": "A-9", "name": "新路口", "latitude": "36.660000", "longitude": "119.060000", "status": "online"},
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert Camera.objects.get(code="A-9").grid == placed.grid_a

    def test_admin_upload_of_a_bad_file_names_rows_and_is_audited(self, placed, people, client):
        client.force_login(people[Role.STREET_STAFF])
        text = HEADER + "A-1,甲一网格路口,36.65,119.05,,,\nB-1,乙一网格路口,36.65,119.15,,,\n"
        response = client.post("/admin/grids/camera/import/", {"file": upload(text)})
        assert response.status_code == 400
        body = response.content.decode()
        assert 'id="import-errors"' in body and "<td>3</td>" in body and "<td>2</td>" not in body
        assert not Camera.objects.exists()
        event = SecurityEvent.objects.filter(kind="org_import").latest("pk")
        assert event.detail["accepted"] is False and event.detail["errors"] == 1

    def test_admin_upload_of_a_good_xlsx_and_the_export_round_trips(self, placed, people, client):
        workbook = Workbook()
        sheet = workbook.active
        for line in GOOD.splitlines():
            sheet.append(line.split(","))
        buffer = io.BytesIO()
        workbook.save(buffer)
        client.force_login(people[Role.DISTRICT_STAFF])
        response = client.post("/admin/grids/camera/import/", {"file": upload_bytes(buffer.getvalue(), "c.xlsx")})
        assert response.status_code == 302
        assert Camera.objects.count() == 3
        exported = client.get("/admin/grids/camera/export/")
        table = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
        assert table[0] == ("编码", "名称", "纬度", "经度", "网格编码", "状态", "安装日期")
        assert {row[5] for row in table[1:]} == {"在线", "离线", "停用"}
        again = import_cameras(actor=None, rows=read_camera_rows(io.BytesIO(exported.content), "c.xlsx"))
        assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    def test_an_exported_formula_like_name_stays_text(self, placed, people, client):
        camera("A-1", placed.grid_a, installed_at=None).__class__.objects.filter(code="A-1").update(name="=1+2")
        client.force_login(people["superuser"])
        cell = load_workbook(io.BytesIO(client.get("/admin/grids/camera/export/").content)).active["B2"]
        assert cell.value == "=1+2" and cell.data_type == "s" and cell.quotePrefix
        text = client.get("/admin/grids/camera/export/?format=csv").content.decode("utf-8")
        assert ",'=1+2," in text

    def test_grid_worker_sees_but_may_not_import(self, placed, people, client):
        camera("A-1", placed.grid_a)
        client.force_login(people[Role.GRID_WORKER])
        assert client.get("/admin/grids/camera/").status_code == 200
        assert client.post("/admin/grids/camera/import/", {"file": upload(GOOD)}).status_code == 403


def upload_bytes(content, name):
    f = io.BytesIO(content)
    f.name = name
    return f
