"""The officials' map and the hotspots at volume, read-only (it never writes to the database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_1m .venv/bin/python benchmarks/maps.py

Times the map's data view as the browser asks for it — the first view of the district (grids, safety
index, hotspots, cells at zoom 12), a moving view at zoom 14 (cells only), a street at the detail zoom
(dots in a bounding box) — and the hotspots of the district and of one street, as the district's
superuser; prints ms per view (median and worst of RUNS) and the number of features, and writes
benchmarks/results/maps.json.
"""

import json
import statistics
import time

from _setup import ROOT, setup

setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from cases.hotspots import hotspots  # noqa: E402
from cases.models import Case  # noqa: E402
from grids.geometry import to_shape  # noqa: E402
from grids.models import Area, Tier  # noqa: E402
from metrics.maps import map_data  # noqa: E402

RUNS = 5


def timed(fn, runs=RUNS):
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}, result


def main():
    user = get_user_model().objects.filter(is_superuser=True).first()
    district = Area.objects.get(tier=Tier.DISTRICT)
    street = Area.objects.filter(tier=Tier.STREET).order_by("path").first()
    factory = RequestFactory()
    rows = {"cases": Case.objects.count()}

    def view(**params):
        def call():
            request = factory.get("/admin/map/data.geojson", params)
            request.user = user
            return json.loads(map_data(request).content)

        with CaptureQueriesContext(connection) as queries:
            figures, data = timed(call)
        figures["features"] = len(data["features"])
        figures["queries"] = len(queries) // RUNS
        return figures

    centre = to_shape(street.boundary).centroid
    mid_lng, mid_lat = centre.x, centre.y
    bbox = f"{mid_lng - 0.004},{mid_lat - 0.003},{mid_lng + 0.004},{mid_lat + 0.003}"
    rows["district first view (grids, safety, hotspots, cells z12)"] = view(area=district.code, zoom="12")
    # What the browser sends when it moves at zoom 14: the view's box, about 0.12° × 0.06° on a 1400 × 900 screen.
    z14 = f"{mid_lng - 0.06},{mid_lat - 0.03},{mid_lng + 0.06},{mid_lat + 0.03}"
    rows["district all states, moving (cells z14, the last 30 days by default)"] = view(
        area=district.code, zoom="14", grids="0", status="all", bbox=z14
    )
    # The same with the period cleared on purpose: every case in view, however old.
    rows["district all states, every case, moving (cells z14)"] = view(
        area=district.code, zoom="14", grids="0", status="all", bbox=z14, **{"from": ""}
    )
    rows["district open, moving (cells z14)"] = view(area=district.code, zoom="14", grids="0", bbox=z14)
    rows["street detail (dots in view z17)"] = view(area=street.code, zoom="17", grids="0", bbox=bbox, status="all")
    for label, area in (("district", district), ("street", street)):
        figures, found = timed(lambda area=area: hotspots(user=user, area_path=area.path))
        figures["hotspots"] = len(found)
        rows[f"hotspots of the {label}"] = figures
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "maps.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    print(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
