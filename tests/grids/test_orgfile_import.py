import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from accounts.roles import Role
from grids.models import Area, Department, PartyOrganization
from grids.orgfile import read_rows
from grids.selectors import organisation_records
from grids.services import OrganisationImportError, import_organisation

HEADER = "类型,层级,编码,名称,上级编码,人口,户数,党员数,负责人,电话\n"
GOOD = HEADER + (
    "区域,社区,370702001002,甲二社区,370702001,4000,1500,,,\n"
    "区域,网格,370702001002001,甲二第一网格,370702001002,2000,760,,,\n"
    "部门,,ZD-A2,甲街道城管中队,370702001,,,,,0532-1234567\n"
    "党组织,社区党委,P370702001002,甲二社区党委,370702001002,,,80,王书记,\n"
)


def csv_file(text, name="org.csv"):
    f = io.BytesIO(text.encode("utf-8"))
    f.name = name
    return f


def admin_upload(client, text, name="org.csv"):
    return client.post("/admin/grids/area/import/", {"file": csv_file(text, name)})


def counts():
    return Area.objects.count(), Department.objects.count(), PartyOrganization.objects.count()


@pytest.mark.django_db
class TestImport:
    def test_good_file_creates_everything_and_reimport_changes_nothing(self, tree):
        rows = read_rows(csv_file(GOOD), "org.csv")
        result = import_organisation(actor=None, rows=rows)
        assert result.created == {"area": 2, "department": 1, "party": 1}
        grid = Area.objects.get(code="370702001002001")
        assert grid.path == "370702/370702001/370702001002/370702001002001/"
        assert grid.population == 2000
        assert PartyOrganization.objects.get(code="P370702001002").members == 80
        again = import_organisation(actor=None, rows=read_rows(csv_file(GOOD), "org.csv"))
        assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
        assert again.unchanged == 4

    def test_rows_may_come_children_first(self, tree):
        lines = GOOD.splitlines()
        text = "\n".join([lines[0], lines[2], lines[1]]) + "\n"
        import_organisation(actor=None, rows=read_rows(csv_file(text), "org.csv"))
        assert Area.objects.get(code="370702001002001").parent.code == "370702001002"

    def test_bad_rows_are_reported_by_line_and_nothing_is_saved(self, tree):
        text = HEADER + (
            "区域,社区,370702001003,好社区,370702001,100,40,,,\n"  # line 2: fine on its own
            "区域,乡镇,370702001004,怪层级,370702001,,,,,\n"  # line 3: unknown tier
            "区域,网格,370702001003001,孤儿网格,370702009009,,,,,\n"  # line 4: parent missing
            "区域,社区,370702002005,错码,370702001,,,,,\n"  # line 5: code does not extend parent
            "区域,社区,370702001006,负人口,370702001,-5,,,,\n"  # line 6: negative population
            "区域,社区,370702001003,重复,370702001,,,,,\n"  # line 7: duplicate code
            "部门,,GA2,错部门,370702001001,,,,,\n"  # line 8: department under a community
            "党组织,网格党支部,P1,错挂,370702001,,,,,\n"  # line 9: grid branch on a street
            "其他,,X,未知,370702,,,,,\n"  # line 10: unknown type
        )
        before = counts()
        with pytest.raises(OrganisationImportError) as err:
            import_organisation(actor=None, rows=read_rows(csv_file(text), "org.csv"))
        lines = [e.line for e in err.value.errors]
        assert lines == [3, 4, 5, 6, 7, 8, 9, 10]
        messages = {e.line: e.message for e in err.value.errors}
        assert "370702009009" in messages[4]
        assert "370702001" in messages[5]
        assert "2" in messages[7]  # points at the first occurrence
        assert counts() == before

    def test_admin_upload_of_a_bad_file_shows_row_errors_and_saves_nothing(self, tree, people, client):
        client.force_login(people[Role.DISTRICT_STAFF])
        before = counts()
        response = admin_upload(client, HEADER + "区域,网格,370702001001009,缺父级,370702001001008,,,,,\n")
        assert response.status_code == 400
        body = response.content.decode()
        assert 'id="import-errors"' in body and "<td>2</td>" in body
        assert counts() == before

    def test_admin_upload_of_a_good_xlsx(self, tree, people, client):
        workbook = Workbook()
        sheet = workbook.active
        for line in GOOD.splitlines():
            sheet.append(line.split(","))
        buffer = io.BytesIO()
        workbook.save(buffer)
        client.force_login(people[Role.DISTRICT_STAFF])
        upload = io.BytesIO(buffer.getvalue())
        upload.name = "org.xlsx"
        response = client.post("/admin/grids/area/import/", {"file": upload})
        assert response.status_code == 302
        assert Area.objects.filter(code="370702001002001").exists()

    def test_not_a_spreadsheet_is_refused_with_a_reason(self, tree, people, client):
        client.force_login(people[Role.DISTRICT_STAFF])
        response = admin_upload(client, "just text", name="org.txt")
        assert response.status_code == 400
        assert "errornote" in response.content.decode()

    def test_street_official_cannot_import_into_another_street(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])  # street A
        before = counts()
        text = HEADER + (
            "区域,社区,370702001002,甲二社区,370702001,,,,,\n区域,社区,370702002002,乙二社区,370702002,,,,,\n"
        )
        response = admin_upload(client, text)
        assert response.status_code == 400
        assert "<td>3</td>" in response.content.decode()
        assert "<td>2</td>" not in response.content.decode()
        assert counts() == before

    def test_grid_worker_may_not_import(self, tree, people, client):
        client.force_login(people[Role.GRID_WORKER])
        assert admin_upload(client, GOOD).status_code == 403


