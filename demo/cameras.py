"""The demo district's 17,000 networked cameras (雪亮工程) and the video event types their alarms report.

Cameras are spread over the grids by population (the old town is watched more densely than the
villages), each at a point inside its grid's rectangle, from a fixed seed: a second run wants the
same rows and writes nothing.
"""

import random
from datetime import date, timedelta
from decimal import Decimal

from cases.models import Category, EventType
from grids.models import Area, Camera, CameraStatus

CAMERA_TOTAL = 17_000
# (code, name, responsibility-list entry): what the video platform's analysis reports.
EVENT_TYPES = [
    ("occupy_road", "占道经营", "0401"),
    ("garbage", "垃圾堆放", "0404"),
    ("crowd", "人员聚集", "0201"),
    ("illegal_parking", "车辆违停", "0301"),
    ("smoke_fire", "烟火", "0302"),
]
SPOTS = ["路口", "小区东门", "小区西门", "广场", "停车场", "菜市场", "学校门口", "主干道", "巷口", "公园"]
# A point this far (degrees, about a metre) inside the grid's edge is in that grid and no neighbour.
MARGIN = 0.00001
FIELDS = ["name", "latitude", "longitude", "grid_id", "status", "installed_at"]


def _shares(grids, total):
    """Cameras per grid in proportion to its population, rounded by largest remainder to ``total``."""
    population = sum(max(pop, 1) for _code, _name, _parent, pop in grids)
    exact = [total * max(pop, 1) / population for _code, _name, _parent, pop in grids]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(grids)), key=lambda i: (counts[i] - exact[i], i))[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _wanted(grids, boundaries, grid_ids):
    rng = random.Random(370702017)
    serial = 0
    for (code, name, _parent, _pop), count in zip(grids, _shares(grids, CAMERA_TOTAL), strict=True):
        west, south, east, north = boundaries[code]
        for n in range(1, count + 1):
            serial += 1
            roll = rng.random()
            status = (
                CameraStatus.RETIRED if roll < 0.01 else CameraStatus.OFFLINE if roll < 0.04 else CameraStatus.ONLINE
            )
            lng = rng.uniform(west + MARGIN, east - MARGIN)
            lat = rng.uniform(south + MARGIN, north - MARGIN)
            # GB/T 28181 style: centre 37070200, industry 00, type 132 (camera), serial.
            yield (
                f"3707020000132{serial:07d}",
                {
                    "name": f"{name}{SPOTS[n % len(SPOTS)]}{n:02d}号",
                    "latitude": Decimal(f"{lat:.6f}"),
                    "longitude": Decimal(f"{lng:.6f}"),
                    "grid_id": grid_ids[code],
                    "status": status,
                    "installed_at": date(2016, 1, 1) + timedelta(days=rng.randrange(3650)),
                },
            )


def seed_cameras(grids, boundaries) -> int:
    """Create or refresh the cameras; ``grids`` and ``boundaries`` as demo.district lays them out."""
    grid_ids = dict(Area.objects.filter(code__in=[g[0] for g in grids]).values_list("code", "pk"))
    existing = {c.code: c for c in Camera.objects.filter(code__startswith="3707020000132").only("code", *FIELDS)}
    to_create, to_update = [], []
    for code, wanted in _wanted(grids, boundaries, grid_ids):
        camera = existing.get(code)
        if camera is None:
            to_create.append(Camera(code=code, **wanted))
        elif any(getattr(camera, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(camera, k, v)
            to_update.append(camera)
    Camera.objects.bulk_create(to_create, batch_size=2000)
    if to_update:
        Camera.objects.bulk_update(to_update, FIELDS, batch_size=2000)
    return len(to_create) + len(to_update)


def seed_event_types() -> None:
    """The event types, created once: a mapping the district changed in the admin stays as it is."""
    categories = dict(
        Category.objects.filter(code__in=[c for _code, _name, c in EVENT_TYPES]).values_list("code", "pk")
    )
    for code, name, category in EVENT_TYPES:
        EventType.objects.get_or_create(code=code, defaults={"name": name, "category_id": categories[category]})
