"""The GeoReport v2 documents as plain data (lists and dicts), rendered to JSON or XML by ``renderers``.

Field names and order follow the specification's response tables. A service request never carries the
reporter, the contact or an internal comment: its description and address are published with any phone
number, ID number, email address or the contact's own name in them masked (gov_platform.masking).
"""

import functools
from types import SimpleNamespace

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from gov_platform.masking import redact_contacts

from .. import extensions
from ..models import TERMINAL_STATUSES, DeadlineUnit, Status
from .selectors import CLOSED, OPEN

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


def w3c(moment) -> str | None:
    """A date-time in the W3C profile of ISO 8601 with the district's offset: 2026-11-30T18:56:26+08:00."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def _span(limit: int, unit: str) -> str:
    if unit == DeadlineUnit.HOURS:
        return _("%(n)d hours") % {"n": limit}
    return _("%(n)d working days") % {"n": limit}


def _level(*limits) -> str:
    # A page repeats the few deadline pairs of the responsibility list: each worded once per language.
    return _level_in(get_language(), *limits)


def service_level(category) -> str:
    """What the responsibility list promises for the category, in words."""
    return _level(category.assess_limit, category.assess_unit, category.handle_limit, category.handle_unit)


@functools.lru_cache(maxsize=256)
def _level_in(language, assess_limit, assess_unit, handle_limit, handle_unit) -> str:
    return _("Accepted within %(assess)s, then handled within %(handle)s.") % {
        "assess": _span(assess_limit, assess_unit),
        "handle": _span(handle_limit, handle_unit),
    }


def service(category) -> dict:
    group = category.parent.name
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": _("%(group)s · %(name)s: %(level)s")
        % {"group": group, "name": category.name, "level": service_level(category)},
        # No service asks for attributes: a client never needs the definition call.
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(dict.fromkeys([category.name, group])),
        "group": group,
    }


def service_definition(category) -> dict:
    return {"service_code": category.code, "attributes": []}


def open311_status(status: str) -> str:
    return CLOSED if status in TERMINAL_STATUSES else OPEN


def expected_at(row):
    """The handling deadline (moved by an approved extension); none while handling is deferred."""
    return None if row["status"] == Status.SUSPENDED else row["handle_deadline"]


def service_request(row: dict, status_notes: str | None) -> dict:
    """The document of one case, from a row of selectors.REQUEST_COLUMNS."""
    closed = row["status"] in TERMINAL_STATUSES
    contact = (row["contact_name"], row["contact_phone"], row["contact_email"])
    latitude, longitude = row["latitude"], row["longitude"]
    # The clock note reads the state and the moved clock only (the public note names no request).
    clock = SimpleNamespace(
        status=row["status"],
        suspended_until=row["suspended_until"],
        extended_until=row["extended_until"],
        current_deadline=row["current_deadline"],
    )
    level = _level(
        row["category__assess_limit"],
        row["category__assess_unit"],
        row["category__handle_limit"],
        row["category__handle_unit"],
    )
    # The handling unit once the case is passed on; before that the community that accepts it.
    agency = row["handling_department__name"] or row["handling_area__name"] or row["grid__parent__name"]
    return {
        "service_request_id": row["number"],
        "status": open311_status(row["status"]),
        "status_notes": status_notes,
        "service_name": row["category__name"],
        "service_code": row["category__code"],
        "description": redact_contacts(row["description"], known=contact),
        "agency_responsible": agency or None,
        # A moved clock says so ("延期至 …", "暂缓办理，预计 …"); otherwise what the category promises.
        "service_notice": extensions.clock_note(clock, public=True) or level,
        "requested_datetime": w3c(row["reported_at"]),
        "updated_datetime": w3c(row["closed_at"] if closed and row["closed_at"] else row["updated_at"]),
        "expected_datetime": w3c(expected_at(row)),
        "address": redact_contacts(row["address"], known=contact) or None,
        # The platform keeps no address register or postal codes of its own.
        "address_id": None,
        "zipcode": None,
        "lat": float(latitude) if latitude is not None else None,
        "long": float(longitude) if longitude is not None else None,
        # media_url is left out: residents' photos are not published anywhere.
    }


CREATED_FIELDS = ("service_request_id", "service_notice", "account_id")


def created(case) -> dict:
    """The answer to POST requests: realtime, so the id and never a token (the specification: one or the other)."""
    return {
        "service_request_id": case.number,
        "service_notice": _("%(level)s Tracking code for the resident: %(code)s")
        % {"level": service_level(case.category), "code": case.tracking_code},
        "account_id": None,
    }


def created_again(stored) -> list[dict]:
    """A stored answer to POST requests (an Idempotency-Key replay) in the specification's field order:
    PostgreSQL's jsonb keeps keys in an order of its own."""
    return [{name: item.get(name) for name in CREATED_FIELDS} for item in stored]


def token(row: dict) -> dict:
    return {"service_request_id": row["number"], "token": row["tracking_code"]}


def error(code: int, description: str) -> dict:
    return {"code": code, "description": str(description)}


def discovery(endpoint_url: str, changeset: str) -> dict:
    return {
        "changeset": changeset,
        "contact": _("The district's grid governance centre answers questions about this API."),
        "key_service": _("The district registers external systems and issues their api_key in the back office."),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
