import pytest


@pytest.mark.django_db
def test_healthz_reports_both_parts_up(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok" and body["status"] == "ok"


@pytest.mark.django_db
def test_healthz_names_the_broker_when_it_is_down(client, broker_down):
    response = client.get("/healthz/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")
    assert body["status"] == "down: broker"
