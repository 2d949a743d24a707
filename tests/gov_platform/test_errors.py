"""Domain errors mapped once: the API's exception handler and the form helper."""

import pytest
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from gov_platform.errors import StateConflict, add_service_errors


def _view(exc):
    class Raising(APIView):
        permission_classes = [AllowAny]
        authentication_classes = []

        def post(self, request):
            raise exc

    return Raising.as_view()


def _call(exc):
    return _view(exc)(APIRequestFactory().post("/x/", {}, format="json"))


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (ValidationError({"title": ["标题为空。"]}), 400, {"title": ["标题为空。"]}),
        (ValidationError("整体有误。"), 400, {"non_field_errors": ["整体有误。"]}),
        (ValidationError({"__all__": ["整体有误。"]}), 400, {"non_field_errors": ["整体有误。"]}),
        (PermissionDenied("不是你的步骤。"), 403, {"detail": "不是你的步骤。"}),
        (StateConflict("案件已变化。"), 409, {"detail": "案件已变化。"}),
    ],
)
def test_service_errors_become_api_responses(exc, status, body):
    response = _call(exc)
    response.render()
    assert response.status_code == status
    assert response.data == body


def test_a_bare_permission_denied_keeps_drfs_message():
    response = _call(PermissionDenied())
    assert response.status_code == 403 and response.data["detail"]


class _Form(forms.Form):
    description = forms.CharField()
    grid = forms.CharField()


def test_service_errors_land_on_their_form_fields():
    form = _Form({"description": "x", "grid": "y"})
    assert form.is_valid()
    add_service_errors(
        form,
        ValidationError({"title": ["太长。"], "grid": ["不在范围内。"], "other": ["别处。"]}),
        renamed={"title": "description"},
    )
    assert form.errors["description"] == ["太长。"]
    assert form.errors["grid"] == ["不在范围内。"]
    assert form.non_field_errors() == ["别处。"]
