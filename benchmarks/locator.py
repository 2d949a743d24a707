"""Point → grid lookups per second of grids.locator.Locator on one core: the demo's 400 grids and 10,000 grids.

Run: DJANGO_SETTINGS_MODULE=gov_platform.settings .venv/bin/python benchmarks/locator.py
The polygons are built in memory (the demo's layout from demo.weicheng); no database is read.
"""

import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gov_platform.settings")

import django  # noqa: E402

django.setup()

from demo import weicheng  # noqa: E402
from grids.geometry import to_geojson  # noqa: E402
from grids.locator import Locator  # noqa: E402

LOOKUPS = 100_000


def demo_grids():
    rng = random.Random(370702)
    places = [place for _street, communities in weicheng.community_places(rng) for place in communities]
    doubles = 400 - len(places)  # as the demo: 400 grids over 255 communities
    return [rect for i, place in enumerate(places) for rect in weicheng.halves(place.rect, 2 if i < doubles else 1)]


def many_grids(n):
    return weicheng.split((weicheng.WEST, weicheng.SOUTH, weicheng.EAST, weicheng.NORTH), n, random.Random(1))


def measure(label, rects):
    locator = Locator((i, to_geojson(weicheng.polygon(r))) for i, r in enumerate(rects))
    rng = random.Random(7)
    points = [
        (rng.uniform(weicheng.WEST, weicheng.EAST), rng.uniform(weicheng.SOUTH, weicheng.NORTH)) for _ in range(LOOKUPS)
    ]
    start = time.perf_counter()
    found = sum(locator.grid_id_at(lng, lat) is not None for lng, lat in points)
    one = time.perf_counter() - start
    start = time.perf_counter()
    batch = locator.grid_ids_at([p[0] for p in points], [p[1] for p in points])
    many = time.perf_counter() - start
    assert sum(g is not None for g in batch) == found == LOOKUPS  # the grids tile the box
    print(f"{label}: {len(locator)} polygons; one at a time {LOOKUPS / one:,.0f}/s; batched {LOOKUPS / many:,.0f}/s")


if __name__ == "__main__":
    measure("demo district", demo_grids())
    measure("10,000 grids", many_grids(10_000))
