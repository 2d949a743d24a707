"""The admin dashboard's fragments that are the same for everyone reading an area: the cards, the trend with
the children's table, and the panels (metrics/dashboard_*.html, each inside a ``{% cache %}`` keyed by the
area, the period, the figures' time and the language).

The first view of new figures renders them for every later reader; at a district that is 60-90 ms of
template work (thousands of localized numbers). When beat renews a dashboard
(``selectors.warm_dashboards``) it renders them too, so the officials reading it never do."""

import logging

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject

from . import appraisal, charts, mediation

logger = logging.getLogger(__name__)

FRAGMENTS = ["metrics/dashboard_cards.html", "metrics/dashboard_trend.html", "metrics/dashboard_panels.html"]


def fragment_context(*, user, dashboard) -> dict:
    """What the fragments read. The mediation and appraisal panels and the trend's drawing are computed only
    when a fragment is rendered afresh; ``user`` (a reader of the area) is checked by their selectors."""
    area, period = dashboard.area, dashboard.period
    return {
        "figures_cache_seconds": settings.FIGURES_CACHE_SECONDS if area is not None else 0,
        "dashboard": dashboard,
        "trend_svg": SimpleLazyObject(lambda: charts.trend_chart(dashboard.trend)),
        # 就地化解率 of the disputes mediated in the period (metrics/mediation.py), and the latest recorded
        # appraisal (考核) of the area and the tier below it.
        "mediation": SimpleLazyObject(lambda: mediation.resolution_rates(user=user, area=area, period=period))
        if area is not None
        else None,
        "appraisal": SimpleLazyObject(lambda: appraisal.dashboard_panel(user=user, area=area))
        if area is not None
        else None,
    }


def render_fragments(*, user, dashboard) -> None:
    """Render the shared fragments of ``dashboard`` into the cache, in the active language. A failure is
    logged, not raised: the first reader then renders them, as without beat."""
    context = fragment_context(user=user, dashboard=dashboard)
    try:
        for name in FRAGMENTS:
            render_to_string(name, context)
    except Exception:
        logger.exception("rendering the dashboard of %s for its readers failed", dashboard.area)
