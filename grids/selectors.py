"""Reads of the organisation, always through a scope."""

from .models import Area, Department, PartyOrganization
from .orgfile import PARTY_KIND_LABELS, RECORD_TYPE_LABELS, TIER_LABELS


def organisation_records(*, scope):
    """The rows of the organisation file for everything ``scope`` sees, parents before children."""
    for area in scope.areas(Area.objects.select_related("parent").order_by("depth", "path")):
        yield {
            "type": RECORD_TYPE_LABELS["area"],
            "tier": TIER_LABELS[area.tier],
            "code": area.code,
            "name": area.name,
            "parent": area.parent.code if area.parent_id else "",
            "population": area.population,
            "households": area.households,
        }
    for department in scope.departments(Department.objects.select_related("area")):
        yield {
            "type": RECORD_TYPE_LABELS["department"],
            "code": department.code,
            "name": department.name,
            "parent": department.area.code,
            "phone": department.phone,
        }
    for party in scope.party_organizations(PartyOrganization.objects.select_related("area")):
        yield {
            "type": RECORD_TYPE_LABELS["party"],
            "tier": PARTY_KIND_LABELS[party.kind],
            "code": party.code,
            "name": party.name,
            "parent": party.area.code,
            "members": party.members,
            "head": party.secretary,
        }


def boundary_collection(areas, properties=None) -> dict:
    """A GeoJSON FeatureCollection of the areas that have a boundary: code, name and tier, and ``properties(area)``."""
    features = []
    for area in areas:
        if not area.boundary:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": area.boundary,
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "tier": area.tier,
                    **(properties(area) if properties else {}),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
