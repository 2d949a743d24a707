"""History rows of a case that are not transitions (the report, supervision, the rework limit).

Transitions are logged by django-fsm-log; these rows go into the same table so
the case has one timeline, with the acting user and a name from ``steps.EVENTS``.
"""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.utils import translation
from django_fsm_log.models import StateLog

from .models import Case


def district_words(make) -> str:
    """A history line the platform writes (not a person's comment), in the district's language.

    Every official of the district reads the same history, whatever language each chose for their own
    pages: a line written while an official who reads English acted must not be English for the rest."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(make())


def record_event(case: Case, name: str, *, actor, description: str, now, first: bool = False) -> StateLog:
    """``first``: the row that opens the history (the report), from no state."""
    return StateLog.objects.create(
        by=actor,
        source_state=None if first else case.status,
        state=case.status,
        transition=name,
        content_type=ContentType.objects.get_for_model(Case),
        object_id=case.pk,
        description=description,
        timestamp=now,
    )