@pytest.mark.django_db
class TestExport:
    def test_export_round_trips(self, tree, people, client):
        client.force_login(people["superuser"])
        response = client.get("/admin/grids/area/export/")
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:5] == ("类型", "层级", "编码", "名称", "上级编码")
        assert len(rows) == 1 + Area.objects.count() + Department.objects.count()
        upload = io.BytesIO(response.content)
        result = import_organisation(actor=None, rows=read_rows(upload, "org.xlsx"))
        assert sum(result.created.values()) == 0 and sum(result.updated.values()) == 0

    def test_export_is_scoped(self, tree, people):
        codes = {r["code"] for r in organisation_records(scope=people[Role.STREET_STAFF].scope)}
        assert "370702001001001" in codes and "ZD-A" in codes
        assert "370702002" not in codes and "370702002001001" not in codes and "ZD-B" not in codes

    def test_csv_export_opens_in_excel(self, tree, people, client):
        client.force_login(people[Role.COMMUNITY_STAFF])
        response = client.get("/admin/grids/area/export/?format=csv")
        text = response.content.decode("utf-8")
        assert text.startswith("\ufeff类型")
        assert "370702001001001" in text and "370702002001" not in text


EVIL = '=HYPERLINK("http://evil.example","查看")'


@pytest.mark.django_db
class TestExportFormulas:
    """Names and phones that Excel would run as formulas are written as text, and import back unchanged."""

    @pytest.fixture
    def evil(self, tree):
        Department.objects.filter(pk=tree.dept_a.pk).update(name=EVIL, phone="+86 532 1234567")
        PartyOrganization.objects.create(
            kind="community_committee", code="P-EVIL", name="@SUM(1)", area=tree.community_a
        )
        return tree

    def test_xlsx_export_has_no_formula_and_round_trips(self, evil, people, client):
        client.force_login(people["superuser"])
        content = client.get("/admin/grids/area/export/").content
        sheet = load_workbook(io.BytesIO(content)).active
        cells = [c for row in sheet.iter_rows() for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        by_value = {c.value: c for c in cells}
        for text in (EVIL, "+86 532 1234567", "@SUM(1)"):
            assert by_value[text].data_type == "s" and by_value[text].quotePrefix
        area_row = next(row for row in sheet.iter_rows() if row[2].value == "370702001001")
        assert (area_row[5].value, area_row[5].data_type) == (5000, "n")  # numbers stay numbers
        result = import_organisation(actor=None, rows=read_rows(io.BytesIO(content), "org.xlsx"))
        assert sum(result.created.values()) == 0 and sum(result.updated.values()) == 0

    def test_csv_export_quotes_formulas_and_round_trips(self, evil, people, client):
        client.force_login(people["superuser"])
        content = client.get("/admin/grids/area/export/?format=csv").content
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        fields = {value for row in rows for value in row}
        assert "'" + EVIL in fields and "'+86 532 1234567" in fields and "'@SUM(1)" in fields
        assert not [v for v in fields if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert "5000" in fields  # numbers are not quoted
        result = import_organisation(actor=None, rows=read_rows(csv_file(content.decode("utf-8-sig")), "org.csv"))
        assert sum(result.created.values()) == 0 and sum(result.updated.values()) == 0
        assert Department.objects.get(code="ZD-A").name == EVIL
