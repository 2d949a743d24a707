"""The camera register: where a camera stands and which grid it serves, saved one at a time or from a file.

The camera file (Excel or CSV, Chinese or English header), one camera per row:

    编码 code            the code the video platform names the camera by (unique)
    名称 name
    纬度 latitude, 经度 longitude   WGS 84 degrees
    网格编码 grid        optional: found from the point by the locator when empty
    状态 status          在线 / 离线 / 停用 (online / offline / retired); empty is online
    安装日期 installed_at  YYYY-MM-DD, optional

An import is all or nothing: every row is checked first (the place against the district's and
the grid's boundaries, the scope of the importing official), and one bad row refuses the file
with every bad row named by its line.
"""

import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from openpyxl import Workbook
from shapely.geometry import Point

from gov_platform.spreadsheets import csv_writer, is_formula_like, new_sheet

from .geometry import BoundaryError, to_shape
from .locator import current_locator
from .models import Area, Camera, CameraStatus, Tier
from .orgfile import Row, read_rows
from .services import RowError
from .signals import organisation_imported

COLUMNS = [
    ("code", "编码"),
    ("name", "名称"),
    ("latitude", "纬度"),
    ("longitude", "经度"),
    ("grid", "网格编码"),
    ("status", "状态"),
    ("installed_at", "安装日期"),
]
REQUIRED_COLUMNS = 4
STATUS_ALIASES = {
    **{s.value: s.value for s in CameraStatus},
    "在线": CameraStatus.ONLINE,
    "离线": CameraStatus.OFFLINE,
    "停用": CameraStatus.RETIRED,
    "已停用": CameraStatus.RETIRED,
    "报废": CameraStatus.RETIRED,
}
STATUS_LABELS = {CameraStatus.ONLINE: "在线", CameraStatus.OFFLINE: "离线", CameraStatus.RETIRED: "停用"}
# A camera surveyed a few metres across its grid's edge still belongs to the grid the file names.
GRID_EDGE_TOLERANCE_METRES = 10.0


class CameraImportError(Exception):
    def __init__(self, errors):
        self.errors = sorted(errors, key=lambda e: e.line)
        super().__init__("; ".join(f"{e.line}: {e.message}" for e in self.errors[:5]))


@dataclass
class CameraImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def read_camera_rows(uploaded, filename: str) -> list[Row]:
    """The rows of a camera file; ``OrgFileError`` when the file as a whole cannot be read."""
    return read_rows(uploaded, filename, columns=COLUMNS, required=REQUIRED_COLUMNS)


# --- the place -----------------------------------------------------------------


class _Places:
    """The district's outline and the locator, read once for a whole file."""

    def __init__(self):
        self.locator = current_locator()
        self.districts = []
        for boundary in Area.objects.filter(tier=Tier.DISTRICT, boundary__isnull=False).values_list(
            "boundary", flat=True
        ):
            try:
                self.districts.append(to_shape(boundary))
            except BoundaryError:
                continue
        self.bounded_grids = set(self.locator.ids.tolist())

    def in_district(self, lng, lat) -> bool:
        if not self.districts:
            return True  # no recorded outline: nothing to check against
        point = Point(lng, lat)
        return any(shape.covers(point) for shape in self.districts)

    def errors(self, lat, lng, grid, *, located=None):
        """(grid, {field: message}) for a camera at the point, in ``grid`` if named (else the grid found there)."""
        if not self.in_district(lng, lat):
            return grid, {"latitude": _("The point lies outside the district.")}
        if grid is None:
            found = located if located is not None else self.locator.grid_id_at(lng, lat)
            if found is None:
                return None, {"grid": _("No grid holds this point: name the grid.")}
            return Area.objects.get(pk=found) if located is None else found, {}
        if grid.pk in self.bounded_grids and grid.pk not in self.locator.grid_ids_near(
            lng, lat, GRID_EDGE_TOLERANCE_METRES
        ):
            return grid, {"grid": _("The point lies outside the grid %(grid)s.") % {"grid": grid.name}}
        return grid, {}


