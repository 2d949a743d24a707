"""Charts drawn on the server as SVG: no chart library, nothing fetched from a CDN, readable without JavaScript."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 48, 28, 34
REPORTED, CLOSED, ON_TIME, SATISFIED = "#79aec8", "#417690", "#e08e0b", "#2e8540"


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_ceiling(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


def trend_chart(points) -> str:
    """Bars of cases reported and closed per month (left axis), lines of on-time and satisfaction rates (right)."""
    if not points:
        return ""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max(max(p.reported, p.closed) for p in points))
    slot = plot_w / len(points)
    bar = slot * 0.32

    def y_count(v):
        return TOP + plot_h - plot_h * v / top

    def y_rate(v):
        return TOP + plot_h - plot_h * v / 100

    parts = []
    for i in range(5):
        y = TOP + plot_h * i / 4
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" class="axis">{}</text>'
                '<text x="{}" y="{}" class="axis">{}%</text>',
                LEFT,
                _n(y),
                WIDTH - RIGHT,
                _n(y),
                LEFT - 4,
                _n(y + 4),
                int(top * (4 - i) / 4),
                WIDTH - RIGHT + 4,
                _n(y + 4),
                int(100 * (4 - i) / 4),
            )
        )
    lines = {ON_TIME: [], SATISFIED: []}
    for i, p in enumerate(points):
        x = LEFT + slot * i + slot / 2
        for offset, value, colour, label in (
            (-bar, p.reported, REPORTED, _("reported")),
            (0, p.closed, CLOSED, _("closed")),
        ):
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} {}: {}</title></rect>',
                    _n(x + offset),
                    _n(y_count(value)),
                    _n(bar),
                    _n(TOP + plot_h - y_count(value)),
                    colour,
                    f"{p.month:%Y-%m}",
                    label,
                    value,
                )
            )
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" class="axis">{}</text>',
                _n(x),
                HEIGHT - BOTTOM + 16,
                f"{p.month:%y-%m}",
            )
        )
        if p.on_time_rate is not None:
            lines[ON_TIME].append((x, y_rate(p.on_time_rate), p, p.on_time_rate))
        if p.satisfaction_rate is not None:
            lines[SATISFIED].append((x, y_rate(p.satisfaction_rate), p, p.satisfaction_rate))
    names = {ON_TIME: _("On-time handling rate"), SATISFIED: _("Satisfaction rate")}
    for colour, line in lines.items():
        if len(line) > 1:
            parts.append(
                format_html(
                    '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                    colour,
                    " ".join(f"{x:.1f},{y:.1f}" for x, y, _p, _v in line),
                )
            )
        parts.append(
            format_html_join(
                "",
                '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: {}%</title></circle>',
                ((_n(x), _n(y), colour, f"{p.month:%Y-%m}", names[colour], v) for x, y, p, v in line),
            )
        )
    legend = [
        (REPORTED, _("Cases reported")),
        (CLOSED, _("Cases closed")),
        (ON_TIME, names[ON_TIME]),
        (SATISFIED, names[SATISFIED]),
    ]
    parts.append(
        format_html_join(
            "",
            '<rect x="{}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" class="legend">{}</text>',
            ((LEFT + i * 170, colour, LEFT + i * 170 + 14, label) for i, (colour, label) in enumerate(legend)),
        )
    )
    return format_html(
        '<svg class="trend-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        # Its text styles are in metrics/dashboard.css: the Content-Security-Policy admits no inline <style>.
        "{}</svg>",
        WIDTH,
        HEIGHT,
        _("Monthly trend"),
        mark_safe("".join(parts)),  # noqa: S308 - every part is built with format_html above
    )
