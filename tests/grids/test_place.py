"""Place: the demo district's polygons tile, the one locator finds every grid, addresses and boundary imports."""

import pytest
from django.utils import translation
from shapely.geometry import box
from shapely.ops import unary_union

from accounts.models import User
from demo import weicheng
from demo.district import seed_demo
from grids.addresses import grid_from_address
from grids.geometry import square_metres, to_shape
from grids.locator import current_locator, grid_at_point, grids_at_points, locate
from grids.models import Area, Tier
from grids.services import OrganisationImportError, import_boundaries
from metrics.selectors import staffing

pytestmark = pytest.mark.django_db


@pytest.fixture
def district():
    seed_demo()
    return Area.objects.get(code="370702")


def test_demo_is_weicheng_and_its_polygons_tile_without_gaps_or_overlaps(district):
    assert district.name == "潍城区"
    streets = list(Area.objects.filter(tier=Tier.STREET).values_list("name", flat=True))
    assert sorted(streets) == sorted(["城关街道", "南关街道", "西关街道", "北关街道", "于河街道", "望留街道"])
    names = list(Area.objects.filter(tier=Tier.COMMUNITY).values_list("name", flat=True))
    assert len(names) == len(set(names)) == 255
    assert all(n.endswith(("社区", "村")) and not n.endswith("村村") for n in names)
    old_town = Area.objects.get(name="城关街道")
    assert all(a.name.endswith("社区") for a in Area.objects.filter(tier=Tier.COMMUNITY, parent=old_town))
    assert Area.objects.filter(tier=Tier.COMMUNITY, name__endswith="村").count() > 100
    assert not Area.objects.filter(boundary__isnull=True).exists()

    shapes = {a.pk: (a.parent_id, to_shape(a.boundary)) for a in Area.objects.all()}
    children = {}
    for parent_id, shape in shapes.values():
        children.setdefault(parent_id, []).append(shape)
    assert box(weicheng.WEST, weicheng.SOUTH, weicheng.EAST, weicheng.NORTH).covers(shapes[district.pk][1])
    for parent_pk, (_grand, parent_shape) in shapes.items():
        parts = children.get(parent_pk)
        if not parts:
            continue
        union = unary_union(parts)
        # Tiling: the children's union is the parent (no gap), and their areas add up to it (no overlap).
        assert square_metres(union.symmetric_difference(parent_shape)) < 1
        assert abs(sum(p.area for p in parts) - parent_shape.area) < 1e-12


def test_every_demo_grid_centroid_locates_to_itself_and_edges_ask_to_confirm(district, django_assert_max_num_queries):
    grids = list(Area.objects.filter(tier=Tier.GRID).values_list("pk", "boundary"))
    assert len(grids) == 400
    locator = current_locator()
    assert len(locator) == 400
    for pk, boundary in grids:
        centre = to_shape(boundary).centroid
        assert locator.grid_id_at(centre.x, centre.y) == pk
    centres = [to_shape(b).centroid for _pk, b in grids]
    assert locator.grid_ids_at([c.x for c in centres], [c.y for c in centres]) == [pk for pk, _b in grids]

    pk, boundary = grids[0]
    shape = to_shape(boundary)
    with django_assert_max_num_queries(2):  # the index's version check, then the grids found
        inside = locate(shape.centroid.y, shape.centroid.x)
    assert inside.grid.pk == pk and not inside.ambiguous
    # A point 10 m inside the grid's east edge, where a neighbour begins: both are offered.
    west, south, east, north = shape.bounds
    near_edge = locate((south + north) / 2, east - 0.0001)
    assert near_edge.grid.pk == pk and near_edge.ambiguous
    assert all(n.tier == Tier.GRID and n.pk != pk for n in near_edge.nearby)
    assert grid_at_point(36.5, 119.1) is None  # south of the district
    # Many points at once (the hotspots' grids): the version check and one read, however many points.
    with django_assert_max_num_queries(2):
        found = grids_at_points([(c.y, c.x) for c in centres[:50]] + [(36.5, 119.1)])
    assert [g.pk for g in found[:50]] == [pk for pk, _b in grids[:50]] and found[50] is None
    assert grids_at_points([]) == []


def test_the_locator_follows_a_boundary_change_at_once(district, django_capture_on_commit_callbacks):
    grid = Area.objects.filter(tier=Tier.GRID).order_by("path").first()
    neighbour = Area.objects.filter(parent=grid.parent, tier=Tier.GRID).exclude(pk=grid.pk).first()
    assert neighbour is not None, "the first community of the old town has two grids"
    centre = to_shape(grid.boundary).centroid
    assert grid_at_point(centre.y, centre.x) == grid
    # The two grids swap their polygons (an import correcting a survey); the version moves on commit.
    with django_capture_on_commit_callbacks(execute=True):
        import_boundaries(
            actor=None,
            features=[
                {"type": "Feature", "properties": {"code": grid.code}, "geometry": neighbour.boundary},
                {"type": "Feature", "properties": {"code": neighbour.code}, "geometry": grid.boundary},
            ],
        )
    assert grid_at_point(centre.y, centre.x) == neighbour


