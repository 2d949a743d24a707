"""Staff cannot file a case as a resident's self-report: that source belongs to the public form alone."""

import pytest
from django.core.exceptions import ValidationError

from accounts.roles import Role
from cases.models import Case, Source
from cases.services import create_case

ADD = "/admin/cases/case/add/"


def add_form(**changes):
    data = {
        "title": "井盖缺失",
        "description": "人行道井盖缺失",
        "grid": None,
        "source": "hotline",
        "priority": "normal",
    }
    return {**data, **changes}


@pytest.mark.django_db
class TestResidentSource:
    @pytest.mark.parametrize("who", [Role.GRID_WORKER, Role.DISTRICT_STAFF, "superuser"])
    def test_admin_add_form_does_not_offer_resident(self, client, people, who):
        client.force_login(people[who])
        form = client.get(ADD).context["adminform"].form
        offered = [value for value, _ in form.fields["source"].choices]
        assert Source.RESIDENT not in offered and Source.HOTLINE in offered

    @pytest.mark.parametrize("who", [Role.GRID_WORKER, "superuser"])
    def test_staff_cannot_file_a_case_with_source_resident(self, client, people, tree, categories, who):
        client.force_login(people[who])
        response = client.post(ADD, add_form(source="resident", category=categories["dispute"].pk, grid=tree.grid_a.pk))
        assert response.status_code == 200
        assert "source" in response.context["adminform"].form.errors
        assert not Case.objects.exists()
        # the same form with a staff source goes through
        response = client.post(ADD, add_form(category=categories["dispute"].pk, grid=tree.grid_a.pk))
        assert response.status_code == 302
        assert Case.objects.get().source == Source.HOTLINE

    def test_the_service_refuses_it_for_any_actor(self, people, tree, categories):
        for actor in (people[Role.GRID_WORKER], people["superuser"]):
            with pytest.raises(ValidationError) as refused:
                create_case(
                    actor=actor,
                    source=Source.RESIDENT,
                    title="x",
                    description="y",
                    category=categories["dispute"],
                    grid=tree.grid_a,
                )
            assert "source" in refused.value.message_dict
        assert not Case.objects.exists()

    def test_the_public_form_still_files_resident_reports(self, tree, categories):
        case = create_case(
            actor=None,
            source=Source.RESIDENT,
            title="x",
            description="y",
            category=categories["dispute"],
            grid=tree.grid_a,
        )
        assert (case.source, case.reporter) == (Source.RESIDENT, None)
