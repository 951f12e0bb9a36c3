"""Charts for the dashboard: server-rendered inline SVG, no script and no build step.

Pages call :func:`line_chart` or :func:`bar_chart` with data their selectors computed and put
the result in a template as is (it is safe markup). Each chart is a ``<figure class="chart">``
holding an SVG that scales to its container (a ``viewBox``; the width follows the page, so it
reads on a phone) and a ``<details>`` table of the same numbers, for screen readers and for
whoever wants the exact values. Colours come from classes styled in ``static/css/sandbox.css``
(``.chart .s0`` …), never from inline styles, which the Content-Security-Policy forbids.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

X = dt.datetime | dt.date | float | int
WIDTH = 640
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 16, 28
SERIES_CLASSES = 6  # .s0 … .s5 in the stylesheet; further series reuse them in turn


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are (x, y) pairs; x a date, a datetime or a number."""

    name: str
    points: Sequence[tuple[X, float | int | Decimal]]


def _x_value(x: X) -> float:
    if isinstance(x, dt.datetime):
        return x.timestamp()
    if isinstance(x, dt.date):
        return float(x.toordinal()) * 86400
    return float(x)


def _x_label(x: X) -> str:
    if isinstance(x, dt.datetime):
        return x.strftime("%Y-%m-%d %H:%M")
    if isinstance(x, dt.date):
        return x.isoformat()
    return _number(float(x))


def _number(value: float) -> str:
    """A tick or table value: thousands separated, no needless decimals."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high], 1, 2 or 5 times a power of ten apart."""
    if low == high:
        low, high = (low - 1, high + 1) if low else (0.0, 1.0)
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


def _empty(title: str) -> SafeString:
    return format_html(
        '<figure class="chart empty"><figcaption>{}</figcaption><p class="muted">No data yet.</p>'
        "</figure>",
        title,
    )


def _frame(title: str, height: int, ticks: list[float], unit: str, body: str) -> str:
    """The SVG around a chart's marks: title, horizontal grid lines with their values."""
    y_of = _scale(ticks[0], ticks[-1], height - MARGIN_BOTTOM, MARGIN_TOP)
    grid = "".join(
        f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
        f'y1="{y_of(t):.1f}" y2="{y_of(t):.1f}"/>'
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y_of(t) + 4:.1f}" '
        f'text-anchor="end">{escape(_number(t))}</text>'
        for t in ticks
    )
    unit_label = (
        f'<text class="unit" x="4" y="{MARGIN_TOP - 4}">{escape(unit)}</text>' if unit else ""
    )
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>{unit_label}{grid}{body}</svg>"
    )


def _scale(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    span = (high - low) or 1.0
    return lambda v: out_low + (v - low) / span * (out_high - out_low)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> SafeString:
    return format_html(
        '<details><summary>Data</summary><div class="table-wrap"><table><thead><tr>{}</tr>'
        "</thead><tbody>{}</tbody></table></div></details>",
        format_html_join("", "<th>{}</th>", ((h,) for h in head)),
        format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
        ),
    )


def _x_labels(first: str, last: str | None, height: int) -> str:
    """The x axis is labelled at both ends only: more labels would collide on a phone."""
    baseline = height - 8
    labels = f'<text class="tick" x="{MARGIN_LEFT}" y="{baseline}">{escape(first)}</text>'
    if last is not None:
        labels += (
            f'<text class="tick" x="{WIDTH - MARGIN_RIGHT}" y="{baseline}" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    return labels


def _legend(names: Sequence[str]) -> SafeString:
    return format_html(
        '<ul class="legend">{}</ul>',
        format_html_join(
            "",
            '<li><span class="swatch s{}"></span>{}</li>',
            ((i % SERIES_CLASSES, name) for i, name in enumerate(names)),
        ),
    )


def line_chart(
    series: Sequence[Series], *, title: str, unit: str = "", height: int = 220
) -> SafeString:
    """Lines over a shared x axis (time or numbers), with a legend when there are several."""
    points = [(s, [(_x_value(x), float(y)) for x, y in s.points]) for s in series]
    if not any(p for _, p in points):
        return _empty(title)
    xs = [x for _, p in points for x, _ in p]
    ys = [y for _, p in points for _, y in p]
    ticks = nice_ticks(min(min(ys), 0.0), max(max(ys), 0.0))
    x_of = _scale(min(xs), max(xs), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y_of = _scale(ticks[0], ticks[-1], height - MARGIN_BOTTOM, MARGIN_TOP)
    marks = []
    for i, (s, pts) in enumerate(points):
        coords = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in sorted(pts))
        css = f"s{i % SERIES_CLASSES}"
        marks.append(
            f'<polyline class="line {css}" points="{coords}">'
            f"<title>{escape(s.name)}</title></polyline>"
        )
        if len(pts) == 1:  # a single point draws no line: show it as a dot
            (x, y) = pts[0]
            marks.append(f'<circle class="dot {css}" cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="3"/>')
    first = min((x for s in series for x, _ in s.points), key=_x_value)
    last = max((x for s in series for x, _ in s.points), key=_x_value)
    marks.append(_x_labels(_x_label(first), _x_label(last) if last != first else None, height))
    svg = _frame(title, height, ticks, unit, "".join(marks))
    rows = [
        (s.name, _x_label(x), _number(float(y)))
        for s in series
        for x, y in sorted(s.points, key=lambda p: _x_value(p[0]))
    ]
    return format_html(
        '<figure class="chart"><figcaption>{}</figcaption>{}{}{}</figure>',
        title,
        mark_safe(svg),  # built above from numbers and escaped text only
        _legend([s.name for s in series]) if len(series) > 1 else "",
        _table(["Series", "When", unit or "Value"], rows),
    )


def bar_chart(
    bars: Sequence[tuple[str, float | int | Decimal]],
    *,
    title: str,
    unit: str = "",
    height: int = 220,
) -> SafeString:
    """Labelled bars (a day, a status, an endpoint) with their values."""
    if not bars:
        return _empty(title)
    values = [float(v) for _, v in bars]
    ticks = nice_ticks(min(min(values), 0.0), max(max(values), 0.0))
    y_of = _scale(ticks[0], ticks[-1], height - MARGIN_BOTTOM, MARGIN_TOP)
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(bars)
    zero = y_of(0.0)
    marks = []
    for i, ((label, _), value) in enumerate(zip(bars, values, strict=True)):
        x = MARGIN_LEFT + i * slot + slot * 0.15
        top, bottom = sorted((y_of(value), zero))
        marks.append(
            f'<rect class="bar s0" x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bottom - top:.1f}"><title>{escape(label)}: {escape(_number(value))}'
            "</title></rect>"
        )
    marks.append(_x_labels(bars[0][0], bars[-1][0] if len(bars) > 1 else None, height))
    svg = _frame(title, height, ticks, unit, "".join(marks))
    return format_html(
        '<figure class="chart"><figcaption>{}</figcaption>{}{}</figure>',
        title,
        mark_safe(svg),  # built above from numbers and escaped text only
        _table(
            ["", unit or "Value"],
            [(label, _number(v)) for (label, _), v in zip(bars, values, strict=True)],
        ),
    )