def test_address_lookup_normalises_and_matches_road_and_nearest_number(district):
    building = Area.objects.get(tier=Tier.BUILDING, name="胜利街12号")
    assert grid_from_address("胜利街12号") == building.parent
    assert grid_from_address("山东省潍坊市潍城区 胜利街１２号3单元") == building.parent
    # No building is numbered 13: the nearest number on the same road decides.
    assert grid_from_address("胜利街13号") == building.parent
    assert grid_from_address("东风社区胜利街11号") == building.parent
    village_lane = Area.objects.filter(tier=Tier.BUILDING, parent__parent__name__endswith="村").first()
    assert grid_from_address(f"{village_lane.name}5号") == village_lane.parent
    assert grid_from_address("火星路1号") is None


def test_demo_populations_mostly_meet_the_staffing_standard(district):
    admin = User.objects.get(username="admin")
    report = staffing(user=admin, area=district)
    below = report.gaps
    assert 3 <= len(below) <= 15
    assert report.total.compliant


def test_demo_categories_residents_may_report(district):
    from cases.models import Category

    hidden = set(Category.objects.filter(parent__isnull=False, public=False).values_list("name", flat=True))
    assert {
        "严重精神障碍患者",
        "刑满释放人员",
        "矫正对象脱管",
        "矫正对象日常报告",
        "吸毒人员帮教",
        "邪教活动线索",
    } == hidden


def _feature(code, geometry):
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


def test_a_bad_boundary_file_is_refused_whole_with_each_feature_named(district):
    street = Area.objects.get(name="城关街道")
    one, two = Area.objects.filter(parent=street).order_by("code")[:2]
    before = dict(Area.objects.values_list("code", "boundary"))
    w, s, e, n = to_shape(one.boundary).bounds
    bow_tie = {"type": "Polygon", "coordinates": [[[w, s], [e, n], [e, s], [w, n], [w, s]]]}
    far_away = {"type": "Polygon", "coordinates": [[[120, 37], [120.01, 37], [120.01, 37.01], [120, 37]]]}
    grown = box(w, s, e + (e - w) / 2, n)  # reaches half into its neighbour
    good = two.boundary
    features = [
        _feature(one.code, bow_tie),
        _feature(two.code, far_away),
        _feature("370702001999", good),
        {"type": "Feature", "properties": {}, "geometry": good},
        _feature(street.code, {"type": "Point", "coordinates": [119.1, 36.7]}),
    ]
    with pytest.raises(OrganisationImportError) as refused, translation.override("en"):
        import_boundaries(actor=None, features=features)
    lines = {e.line: e.message for e in refused.value.errors}
    assert set(lines) == {1, 2, 3, 4, 5}
    assert one.code in lines[1] and "edges cross" in lines[1]
    assert two.code in lines[2]
    assert "370702001999" in lines[3]

    from grids.geometry import to_geojson

    with pytest.raises(OrganisationImportError) as overlapping:
        import_boundaries(actor=None, features=[_feature(one.code, to_geojson(grown))])
    assert [e.line for e in overlapping.value.errors] == [1]
    assert two.code in overlapping.value.errors[0].message
    assert dict(Area.objects.values_list("code", "boundary")) == before


def test_a_street_official_imports_boundaries_only_below_their_street(district):
    official = User.objects.get(username="street1")
    own = Area.objects.filter(parent__code="370702001").order_by("code").first()
    other = Area.objects.filter(parent__code="370702002").order_by("code").first()
    street = Area.objects.get(code="370702001")
    with pytest.raises(OrganisationImportError) as refused:
        import_boundaries(
            actor=official,
            features=[
                _feature(own.code, own.boundary),
                _feature(other.code, other.boundary),
                _feature(street.code, street.boundary),
            ],
        )
    assert [e.line for e in refused.value.errors] == [2, 3]
    assert import_boundaries(actor=official, features=[_feature(own.code, own.boundary)]) == 0


def test_boundaries_upload_in_the_organisation_import_page(district, client):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    official = User.objects.get(username="street1")
    client.force_login(official)
    own = Area.objects.filter(parent__code="370702001").order_by("code").first()
    other = Area.objects.filter(parent__code="370702002").order_by("code").first()

    def upload(features):
        data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
        return client.post(
            "/admin/grids/area/import/", {"file": SimpleUploadedFile("boundaries.geojson", data)}, follow=False
        )

    refused = upload([_feature(own.code, own.boundary), _feature(other.code, other.boundary)])
    assert refused.status_code == 400
    assert other.code in refused.content.decode() and own.code not in refused.content.decode().split("import-errors")[1]
    assert (
        client.post("/admin/grids/area/import/", {"file": SimpleUploadedFile("b.geojson", b"{not json")}).status_code
        == 400
    )
    moved = box(*to_shape(own.boundary).bounds).buffer(-0.0001)
    from grids.geometry import to_geojson

    accepted = upload([_feature(own.code, to_geojson(moved))])
    assert accepted.status_code == 302
    own.refresh_from_db()
    assert to_shape(own.boundary).equals(moved)
