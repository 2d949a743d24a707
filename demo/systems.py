"""The demo district's two connected systems: the 12345 citizen hotline and the video platform.

Their keys (and the hotline's webhook secret) are fixed, like the demo password, so the README's
``curl`` examples run as printed against a seeded demo; a real deployment registers its systems in
the admin, where a random key is shown once (or ``manage.py issue_system_key <code>``).
"""

from cases import external
from cases.models import Category, EventType, ExternalSystem, Source
from grids.models import Area, Tier

HOTLINE_KEY = "sys_demo-hotline-12345-weicheng-370702"
HOTLINE_SECRET = "demo-hotline-webhook-secret-370702"  # noqa: S105 - printed like the demo password
VIDEO_KEY = "sys_demo-video-platform-weicheng-370702"
# (code, name, sources, key, webhook secret)
SYSTEMS = [
    ("hotline12345", "12345 市民热线", [Source.HOTLINE], HOTLINE_KEY, HOTLINE_SECRET),
    ("video", "视频监控平台", [Source.VIDEO], VIDEO_KEY, ""),
]


def seed_systems(district_code: str) -> list[tuple[str, str, str]]:
    """Register the systems once (a district's later edits stay); returns (name, key, webhook secret) to print."""
    district = Area.objects.get(code=district_code, tier=Tier.DISTRICT)
    groups = list(Category.objects.filter(parent__isnull=True, is_active=True))
    video_categories = Category.objects.filter(pk__in=EventType.objects.values_list("category__parent_id", flat=True))
    categories = {"hotline12345": groups, "video": list(video_categories)}
    printed = []
    for code, name, sources, key, secret in SYSTEMS:
        system = ExternalSystem.objects.filter(code=code).first()
        if system is None:
            system = ExternalSystem(code=code, name=name, sources=[str(s) for s in sources])
            external.register_system(actor=None, system=system, areas=[district], categories=categories[code])
        if external.system_for_key(key) is None:
            external.rotate_key(actor=None, system=system, key=key)
        if secret and system.webhook_secret != secret:
            external.rotate_webhook_secret(actor=None, system=system, secret=secret)
        printed.append((system.name, key, secret))
    return printed
