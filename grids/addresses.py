"""From an address as people write it to the grid: names of areas in it, else the road and the nearest house number."""

import re
import unicodedata

from .models import Area, Tier

DEPTH = {Tier.COMMUNITY: 0, Tier.GRID: 1, Tier.BUILDING: 2}
# What people put before the part that matters: province, city and district names.
# "社区", "小区", "园区" and the like are places in the district, not the district: they stay.
PREFIX = re.compile(
    r"^(?:[\u4e00-\u9fff]{2,3}省)?(?:[\u4e00-\u9fff]{2,3}市)?(?:[\u4e00-\u9fff]{1,2}(?<![社小园片景校营])区)?"
)
# A road and a house number: "胜利街12号", "东关大街3-1号", "曹家巷 7".
ROAD_NUMBER = re.compile(r"([\u4e00-\u9fff]{1,8}?(?:大街|大道|路|街|巷|胡同|里))(\d+)")


def normalise(address: str) -> str:
    """Full-width digits and letters to plain ones, no spaces, no province/city/district in front."""
    text = "".join(unicodedata.normalize("NFKC", address or "").split())
    return PREFIX.sub("", text) or text


def road_and_number(text: str) -> tuple[str, int] | None:
    match = ROAD_NUMBER.search(text)
    return (match.group(1), int(match.group(2))) if match else None


def grid_from_address(address: str) -> Area | None:
    """The grid an address names: an area whose name it contains (the longest wins, so a grid beats its
    community), else a building on the same road with the nearest house number; None when unsure."""
    text = normalise(address)
    if len(text) < 2:
        return None
    areas = list(
        Area.objects.filter(tier__in=[Tier.COMMUNITY, Tier.GRID, Tier.BUILDING]).values_list(
            "pk", "name", "tier", "path", "parent_id"
        )
    )
    found = sorted(
        (a for a in areas if len(a[1]) >= 2 and normalise(a[1]) in text),
        key=lambda a: (len(a[1]), DEPTH[a[2]]),
        reverse=True,
    )
    for pk, _name, tier, path, parent_id in found:
        if tier == Tier.GRID:
            return Area.objects.get(pk=pk)
        if tier == Tier.BUILDING:
            return Area.objects.get(pk=parent_id)
        grids = [a[0] for a in areas if a[2] == Tier.GRID and a[3].startswith(path)]
        if len(grids) == 1:
            return Area.objects.get(pk=grids[0])
    wanted = road_and_number(text)
    if wanted is None:
        return None
    road, number = wanted
    on_road = [
        (abs(parsed[1] - number), parent_id)
        for _pk, name, tier, _path, parent_id in areas
        # The text's road may carry what stood before it ("东风社区胜利街"): its end must be the building's road.
        if tier == Tier.BUILDING and (parsed := road_and_number(normalise(name))) and road.endswith(parsed[0])
    ]
    if not on_road:
        return None
    return Area.objects.get(pk=min(on_road)[1])
