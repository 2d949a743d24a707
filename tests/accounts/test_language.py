"""The back office speaks the user's saved language (Simplified Chinese unless they switch), whatever
the browser sends; the API and the residents' pages keep following the client."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role


@pytest.fixture
def official(people):
    return people[Role.STREET_STAFF]


def test_an_english_browser_gets_the_chinese_back_office(official):
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "登录" in client.get("/admin/login/").content.decode()
    client.force_login(official)
    page = client.get("/admin/").content.decode()
    assert 'lang="zh-hans"' in page
    assert "English" in page  # the switch offers the other language


def test_the_switch_is_saved_on_the_user_and_follows_them_to_another_browser(official):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(official)
    response = client.post(reverse("switch-language"), {"language": "en", "next": "/admin/cases/case/"})
    assert response.status_code == 302 and response["Location"] == "/admin/cases/case/"
    assert User.objects.get(pk=official.pk).language == "en"

    other = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    other.force_login(official)
    page = other.get("/admin/").content.decode()
    assert 'lang="en"' in page and "简体中文" in page

    client.post(reverse("switch-language"), {"language": "zh-hans", "next": "/admin/"})
    assert User.objects.get(pk=official.pk).language == "zh-hans"


def test_the_switch_refuses_unknown_languages_foreign_redirects_and_get(official):
    client = Client()
    client.force_login(official)
    response = client.post(reverse("switch-language"), {"language": "xx", "next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:index")
    assert User.objects.get(pk=official.pk).language == ""  # nothing chosen: the platform's default
    assert client.get(reverse("switch-language")).status_code == 405


def test_the_switch_needs_the_csrf_token(official):
    client = Client(enforce_csrf_checks=True)
    client.force_login(official)
    assert client.post(reverse("switch-language"), {"language": "en"}).status_code == 403
    assert User.objects.get(pk=official.pk).language == ""


def test_the_api_still_follows_accept_language(official):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(official)
    assert client.get("/api/v1/cases/999999/").json()["detail"].isascii()


@pytest.mark.django_db
def test_resident_pages_are_chinese_whatever_the_browser_sends(client):
    page = client.get("/report/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "报告" in page or "反映" in page
    assert "Report a problem" not in page
    client.cookies["django_language"] = "en"  # the page's own language buttons
    assert "Report a problem" in client.get("/report/").content.decode()
