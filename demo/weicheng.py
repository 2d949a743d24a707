"""The model district's place: Weicheng's six streets, their communities and villages, roads and polygons.

Streets are laid out as Weicheng lies (城关 the old town in the middle, 北关 north,
南关 south, 西关 west, 于河 east, 望留 south-east), inside a box around the
district's real location. Every polygon is a rectangle cut from its parent's, so
grids tile their community, communities tile their street and streets tile the
district exactly: shared edges are the same numbers, with no gap or overlap.
"""

import math
from dataclasses import dataclass

from shapely.geometry import box

# lon/lat box of the demo district (Weicheng lies around 119.10 E, 36.71 N).
WEST, SOUTH, EAST, NORTH = 119.0, 36.62, 119.25, 36.78
COLUMNS = [WEST, 119.08, 119.16, EAST]
ROWS = [SOUTH, 36.68, 36.73, NORTH]

# (name, (column from, column to), (row from, row to), communities)
STREETS = [
    ("城关街道", (1, 2), (1, 2), 48),
    ("南关街道", (1, 2), (0, 1), 40),
    ("西关街道", (0, 1), (0, 3), 46),
    ("北关街道", (1, 3), (2, 3), 42),
    ("于河街道", (2, 3), (1, 2), 40),
    ("望留街道", (2, 3), (0, 1), 39),
]  # 255 communities and villages
OLD_TOWN = "城关街道"
# Within this distance (degrees) of the old town's centre a community is urban (社区); beyond it, a village (村).
URBAN_RADIUS = 0.05

# Real road names of the city, for the communities' addresses.
ROADS = [
    "胜利街",
    "东风街",
    "健康街",
    "福寿街",
    "北宫街",
    "民主街",
    "青年路",
    "向阳路",
    "和平路",
    "樱前街",
    "月河路",
    "西环路",
    "长松路",
    "文化路",
    "友爱路",
    "清平路",
    "仓南街",
    "卧龙街",
    "潍州路",
    "育华路",
    "永安路",
    "大虞街",
    "白浪河路",
    "芙蓉街",
    "十笏园街",
    "城隍庙街",
    "曹家巷",
    "东关大街",
    "西关大街",
    "南关大街",
    "北关大街",
    "玉清街",
    "金宝街",
    "宝通街",
    "鸢飞路",
    "虞河路",
    "浞河路",
    "北海路",
    "四平路",
    "安顺路",
    "永乐街",
    "松园街",
    "梨园街",
    "新华路",
    "东明路",
    "西明路",
]
URBAN_NAMES = [
    "东风",
    "胜利",
    "和平",
    "健康",
    "文化",
    "民主",
    "向阳",
    "北宫",
    "南苑",
    "西园",
    "新华",
    "福寿",
    "友爱",
    "青年",
    "樱前",
    "月河",
    "白浪",
    "长松",
    "仓南",
    "卧龙",
    "清平",
    "永安",
    "大虞",
    "金宝",
    "玉清",
    "潍州",
    "育华",
    "文华",
    "文庙",
    "十笏园",
    "芙蓉",
    "城隍",
    "坊茨",
    "鸢飞",
    "福华",
    "春晖",
    "华安",
    "怡园",
    "锦绣",
    "幸福",
    "阳光",
    "康乐",
    "安顺",
    "宝通",
    "泰华",
    "翠园",
    "紫薇",
    "丰华",
    "裕园",
    "柳园",
    "梨园",
    "杏园",
    "桃园",
    "常青",
    "松园",
    "竹园",
    "北门",
    "南门",
    "西门",
    "东门",
    "鸢都",
    "虞河",
    "浞河",
    "四平",
    "东明",
    "西明",
    "新村",
    "永乐",
    "和顺",
    "兴华",
    "利民",
    "惠民",
    "德润",
    "晨光",
    "明德",
    "同心",
    "广场",
    "北苑",
    "东苑",
    "中和",
    "乐安",
    "绿园",
    "清华",
    "仁和",
    "东升",
    "南园",
]
VILLAGE_SURNAMES = "于王张李刘陈杨赵孙周吴郑冯丁韩马高郭宋蒋邢苏孟崔谭姜袁齐邵田曹秦"
VILLAGE_PREFIXES = ["", "", "东", "西", "南", "北", "前", "后", "大", "小"]
VILLAGE_SUFFIXES = ["家庄", "家营", "家屯", "官庄", "家埠", "家疃", "家岭", "家洼"]
VILLAGE_LANES = ["前街", "后街", "东街", "西街", "中心街", "南街", "北街", "新街"]


