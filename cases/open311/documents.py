"""The GeoReport v2 documents as plain data (lists and dicts), rendered to JSON or XML by ``renderers``.

Field names and order follow the specification's response tables. A service request never carries the
reporter, the contact or an internal comment: its description and address are published with any phone
number, ID number, email address or the contact's own name in them masked (gov_platform.masking).
"""

from django.utils import timezone
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


def service_level(category) -> str:
    """What the responsibility list promises for the category, in words."""
    return _("Accepted within %(assess)s, then handled within %(handle)s.") % {
        "assess": _span(category.assess_limit, category.assess_unit),
        "handle": _span(category.handle_limit, category.handle_unit),
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


def agency_responsible(case) -> str:
    """The handling unit once the case is passed on; before that the community that accepts it."""
    unit = case.handling_department or case.handling_area or case.grid.parent
    return unit.name if unit else ""


def expected_at(case):
    """The handling deadline (moved by an approved extension); none while handling is deferred."""
    if case.status == Status.SUSPENDED:
        return None
    return case.handle_deadline


def service_request(case, status_notes: str | None) -> dict:
    closed = case.status in TERMINAL_STATUSES
    contact = (case.contact_name, case.contact_phone, case.contact_email)
    latitude, longitude = case.latitude, case.longitude
    return {
        "service_request_id": case.number,
        "status": open311_status(case.status),
        "status_notes": status_notes,
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": redact_contacts(case.description, known=contact),
        "agency_responsible": agency_responsible(case) or None,
        # A moved clock says so ("延期至 …", "暂缓办理，预计 …"); otherwise what the category promises.
        "service_notice": extensions.clock_note(case, public=True) or service_level(case.category),
        "requested_datetime": w3c(case.reported_at),
        "updated_datetime": w3c(case.closed_at if closed and case.closed_at else case.updated_at),
        "expected_datetime": w3c(expected_at(case)),
        "address": redact_contacts(case.address, known=contact) or None,
        # The platform keeps no address register or postal codes of its own.
        "address_id": None,
        "zipcode": None,
        "lat": float(latitude) if latitude is not None else None,
        "long": float(longitude) if longitude is not None else None,
        # media_url is left out: residents' photos are not published anywhere.
    }


def created(case) -> dict:
    """The answer to POST requests: realtime, so the id and never a token (the specification: one or the other)."""
    return {
        "service_request_id": case.number,
        "service_notice": _("%(level)s Tracking code for the resident: %(code)s")
        % {"level": service_level(case.category), "code": case.tracking_code},
        "account_id": None,
    }


def token(case) -> dict:
    return {"service_request_id": case.number, "token": case.tracking_code}


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