def coordinate(raw, *, field):
    """A latitude or longitude from text; ValueError with a message for a person when it is none."""
    bound, label = (90, _("Latitude")) if field == "latitude" else (180, _("Longitude"))
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value) > bound:
        raise ValueError(
            _("%(field)s “%(value)s” is not a number between -%(n)d and %(n)d.")
            % {"field": label, "value": raw, "n": bound}
        )
    return value.quantize(Decimal("0.000001"))


def place_camera(*, latitude, longitude, grid=None) -> Area:
    """The grid a camera at the point belongs to: ``grid`` when the point lies in it, else the grid found there.

    Raises ValidationError naming the field: outside the district, outside the named grid, or no grid there."""
    if grid is not None and grid.tier != Tier.GRID:
        raise ValidationError({"grid": _("A camera belongs to a grid.")})
    grid, errors = _Places().errors(float(latitude), float(longitude), grid)
    if errors:
        raise ValidationError(errors)
    return grid


def _manages(actor, path) -> bool:
    # The system (seed, commands) places cameras anywhere; grids sits below accounts and asks no scope of it.
    return actor is None or actor.scope.manages_path(path)


@transaction.atomic
def save_camera(*, actor, camera: Camera) -> Camera:
    """Save one camera as ``actor``: placed in its grid (found from the point when not given) inside the
    actor's part of the organisation, and taken from there only by someone who manages it there too."""
    if is_formula_like(camera.name):
        raise ValidationError({"name": _("The name starts like a spreadsheet formula (=, +, -, @).")})
    if camera.pk is not None:
        stored = Camera.objects.select_related("grid").filter(pk=camera.pk).first()
        if stored is not None and not _manages(actor, stored.grid.path):
            raise PermissionDenied(_("This camera belongs to a part of the organisation you do not manage."))
    camera.grid = place_camera(
        latitude=camera.latitude, longitude=camera.longitude, grid=camera.grid if camera.grid_id else None
    )
    if not _manages(actor, camera.grid.path):
        raise ValidationError({"grid": _("This grid is outside the part of the organisation you manage.")})
    camera.full_clean()
    camera.save()
    return camera


# --- the file ------------------------------------------------------------------