@dataclass
class Place:
    """One area's name and rectangle (west, south, east, north), and for communities whether urban."""

    name: str
    rect: tuple
    urban: bool = True
    road: str = ""


def split(rect, n, rng, *, wobble=0.25):
    """``n`` rectangles tiling ``rect``: rows of roughly square cells, with uneven widths so it is no chessboard."""
    west, south, east, north = rect
    width = (east - west) * math.cos(math.radians((south + north) / 2))
    height = north - south
    rows = max(1, min(n, round(math.sqrt(n * height / width))))
    per_row = [n // rows + (1 if r < n % rows else 0) for r in range(rows)]
    ys = _cuts(south, north, rows, rng, wobble)
    cells = []
    for r, k in enumerate(per_row):
        xs = _cuts(west, east, k, rng, wobble)
        cells.extend((xs[c], ys[r], xs[c + 1], ys[r + 1]) for c in range(k))
    return cells


def _cuts(start, end, parts, rng, wobble):
    weights = [1 + rng.uniform(-wobble, wobble) for _ in range(parts)]
    total, edges, run = sum(weights), [start], 0.0
    for weight in weights[:-1]:
        run += weight
        edges.append(round(start + (end - start) * run / total, 6))
    return [*edges, end]


def polygon(rect):
    return box(*rect)


def street_rect(columns, rows):
    return (COLUMNS[columns[0]], ROWS[rows[0]], COLUMNS[columns[1]], ROWS[rows[1]])


def centre(rect):
    return ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)


def community_places(rng):
    """[(street Place, [community Place...])] with unique names: 社区 near the old town, 村 further out."""
    old_town = next(street_rect(c, r) for name, c, r, _n in STREETS if name == OLD_TOWN)
    cx, cy = centre(old_town)
    urban_names = list(URBAN_NAMES)
    rng.shuffle(urban_names)
    used, streets, road_index = set(), [], 0
    for name, columns, rows, count in STREETS:
        rect = street_rect(columns, rows)
        communities = []
        for cell in split(rect, count, rng):
            x, y = centre(cell)
            urban = name == OLD_TOWN or math.hypot(x - cx, y - cy) < URBAN_RADIUS
            if urban and urban_names:
                base = urban_names.pop()
                community = Place(f"{base}社区", cell, True, ROADS[road_index % len(ROADS)])
                road_index += 1
            else:
                while True:
                    base = rng.choice(VILLAGE_PREFIXES) + rng.choice(VILLAGE_SURNAMES) + rng.choice(VILLAGE_SUFFIXES)
                    if base not in used:
                        break
                community = Place(f"{base}村", cell, False, base)
            used.add(base)
            communities.append(community)
        streets.append((Place(name, rect), communities))
    return streets


def halves(rect, parts):
    """``rect`` cut into ``parts`` strips across its longer side (grids of a community)."""
    west, south, east, north = rect
    if parts == 1:
        return [rect]
    if (east - west) * math.cos(math.radians(south)) >= north - south:
        xs = [round(west + (east - west) * i / parts, 6) for i in range(parts)] + [east]
        return [(xs[i], south, xs[i + 1], north) for i in range(parts)]
    ys = [round(south + (north - south) * i / parts, 6) for i in range(parts)] + [north]
    return [(west, ys[i], east, ys[i + 1]) for i in range(parts)]


def quarters(rect):
    """``rect`` cut in four (the buildings and alleys of a grid): south-west, south-east, north-west, north-east."""
    west, south, east, north = rect
    mx, my = round((west + east) / 2, 6), round((south + north) / 2, 6)
    return [(west, south, mx, my), (mx, south, east, my), (west, my, mx, north), (mx, my, east, north)]
