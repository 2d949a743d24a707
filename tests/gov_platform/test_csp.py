"""Content-Security-Policy on every page (django-csp): scripts only from our files or with the nonce."""

import re
from pathlib import Path

import pytest

from accounts.roles import Role

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(response):
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/login/", "/report/", "/api/docs/", "/public/", "/track/"])
def test_header_on_public_pages(client, url, tree):
    response = client.get(url)
    assert response.status_code == 200, url
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]


@pytest.mark.django_db
def test_header_on_admin_pages(client, people):
    client.force_login(people[Role.STREET_STAFF])
    for url in ["/admin/", "/admin/cases/case/", "/admin/accounts/user/"]:
        response = client.get(url)
        assert response.status_code == 200 and "script-src 'self'" in response["Content-Security-Policy"], url


@pytest.mark.django_db
def test_api_docs_load_their_script_as_a_file_and_nonce_their_style(client):
    page = client.get("/api/docs/")
    html = page.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in html
    assert "<script>" not in html  # every script has a src
    (script_url,) = re.findall(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html.replace("&amp;", "&"))
    script = client.get(script_url)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_no_template_has_inline_script_or_event_handler():
    """Every <script> in our templates has a src or a nonce; no on...= attributes."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if "emails" in path.parts:
            continue  # mail clients, not browsers on our origin
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and "nonce=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path}: {tag}")
        offenders += [f"{path}: {m}" for m in re.findall(r"<[^>]*\son[a-z]+\s*=", text)]
        offenders += [
            f"{path}: <style> without nonce" for tag in re.findall(r"<style\b[^>]*>", text) if "nonce=" not in tag
        ]
    assert offenders == []
