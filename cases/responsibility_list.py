"""The demo district's responsibility list (权责清单): groups, leaves and their rules.

Each leaf: code, name, default department suffix (see demo.district) or
None for a tier, default tier, urgency, (assess, handle, verify) limits with
units ("h" natural hours, "d" working days), safety dimension and weight.
"""

from django.db import transaction

from .models import Category, DeadlineUnit

H, D = DeadlineUnit.HOURS, DeadlineUnit.WORKDAYS
# Entries only officials file (people under care or supervision, leads that need discretion):
# the public report form does not offer them.
OFFICIAL_ONLY = {"0701", "0702", "0801", "0802", "0902", "1301"}
# Disputes (邻里、家事、物业纠纷) carry a mediation record with its outcome before they are handled
# (cases/mediation.py); officials change the flag in the responsibility list.
MEDIATION = {"0101", "0102", "0103"}

GROUPS = [
    (
        "01",
        "矛盾纠纷调解",
        [
            ("0101", "邻里纠纷", None, "community", "normal", (1, D), (5, D), (2, D), "stability", 1),
            ("0102", "婚姻家庭纠纷", None, "community", "normal", (1, D), (5, D), (2, D), "stability", 1),
            ("0103", "物业纠纷", "ZJ", "street", "normal", (1, D), (7, D), (2, D), "stability", 1),
            ("0104", "劳资纠纷", None, "street", "normal", (1, D), (10, D), (2, D), "stability", 2),
        ],
    ),
    (
        "02",
        "社会治安隐患",
        [
            ("0201", "治安隐患", "GA", "district", "urgent", (2, H), (24, H), (1, D), "criminal", 3),
            ("0202", "涉黄涉赌线索", "GA", "district", "urgent", (2, H), (48, H), (1, D), "criminal", 3),
            ("0203", "可疑人员", "GA", "district", "urgent", (1, H), (24, H), (1, D), "criminal", 2),
        ],
    ),
    (
        "03",
        "安全生产与消防",
        [
            ("0301", "消防通道堵塞", "YJ", "street", "urgent", (2, H), (24, H), (1, D), "governance", 2),
            ("0302", "燃气安全隐患", "YJ", "district", "urgent", (1, H), (12, H), (1, D), "governance", 3),
            ("0303", "危险化学品", "YJ", "district", "urgent", (1, H), (12, H), (1, D), "governance", 3),
        ],
    ),
    (
        "04",
        "城市管理",
        [
            ("0401", "占道经营", "ZF", "street", "normal", (1, D), (3, D), (2, D), "governance", 0.5),
            ("0402", "违法建设", "ZF", "district", "normal", (1, D), (15, D), (3, D), "governance", 1),
            ("0403", "市政设施损坏", "ZJ", "district", "normal", (1, D), (5, D), (2, D), "", 0),
            ("0404", "乱堆乱放", None, "community", "normal", (1, D), (3, D), (1, D), "", 0),
        ],
    ),
    (
        "05",
        "生态环境",
        [
            ("0501", "噪声扰民", "HB", "district", "normal", (1, D), (5, D), (2, D), "", 0),
            ("0502", "油烟污染", "HB", "district", "normal", (1, D), (7, D), (2, D), "", 0),
            ("0503", "污水排放", "HB", "district", "normal", (1, D), (5, D), (2, D), "governance", 0.5),
        ],
    ),
    (
        "06",
        "困难群众帮扶",
        [
            ("0601", "生活困难救助", "MZ", "street", "normal", (1, D), (10, D), (2, D), "", 0),
            ("0602", "独居老人关爱", None, "community", "normal", (1, D), (3, D), (1, D), "", 0),
        ],
    ),
    (
        "07",
        "特殊人群服务管理",
        [
            ("0701", "严重精神障碍患者", None, "street", "urgent", (4, H), (2, D), (1, D), "special_groups", 2),
            ("0702", "刑满释放人员", None, "community", "normal", (1, D), (5, D), (2, D), "special_groups", 1),
        ],
    ),
    (
        "08",
        "社区矫正",
        [
            ("0801", "矫正对象脱管", "SF", "district", "urgent", (2, H), (24, H), (1, D), "correction", 3),
            ("0802", "矫正对象日常报告", "SF", "street", "normal", (1, D), (5, D), (2, D), "correction", 0.5),
        ],
    ),
    (
        "09",
        "禁毒",
        [
            ("0901", "涉毒线索", "GA", "district", "urgent", (1, H), (24, H), (1, D), "drugs", 3),
            ("0902", "吸毒人员帮教", None, "street", "normal", (1, D), (10, D), (2, D), "drugs", 1),
        ],
    ),
    (
        "10",
        "市场与食品安全",
        [
            ("1001", "无证经营", "SJ", "district", "normal", (1, D), (5, D), (2, D), "", 0),
            ("1002", "食品安全隐患", "SJ", "district", "urgent", (4, H), (2, D), (1, D), "governance", 1),
        ],
    ),
    (
        "11",
        "房屋与物业",
        [
            ("1101", "房屋安全隐患", "ZJ", "district", "urgent", (4, H), (3, D), (2, D), "governance", 1),
            ("1102", "电梯故障", "SJ", "district", "urgent", (2, H), (24, H), (1, D), "", 0),
        ],
    ),
    (
        "12",
        "水务",
        [
            ("1201", "供水管网漏损", "SW", "district", "urgent", (2, H), (24, H), (1, D), "", 0),
            ("1202", "排水不畅", "SW", "district", "normal", (1, D), (3, D), (1, D), "", 0),
        ],
    ),
    (
        "13",
        "邪教防范",
        [
            ("1301", "邪教活动线索", "GA", "district", "urgent", (1, H), (24, H), (1, D), "cult", 3),
        ],
    ),
]


@transaction.atomic
def seed_categories(*, department_codes: dict[str, int]) -> int:
    """Create or refresh the list; ``department_codes`` maps a suffix (GA, ZJ...) to a department id."""
    existing = {c.code: c for c in Category.objects.all()}
    count = 0
    for code, name, leaves in GROUPS:
        group = existing.get(code) or Category(code=code)
        group.name, group.parent = name, None
        group.public = any(leaf[0] not in OFFICIAL_ONLY for leaf in leaves)
        group.save()
        for leaf_code, leaf_name, dept, tier, priority, assess, handle, verify, dimension, weight in leaves:
            leaf = existing.get(leaf_code) or Category(code=leaf_code)
            leaf.parent, leaf.name = group, leaf_name
            leaf.default_department_id = department_codes.get(dept) if dept else None
            leaf.default_tier, leaf.priority = tier, priority
            leaf.assess_limit, leaf.assess_unit = assess
            leaf.handle_limit, leaf.handle_unit = handle
            leaf.verify_limit, leaf.verify_unit = verify
            leaf.safety_dimension, leaf.safety_weight = dimension, weight
            leaf.public = leaf_code not in OFFICIAL_ONLY
            leaf.requires_mediation = leaf_code in MEDIATION
            leaf.save()
            count += 1
    return count