def _installed(raw):
    if not raw:
        return None
    text = str(raw).strip()
    for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
        try:
            return parse(text)
        except ValueError:
            continue
    raise ValueError(_("The installation date “%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw})


def _check_rows(rows, *, actor):
    errors: list[RowError] = []
    plans, seen = {}, {}
    code_field = Camera._meta.get_field("code")
    grid_codes = {r.values.get("grid", "") for r in rows} - {""}
    grids = {a.code: a for a in Area.objects.filter(code__in=grid_codes)}
    for row in rows:
        v, line = row.values, row.line
        code, name = v.get("code", ""), v.get("name", "")
        if not code:
            errors.append(RowError(line, _("The code is empty.")))
            continue
        if code in seen:
            errors.append(
                RowError(
                    line, _("Code %(code)s already appears on line %(other)d.") % {"code": code, "other": seen[code]}
                )
            )
            continue
        seen[code] = line
        problems = []
        try:
            for validate in code_field.validators:
                validate(code)
        except ValidationError as exc:
            problems.extend(exc.messages)
        if not name:
            problems.append(_("The name is empty."))
        elif len(name) > 100:
            problems.append(_("The name is longer than 100 characters."))
        elif is_formula_like(name):
            problems.append(_("The name starts like a spreadsheet formula (=, +, -, @)."))
        plan = {"line": line, "name": name}
        for field in ("latitude", "longitude"):
            try:
                plan[field] = coordinate(v.get(field, ""), field=field)
            except ValueError as exc:
                problems.append(str(exc))
        status_raw = v.get("status", "")
        plan["status"] = STATUS_ALIASES.get(status_raw.strip().lower() or CameraStatus.ONLINE)
        if plan["status"] is None:
            problems.append(_("Unknown status “%(value)s”: use 在线, 离线 or 停用.") % {"value": status_raw})
        try:
            plan["installed_at"] = _installed(v.get("installed_at", ""))
        except ValueError as exc:
            problems.append(str(exc))
        grid_code = v.get("grid", "")
        plan["grid"] = grids.get(grid_code) if grid_code else None
        if grid_code and plan["grid"] is None:
            problems.append(_("Grid %(code)s does not exist.") % {"code": grid_code})
        elif plan["grid"] is not None and plan["grid"].tier != Tier.GRID:
            problems.append(_("%(code)s is not a grid.") % {"code": grid_code})
        if problems:
            errors.extend(RowError(line, str(p)) for p in problems)
            continue
        plans[code] = plan

    # Where each camera lands: the named grid checked against its outline, or the grid found at the point
    # (one vectorised query for the whole file).
    places = _Places()
    unnamed = [code for code, plan in plans.items() if plan["grid"] is None]
    found_ids = places.locator.grid_ids_at(
        [float(plans[c]["longitude"]) for c in unnamed], [float(plans[c]["latitude"]) for c in unnamed]
    )
    found = Area.objects.in_bulk([pk for pk in found_ids if pk is not None])
    located = {code: found.get(pk) for code, pk in zip(unnamed, found_ids, strict=True) if pk is not None}
    current = {c.code: c for c in Camera.objects.filter(code__in=plans).select_related("grid")}
    for code, plan in list(plans.items()):
        line = plan["line"]
        grid, problems = places.errors(
            float(plan["latitude"]),
            float(plan["longitude"]),
            plan["grid"],
            located=located.get(code) if plan["grid"] is None else None,
        )
        if problems:
            errors.extend(RowError(line, str(m)) for m in problems.values())
            del plans[code]
            continue
        plan["grid"] = grid
        if not _manages(actor, grid.path):
            errors.append(
                RowError(
                    line, _("Grid %(code)s is outside the part of the organisation you manage.") % {"code": grid.code}
                )
            )
            continue
        stored = current.get(code)
        if stored is not None and not _manages(actor, stored.grid.path):
            errors.append(
                RowError(line, _("%(code)s belongs to a part of the organisation you do not manage.") % {"code": code})
            )
    return plans, current, errors


FIELDS = ["name", "latitude", "longitude", "grid_id", "status", "installed_at"]


@transaction.atomic
def import_cameras(*, actor, rows: list[Row], source: str = "") -> CameraImportResult:
    """Create or update the cameras of a file; all or nothing (``CameraImportError`` lists every bad row)."""
    plans, current, errors = _check_rows(rows, actor=actor)
    if errors:
        raise CameraImportError(errors)
    result = CameraImportResult()
    to_create, to_update = [], []
    for code, plan in plans.items():
        wanted = {**{k: plan[k] for k in FIELDS if k != "grid_id"}, "grid_id": plan["grid"].pk}
        camera = current.get(code)
        if camera is None:
            to_create.append(Camera(code=code, **wanted))
        elif any(getattr(camera, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(camera, k, v)
            to_update.append(camera)
        else:
            result.unchanged += 1
    try:
        Camera.objects.bulk_create(to_create, batch_size=1000)
        if to_update:
            Camera.objects.bulk_update(to_update, [*FIELDS, "updated_at"], batch_size=1000)
    except IntegrityError as exc:  # another import created one of these codes meanwhile
        raise CameraImportError([RowError(0, _("Another import changed these cameras meanwhile; try again."))]) from exc
    result.created, result.updated = len(to_create), len(to_update)
    organisation_imported.send(
        sender=CameraImportResult,
        actor=actor,
        accepted=True,
        file=source,
        created={"camera": result.created},
        updated={"camera": result.updated},
        unchanged=result.unchanged,
    )
    return result


def camera_records(cameras):
    """The rows of the camera file for ``cameras`` (already scoped by the caller)."""
    for camera in cameras.select_related("grid").order_by("code").iterator(chunk_size=2000):
        yield {
            "code": camera.code,
            "name": camera.name,
            "latitude": str(camera.latitude),
            "longitude": str(camera.longitude),
            "grid": camera.grid.code,
            "status": STATUS_LABELS[camera.status],
            "installed_at": camera.installed_at.isoformat() if camera.installed_at else "",
        }


def write_xlsx(records) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "摄像头")
    sheet.append([zh for _key, zh in COLUMNS])
    for record in records:
        sheet.append([record.get(key, "") for key, _zh in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_csv(records) -> bytes:
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow([zh for _key, zh in COLUMNS])
    for record in records:
        writer.writerow([record.get(key, "") for key, _zh in COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
