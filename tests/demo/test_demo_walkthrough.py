"""The README's demo walk-through, step by step with the printed logins, in the admin."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cases.models import Case, Category
from demo.district import DEMO_PASSWORD, seed_demo
from grids.models import Area


def photo():
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 90, 200)).save(buffer, format="JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")


def login(client, username):
    client.logout()
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{username} could not log in"


def step(client, case, name, data):
    response = client.post(f"/admin/cases/case/{case.pk}/transition/{name}/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    case.refresh_from_db()
    return case


@pytest.mark.django_db
def test_walk_a_case_through_every_stage_with_the_demo_logins(client):
    seed_demo()
    grid = Area.objects.get(code="370702001001001")
    category = Category.objects.get(code="0404")  # 乱堆乱放: handled by the community
    login(client, "grid001")
    response = client.post(
        "/admin/cases/case/add/",
        {
            "title": "楼道堆放杂物",
            "description": "3号楼2单元楼道堆放纸箱，堵塞通道",
            "category": category.pk,
            "grid": grid.pk,
            "address": "金湖路3号楼",
            "source": "grid_patrol",
            "priority": "normal",
            "contact_name": "李女士",
            "contact_phone": "13800001111",
            "photos": [photo()],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    case = Case.objects.get(title="楼道堆放杂物")

    login(client, "community001")
    assert case.pk in {c.pk for c in client.get("/admin/cases/case/").context["cl"].result_list}
    step(client, case, "assess", {"comment": "情况属实"})
    step(client, case, "assign", {})  # the responsibility list's default: the community
    assert case.handling_area.code == "370702001001"
    step(client, case, "handle", {"result": "已联系物业清理完毕", "photos": [photo()]})
    step(client, case, "reject", {"comment": "仍有部分杂物"})
    assert case.rework_count == 1
    step(client, case, "handle", {"result": "全部清理", "photos": [photo()]})
    step(client, case, "feed_back", {"comment": "现场核查通过"})
    step(client, case, "rate", {"rating": "satisfied", "rating_comment": "电话回访满意"})
    assert case.status == "rated" and case.rated_by_phone

    login(client, "street1")
    history = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    # The timeline names the steps in Chinese, with who and from → to (never the raw step names).
    assert "核查反馈" in history and "核查不通过" in history and "已处置 → 已派遣" in history

    login(client, "street2")
    assert client.get(f"/admin/cases/case/{case.pk}/change/").status_code == 302  # another street: not found
