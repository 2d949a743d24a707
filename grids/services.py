"""Writes to the organisation."""

import contextlib
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from shapely import STRtree
from shapely.validation import explain_validity

from .geometry import BoundaryError, degrees_for, repaired, square_metres, to_geojson, to_shape
from .models import (
    PARTY_KIND_TIER,
    TIER_ORDER,
    Area,
    Department,
    PartyOrganization,
    Tier,
    hierarchy_errors,
)
from .orgfile import PARTY_KIND_ALIASES, RECORD_TYPES, TIER_ALIASES, Row
from .signals import boundaries_changed, organisation_imported


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


class OrganisationImportError(Exception):
    def __init__(self, errors):
        self.errors = sorted(errors, key=lambda e: e.line)
        super().__init__("; ".join(f"{e.line}: {e.message}" for e in self.errors[:5]))


@dataclass
class ImportResult:
    created: dict = field(default_factory=lambda: {"area": 0, "department": 0, "party": 0})
    updated: dict = field(default_factory=lambda: {"area": 0, "department": 0, "party": 0})
    unchanged: int = 0


def _non_negative_int(raw, label, errors, line):
    if raw in ("", None):
        return 0
    try:
        value = int(str(raw).replace(",", ""))
    except ValueError:
        errors.append(
            RowError(line, _("%(field)s must be a whole number, not “%(value)s”.") % {"field": label, "value": raw})
        )
        return 0
    if value < 0:
        errors.append(RowError(line, _("%(field)s cannot be negative.") % {"field": label}))
    return value


