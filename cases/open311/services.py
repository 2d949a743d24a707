"""POST requests: a registered external system files a service request, as a case made by the one
create service (cases.services.create_case) under the system's scope.

The place: lat & long through the one locator (grids.locator), else address_id (the code of a grid or
a building), else address_string through grids.addresses. Errors name the specification's fields:
a ValidationError {field: message} (400), UnknownService (404), external.OutsideScope (403).
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from grids.addresses import grid_from_address
from grids.locator import grid_at_point
from grids.models import Area, Tier

from .. import external
from ..models import Case, ExternalSystem, Source
from ..services import create_case
from . import selectors

# The specification: a description is free text "limited to 4,000 characters".
DESCRIPTION_MAX = 4000
# create_case's field names as the specification calls them, for the errors a client reads.
OPEN311_FIELDS = {
    "category": "service_code",
    "description": "description",
    "address": "address_string",
    "contact_name": "last_name",
    "contact_phone": "phone",
    "contact_email": "email",
    "title": "description",
}


class UnknownService(Exception):
    """No public service has this code (404, as the specification says)."""


def _coordinate(field: str, text: str, limit: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not -limit <= value <= limit:
        raise ValidationError({field: _("A WGS84 coordinate between -%(n)d and %(n)d.") % {"n": limit}})
    return round(value, 6)


def locate(data) -> tuple[Area, float | None, float | None, str]:
    """(grid, lat, long, where the grid came from): lat & long first, then address_id, then address_string."""
    lat_text, long_text = data.get("lat", "").strip(), data.get("long", "").strip()
    if lat_text or long_text:
        if not (lat_text and long_text):
            missing = "long" if lat_text else "lat"
            raise ValidationError({missing: _("Send lat and long together.")})
        lat, lng = _coordinate("lat", lat_text, 90), _coordinate("long", long_text, 180)
        grid = grid_at_point(lat, lng)
        if grid is None:
            raise ValidationError({"lat": _("This point is not inside any grid of the district.")})
        return grid, lat, lng, "lat"
    address_id = data.get("address_id", "").strip()
    if address_id:
        area = (
            Area.objects.filter(code=address_id, tier__in=[Tier.GRID, Tier.BUILDING]).select_related("parent").first()
        )
        if area is None:
            raise ValidationError({"address_id": _("No grid or building has this code.")})
        return (area if area.tier == Tier.GRID else area.parent), None, None, "address_id"
    address = data.get("address_string", "").strip()
    if address:
        grid = grid_from_address(address)
        if grid is None:
            raise ValidationError(
                {"address_string": _("No grid of the district matches this address; send lat and long.")}
            )
        return grid, None, None, "address_string"
    raise ValidationError({"lat": _("Send lat and long, address_string or address_id.")})


def source_for(system: ExternalSystem, wanted: str) -> str:
    """The source named (an extension), else the first the system is registered with."""
    if wanted:
        if wanted not in Source.values:
            raise ValidationError({"source": _("Unknown source.")})
        return wanted
    if not system.sources:
        raise external.OutsideScope({"api_key": _("This system may not file cases with any source.")})
    return system.sources[0]


def _renamed(errors: dict, where: str) -> dict:
    renamed = {}
    for field, messages in errors.items():
        name = OPEN311_FIELDS.get(field, where if field in ("grid", "latitude", "longitude") else field)
        renamed.setdefault(name, messages)
    return renamed


@transaction.atomic
def file_request(*, system: ExternalSystem, data) -> Case:
    """File the service request ``data`` (the form fields as sent) for ``system``; nothing is saved on error."""
    code = data.get("service_code", "").strip()
    if not code:
        raise ValidationError({"service_code": _("Name the service (see services).")})
    category = selectors.public_service(code)
    if category is None:
        raise UnknownService(_("service_code: %(code)s was not found.") % {"code": code})
    description = data.get("description", "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationError({"description": _("At most %(n)d characters.") % {"n": DESCRIPTION_MAX}})
    grid, lat, lng, where = locate(data)
    source = source_for(system, data.get("source", "").strip())
    name = f"{data.get('last_name', '').strip()}{data.get('first_name', '').strip()}"
    try:
        return create_case(
            actor=system.service_user,
            title=f"{category.name}：{description[:40]}"[:100],
            description=description,
            category=category,
            grid=grid,
            source=source,
            address=data.get("address_string", "").strip(),
            latitude=lat,
            longitude=lng,
            contact_name=name,
            contact_phone=data.get("phone", "").strip(),
            contact_email=data.get("email", "").strip(),
            external_system=system,
            # Open311 names no id of the sender's own; the pair (system, external_id) must still be unique.
            external_id=f"open311:{uuid.uuid4().hex}",
        )
    except external.OutsideScope as exc:
        raise external.OutsideScope(_renamed(exc.errors, where)) from exc
    except ValidationError as exc:
        raise ValidationError(_renamed(exc.message_dict, where)) from exc
