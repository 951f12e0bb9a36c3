"""Server-rendered SVG charts: well-formed markup, values placed where they belong, text escaped."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from sandbox.charts import Series, bar_chart, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # The stdlib parser refuses anything that is not well-formed XML, so a stray "<" fails here.
    return ET.fromstring(markup.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline.get("points", "").split()]  # type: ignore[misc]


def test_a_line_rises_where_its_values_rise():
    day = dt.date(2026, 12, 1)
    chart = parse(
        line_chart(
            [
                Series(
                    "KRW",
                    [
                        (day, 100),
                        (day + dt.timedelta(days=1), 300),
                        (day + dt.timedelta(days=2), 200),
                    ],
                )
            ],
            title="Balance",
            unit="KRW",
        )
    )
    (line,) = chart.iter(f"{SVG}polyline")
    ys = [y for _, y in points(line)]
    xs = [x for x, _ in points(line)]
    assert xs == sorted(xs)
    assert ys[1] < ys[2] < ys[0]  # SVG y grows downwards: the highest value has the smallest y
    assert chart.find("figcaption").text == "Balance"  # type: ignore[union-attr]


def test_points_are_drawn_in_time_order_whatever_order_they_come_in():
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    chart = parse(line_chart([Series("a", [(t0 + dt.timedelta(hours=2), 1), (t0, 5)])], title="t"))
    (line,) = chart.iter(f"{SVG}polyline")
    (first_x, first_y), (last_x, last_y) = points(line)
    assert first_x < last_x and first_y < last_y


def test_several_series_get_a_legend_and_distinct_classes():
    chart = parse(
        line_chart([Series("KRW", [(1, 1), (2, 2)]), Series("USD", [(1, 3), (2, 1)])], title="x")
    )
    classes = [line.get("class") for line in chart.iter(f"{SVG}polyline")]
    assert classes == ["line s0", "line s1"]
    assert ["".join(li.itertext()) for li in chart.iter("li")] == ["KRW", "USD"]


def test_names_and_titles_are_escaped():
    markup = line_chart([Series("<script>x</script>", [(1, 1), (2, 2)])], title="a < b & c")
    assert "<script>" not in markup
    chart = parse(markup)
    assert chart.find("figcaption").text == "a < b & c"  # type: ignore[union-attr]


def test_the_data_table_carries_every_value_with_separators():
    chart = parse(
        bar_chart([("2026-12-01", 1234567), ("2026-12-02", 0)], title="Volume", unit="KRW")
    )
    cells = [td.text for td in chart.iter("td")]
    assert cells == ["2026-12-01", "1,234,567", "2026-12-02", "0"]


def test_bars_grow_from_zero_up_and_down():
    chart = parse(bar_chart([("in", 50), ("out", -20)], title="Net"))
    up, down = chart.iter(f"{SVG}rect")
    zero_line = float(up.get("y")) + float(up.get("height"))  # type: ignore[arg-type]
    assert float(down.get("y")) == pytest.approx(zero_line)  # type: ignore[arg-type]
    assert float(up.get("height")) > float(down.get("height"))  # type: ignore[arg-type]


def test_no_data_says_so_instead_of_drawing_an_empty_frame():
    assert "No data yet" in line_chart([Series("a", [])], title="Balance")
    assert "No data yet" in bar_chart([], title="Volume")


def test_a_single_point_is_shown_as_a_dot():
    chart = parse(line_chart([Series("a", [(dt.date(2026, 12, 1), 7)])], title="x"))
    assert len(list(chart.iter(f"{SVG}circle"))) == 1


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 95, [0, 50, 100]),
        (0, 1, [0, 0.5, 1]),
        (-30, 70, [-50, 0, 50, 100]),
        (5, 5, [4, 4.5, 5, 5.5, 6]),
    ],
)
def test_ticks_are_round_and_cover_the_range(low, high, expected):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    assert ticks == expected