def _validate_rows(rows, *, scope):
    """Parse and check every row; return the plan and the list of row errors."""
    errors: list[RowError] = []
    areas, departments, parties = {}, {}, {}
    seen = {}
    for row in rows:
        v, line = row.values, row.line
        kind = RECORD_TYPES.get(v.get("type", "").strip().lower()) or RECORD_TYPES.get(v.get("type", "").strip())
        code, name, parent = v.get("code", ""), v.get("name", ""), v.get("parent", "")
        if kind is None:
            errors.append(
                RowError(
                    line, _("Unknown type “%(value)s”: use area, department or party.") % {"value": v.get("type", "")}
                )
            )
            continue
        if not code:
            errors.append(RowError(line, _("The code is empty.")))
            continue
        if (kind, code) in seen:
            errors.append(
                RowError(
                    line,
                    _("Code %(code)s already appears on line %(other)d.") % {"code": code, "other": seen[(kind, code)]},
                )
            )
            continue
        seen[(kind, code)] = line
        if not name:
            errors.append(RowError(line, _("The name is empty.")))
        elif len(name) > 100:
            errors.append(RowError(line, _("The name is longer than 100 characters.")))
        if kind == "area":
            tier = TIER_ALIASES.get(v.get("tier", ""))
            if tier is None:
                errors.append(RowError(line, _("Unknown tier “%(value)s”.") % {"value": v.get("tier", "")}))
                continue
            if not code.isdigit():
                errors.append(RowError(line, _("An area code is digits only.")))
                continue
            areas[code] = {
                "line": line,
                "tier": tier,
                "name": name,
                "parent": parent or None,
                "population": _non_negative_int(v.get("population"), _("Population"), errors, line),
                "households": _non_negative_int(v.get("households"), _("Households"), errors, line),
            }
        elif kind == "department":
            if len(code) > 32:
                errors.append(RowError(line, _("The code is longer than 32 characters.")))
            departments[code] = {
                "code": code,
                "line": line,
                "name": name,
                "area": parent,
                "phone": v.get("phone", "")[:32],
            }
        else:
            party_kind = PARTY_KIND_ALIASES.get(v.get("tier", ""))
            if party_kind is None:
                errors.append(
                    RowError(line, _("Unknown party organisation kind “%(value)s”.") % {"value": v.get("tier", "")})
                )
                continue
            if len(code) > 32:
                errors.append(RowError(line, _("The code is longer than 32 characters.")))
            parties[code] = {
                "code": code,
                "line": line,
                "kind": party_kind,
                "name": name,
                "area": parent,
                "head": v.get("head", "")[:50],
                "members": _non_negative_int(v.get("members"), _("Party members"), errors, line),
            }

    referenced = set(areas) | {a["parent"] for a in areas.values() if a["parent"]}
    referenced |= {d["area"] for d in departments.values()} | {p["area"] for p in parties.values()}
    existing = {a.code: a for a in Area.objects.filter(code__in=referenced)}

    def tier_of(code):
        if code in areas:
            return areas[code]["tier"]
        return existing[code].tier if code in existing else None

    current_units = {
        "department": dict(Department.objects.filter(code__in=departments).values_list("code", "area__path")),
        "party": dict(PartyOrganization.objects.filter(code__in=parties).values_list("code", "area__path")),
    }
    paths: dict[str, str | None] = {}

    def path_of(code, trail=()):
        if code in paths:
            return paths[code]
        if code in areas:
            parent = areas[code]["parent"]
            if code in trail:
                return None
            parent_path = path_of(parent, (*trail, code)) if parent else ""
            paths[code] = None if parent_path is None else f"{parent_path}{code}/"
        else:
            paths[code] = existing[code].path if code in existing else None
        return paths[code]

    for code, plan in areas.items():
        line, parent = plan["line"], plan["parent"]
        if parent and tier_of(parent) is None:
            errors.append(RowError(line, _("Parent area %(code)s does not exist.") % {"code": parent}))
            continue
        problems = hierarchy_errors(
            tier=plan["tier"], code=code, parent_tier=tier_of(parent) if parent else None, parent_code=parent
        )
        if problems:
            errors.extend(RowError(line, str(message)) for message in problems.values())
            continue
        path = path_of(code)
        current = existing.get(code)
        if not _manages(scope, path) or (current and not _manages(scope, current.path)):
            errors.append(
                RowError(line, _("Area %(code)s is outside the part of the organisation you manage.") % {"code": code})
            )

    for label, plans in (("department", departments), ("party", parties)):
        for plan in plans.values():
            line, area_code = plan["line"], plan["area"]
            tier = tier_of(area_code) if area_code else None
            if tier is None:
                errors.append(RowError(line, _("Area %(code)s does not exist.") % {"code": area_code or "-"}))
                continue
            if label == "department" and tier not in (Tier.DISTRICT, Tier.STREET):
                errors.append(RowError(line, _("A department belongs to the district or a street.")))
                continue
            if label == "party" and tier != PARTY_KIND_TIER[plan["kind"]]:
                errors.append(
                    RowError(
                        line,
                        _("This kind of party organisation is attached to a %(tier)s.")
                        % {"tier": Tier(PARTY_KIND_TIER[plan["kind"]]).label},
                    )
                )
                continue
            path = path_of(area_code)
            if path is None or not _manages(scope, path, strictly_below=False):
                errors.append(
                    RowError(
                        line,
                        _("Area %(code)s is outside the part of the organisation you manage.") % {"code": area_code},
                    )
                )
                continue
            # A row also touches the record where it is now: moving or renaming
            # another unit's department or party organisation is not the importer's to do.
            current = current_units[label].get(plan["code"])
            if current is not None and not _manages(scope, current, strictly_below=False):
                errors.append(
                    RowError(
                        line,
                        _("%(code)s belongs to a part of the organisation you do not manage.") % {"code": plan["code"]},
                    )
                )
    return (areas, departments, parties), errors


@transaction.atomic
def import_organisation(*, actor, rows: list[Row], source: str = "") -> ImportResult:
    """Create or update areas, departments and party organisations from file rows.

    All or nothing: every row is checked first, and if any is wrong nothing is
    written and ``OrganisationImportError`` lists each bad row with its line.
    ``actor`` None means the system (management commands) with global scope;
    ``source`` names the file for the security audit log.
    """
    # The system (seed, commands) imports anywhere; grids sits below accounts and asks no scope of it.
    scope = actor.scope if actor is not None else None
    (areas, departments, parties), errors = _validate_rows(rows, scope=scope)
    if errors:
        raise OrganisationImportError(errors)

    result = ImportResult()
    by_code = {
        a.code: a
        for a in Area.objects.filter(
            code__in=set(areas)
            | {p["parent"] for p in areas.values() if p["parent"]}
            | {d["area"] for d in departments.values()}
            | {p["area"] for p in parties.values()}
        )
    }
    try:
        for code, plan in sorted(areas.items(), key=lambda item: TIER_ORDER.index(item[1]["tier"])):
            parent = by_code[plan["parent"]] if plan["parent"] else None
            wanted = {
                "tier": plan["tier"],
                "name": plan["name"],
                "parent_id": parent.pk if parent else None,
                "population": plan["population"],
                "households": plan["households"],
            }
            area = by_code.get(code)
            if area is None:
                area = Area(code=code, parent=parent, **{k: v for k, v in wanted.items() if k != "parent_id"})
                area.save()
                by_code[code] = area
                result.created["area"] += 1
            elif any(getattr(area, k) != v for k, v in wanted.items()):
                for k, v in wanted.items():
                    setattr(area, k, v)
                area.parent = parent
                area.save()
                result.updated["area"] += 1
            else:
                result.unchanged += 1
        _upsert(
            Department,
            departments,
            result,
            "department",
            lambda plan: {"name": plan["name"], "area_id": by_code[plan["area"]].pk, "phone": plan["phone"]},
        )
        _upsert(
            PartyOrganization,
            parties,
            result,
            "party",
            lambda plan: {
                "name": plan["name"],
                "kind": plan["kind"],
                "area_id": by_code[plan["area"]].pk,
                "secretary": plan["head"],
                "members": plan["members"],
            },
        )
    except (IntegrityError, ValidationError) as exc:
        raise OrganisationImportError([RowError(0, str(exc))]) from exc
    organisation_imported.send(
        sender=ImportResult,
        actor=actor,
        accepted=True,
        file=source,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
    )
    return result


def _upsert(model, plans, result, label, fields_of):
    existing = {obj.code: obj for obj in model.objects.filter(code__in=plans)}
    to_create, to_update = [], []
    for code, plan in plans.items():
        wanted = fields_of(plan)
        obj = existing.get(code)
        if obj is None:
            to_create.append(model(code=code, **wanted))
        elif any(getattr(obj, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(obj, k, v)
            to_update.append(obj)
        else:
            result.unchanged += 1
    model.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        model.objects.bulk_update(to_update, list(fields_of(next(iter(plans.values()))).keys()), batch_size=500)
    result.created[label] += len(to_create)
    result.updated[label] += len(to_update)


def _manages(scope, path, *, strictly_below=True) -> bool:
    return scope is None or scope.manages_path(path, strictly_below=strictly_below)


# A boundary may stray this far outside its parent and overlap its neighbours this much: surveys
# of two neighbouring units never agree to the centimetre.
BOUNDARY_PARENT_TOLERANCE_METRES = 2.0
BOUNDARY_OVERLAP_TOLERANCE_SQUARE_METRES = 50.0


def _feature_code(feature) -> str:
    properties = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(properties, dict):
        return ""
    for key in ("code", "编码", "代码"):
        if properties.get(key) not in (None, ""):
            return str(properties[key]).strip()
    return ""


def boundary_features(data) -> list:
    """The features of an uploaded GeoJSON document (a FeatureCollection or one Feature)."""
    if isinstance(data, dict) and data.get("type") == "FeatureCollection" and isinstance(data.get("features"), list):
        return data["features"]
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    raise OrganisationImportError(
        [RowError(0, _("The file is not GeoJSON: a FeatureCollection of polygons, each with its area code."))]
    )


@transaction.atomic
def import_boundaries(*, actor, features: list, source: str = "") -> int:
    """Record area boundaries from GeoJSON features (``properties.code`` names the area); returns how many changed.

    All or nothing: each feature must be a valid polygon of an area the actor manages,
    lie inside its parent's boundary and overlap none of its siblings (within the
    tolerances above); otherwise nothing is written and ``OrganisationImportError``
    lists every bad feature by its number (``line``) and code.
    """
    scope = actor.scope if actor is not None else None
    errors: list[RowError] = []
    codes = [_feature_code(f) for f in features]
    areas = {a.code: a for a in Area.objects.filter(code__in=[c for c in codes if c]).select_related("parent")}
    shapes, seen = {}, {}

    def bad(number, code, message):
        errors.append(RowError(number, f"{code or '-'}: {message}"))

    for number, (feature, code) in enumerate(zip(features, codes, strict=True), start=1):
        if not code:
            bad(number, code, _("The feature has no area code (properties.code)."))
            continue
        if code in seen:
            bad(
                number,
                code,
                _("Code %(code)s already appears in feature %(other)d.") % {"code": code, "other": seen[code]},
            )
            continue
        seen[code] = number
        area = areas.get(code)
        if area is None:
            bad(number, code, _("Area %(code)s does not exist.") % {"code": code})
            continue
        if not _manages(scope, area.path):
            bad(number, code, _("Area %(code)s is outside the part of the organisation you manage.") % {"code": code})
            continue
        try:
            geometry = to_shape(feature)
        except BoundaryError:
            bad(number, code, _("The geometry is not a polygon with readable coordinates."))
            continue
        if not geometry.is_valid:
            reason = explain_validity(geometry)
            if reason.startswith(("Self-intersection", "Ring Self-intersection")):
                message = _("The polygon's edges cross each other (%(where)s).")
            else:
                message = _("The polygon is not valid (%(where)s).")
            bad(number, code, message % {"where": reason.partition("[")[2].rstrip("]") or reason})
            continue
        shapes[code] = geometry

    # Parents and siblings as they will be: this file's shape where it has one, the stored one otherwise.
    parents = {a.parent.code: a.parent for code, a in areas.items() if code in shapes and a.parent_id}
    stored_siblings = Area.objects.filter(parent__code__in=parents, boundary__isnull=False).exclude(code__in=shapes)
    planned = {code: shapes[code] for code in shapes}
    for parent in parents.values():
        if parent.code not in planned and parent.boundary:
            with contextlib.suppress(BoundaryError):
                planned[parent.code] = repaired(to_shape(parent.boundary))
    siblings: dict[str, list] = {}
    for sibling in stored_siblings.values("code", "parent__code", "boundary"):
        try:
            siblings.setdefault(sibling["parent__code"], []).append(
                (sibling["code"], repaired(to_shape(sibling["boundary"])))
            )
        except BoundaryError:
            continue
    for code in shapes:
        area = areas[code]
        if area.parent_id:
            siblings.setdefault(area.parent.code, []).append((code, shapes[code]))

    for code, geometry in shapes.items():
        area = areas[code]
        parent_shape = planned.get(area.parent.code) if area.parent_id else None
        if parent_shape is not None:
            margin = degrees_for(BOUNDARY_PARENT_TOLERANCE_METRES, geometry.centroid.y)
            if not parent_shape.buffer(margin).covers(geometry):
                bad(
                    seen[code],
                    code,
                    _("The polygon reaches outside its parent %(parent)s.") % {"parent": area.parent.name},
                )

    for group in siblings.values():
        tree = STRtree([g for _c, g in group])
        for i, (code, geometry) in enumerate(group):
            if code not in shapes:
                continue
            for j in tree.query(geometry, predicate="intersects").tolist():
                other = group[j][0]
                if j == i or (other in shapes and j < i):
                    continue  # each pair within the file is reported once
                overlap = square_metres(geometry.intersection(group[j][1]))
                if overlap > BOUNDARY_OVERLAP_TOLERANCE_SQUARE_METRES:
                    bad(
                        seen[code],
                        code,
                        _("The polygon overlaps %(other)s by %(m2)d m².") % {"other": other, "m2": round(overlap)},
                    )
    if errors:
        raise OrganisationImportError(errors)

    changed = []
    for code, geometry in shapes.items():
        area, stored = areas[code], to_geojson(geometry)
        if area.boundary != stored:
            area.boundary = stored
            changed.append(area)
    Area.objects.bulk_update(changed, ["boundary"], batch_size=500)
    if changed:
        transaction.on_commit(boundaries_changed)
    organisation_imported.send(
        sender=ImportResult,
        actor=actor,
        accepted=True,
        file=source,
        boundaries=len(changed),
        unchanged=len(shapes) - len(changed),
    )
    return len(changed)
