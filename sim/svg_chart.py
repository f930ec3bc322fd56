"""Charts over the seconds of a run as inline SVG (no script, no fetch): lines (throughput,
latency, errors) with labelled dashed threshold lines, and stacked areas (result codes,
equipment statuses). Round ticks and readable labels come from `sim.axis`; the legend sits
under the plot, never over the lines."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sim.axis import label, nice_step, ticks

WIDTH = 600
PLOT_HEIGHT = 170
LEFT = 62  # room for the y labels
RIGHT = 14
TOP = 30  # the title
BOTTOM = 34  # the x labels and their caption
LEGEND_ROW = 17
#: a legend character's width, generous (the widest sans-serif capitals at 11 px)
CHAR_W = 7.0
#: a threshold above this many times the data's peak is named, not drawn (the lines would be
#: flattened against the axis)
THRESHOLD_ROOM = 4.0
#: room over the highest value, so that a flat line does not run along the frame
HEADROOM = 1.06
#: lines with at most this many points get a dot on each
MARKED = 40


@dataclass(frozen=True)
class Series:
    """One line: (x in seconds, y) points, or one layer of a stacked chart."""

    name: str
    color: str
    points: tuple[tuple[float, float], ...]
    #: drawn wide and pale, under the others (a line another one often covers)
    wide: bool = False
    #: drawn dashed (a line that often lies on another, such as the maximum on p99.9)
    dashed: bool = False


@dataclass(frozen=True)
class Threshold:
    """A gate drawn as a dashed line: ``label`` is written on it."""

    label: str
    value: float
    color: str = "#b22222"


@dataclass(frozen=True)
class Frame:
    """The plot area and the scales of one chart."""

    x_end: float
    y_top: float
    y_step: float
    legend_rows: int

    @property
    def plot_w(self) -> float:
        return WIDTH - LEFT - RIGHT

    @property
    def height(self) -> int:
        return TOP + PLOT_HEIGHT + BOTTOM + self.legend_rows * LEGEND_ROW + 6

    def x(self, seconds: float) -> float:
        return LEFT + self.plot_w * seconds / self.x_end

    def y(self, value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - value / self.y_top)


def legend_layout(names: Sequence[str], width: float = WIDTH - LEFT - RIGHT) -> list[list[int]]:
    """The legend's entries (indexes into `names`) row by row, each row fitting `width`."""
    rows: list[list[int]] = [[]]
    used = 0.0
    for i, name in enumerate(names):
        need = entry_width(name)
        if rows[-1] and used + need > width:
            rows.append([])
            used = 0.0
        rows[-1].append(i)
        used += need
    return rows if rows[0] else []


def entry_width(name: str) -> float:
    return 16 + CHAR_W * len(name) + 14


def y_scale(
    peak: float, thresholds: Sequence[Threshold] = (), whole: bool = False
) -> tuple[float, float]:
    """The top of the y axis and its step: the data's peak, and the thresholds near it;
    `whole`: counts, whose ticks are whole numbers."""
    high = max(peak * HEADROOM, 4.0) if whole else peak * HEADROOM
    for t in thresholds:
        if t.value <= max(peak, 1e-12) * THRESHOLD_ROOM:
            high = max(high, t.value * 1.08)
    axis = ticks(high if high > 0 else 1.0)
    return axis[-1], axis[1] - axis[0]


def line_chart(
    title: str,
    unit: str,
    series: Sequence[Series],
    x_end: float,
    thresholds: Sequence[Threshold] = (),
    whole: bool = False,
) -> str:
    """Lines over the seconds ``0..x_end``; `thresholds` as labelled dashed lines; `whole`:
    the values are counts."""
    peak = max((y for s in series for _, y in s.points), default=0.0)
    top, step = y_scale(peak, thresholds, whole)
    frame = Frame(max(x_end, 1.0), top, step, len(legend_layout([s.name for s in series])))
    parts = [_open(title, unit, frame), *_axes(frame)]
    for s in series:
        parts.append(_line(frame, s))
    for t in thresholds:
        parts.append(_threshold(frame, t))
    if not any(s.points for s in series):
        parts.append(_empty(frame))
    parts.extend(_legend(frame, series))
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(title: str, unit: str, layers: Sequence[Series], x_end: float) -> str:
    """Layers stacked second by second (every layer has the same x values), each second drawn
    as a step over its width."""
    xs = sorted({x for layer in layers for x, _ in layer.points})
    values = [dict(layer.points) for layer in layers]
    totals = [sum(v.get(x, 0.0) for v in values) for x in xs]
    top, step = y_scale(max(totals, default=0.0))
    frame = Frame(max(x_end, 1.0), top, step, len(legend_layout([s.name for s in layers])))
    parts = [_open(title, unit, frame), *_axes(frame)]
    below = [0.0] * len(xs)
    for layer, by_x in zip(layers, values, strict=True):
        above = [b + by_x.get(x, 0.0) for b, x in zip(below, xs, strict=True)]
        parts.append(_band(frame, layer, xs, below, above))
        below = above
    if not xs:
        parts.append(_empty(frame))
    parts.extend(_legend(frame, layers))
    parts.append("</svg>")
    return "".join(parts)


def _open(title: str, unit: str, frame: Frame) -> str:
    heading = f"{title} ({unit})" if unit else title
    text = html.escape(heading)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{frame.height}" '
        f'viewBox="0 0 {WIDTH} {frame.height}" role="img" aria-label="{text}" '
        f'font-family="sans-serif"><title>{text}</title>'
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{text}</text>'
    )


def _axes(frame: Frame) -> list[str]:
    """The plot's frame, horizontal grid lines with y labels, x ticks in seconds."""
    bottom = TOP + PLOT_HEIGHT
    out = [
        f'<rect x="{LEFT}" y="{TOP}" width="{frame.plot_w:.1f}" height="{PLOT_HEIGHT}" '
        f'fill="#fcfcfc" stroke="#bbb"/>'
    ]
    n = round(frame.y_top / frame.y_step)
    for k in range(n + 1):
        value = k * frame.y_step
        y = frame.y(value)
        if 0 < k < n:
            out.append(
                f'<line x1="{LEFT}" x2="{LEFT + frame.plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="#e4e4e4"/>'
            )
        out.append(
            f'<text class="y-label" x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{label(value, frame.y_step, frame.y_top)}</text>'
        )
    x_step = nice_step(frame.x_end, 8)
    x_step = max(x_step, 1.0)
    x_top = math.floor(frame.x_end / x_step + 1e-9) * x_step
    k = 0
    while k * x_step <= frame.x_end + 1e-9:
        x = frame.x(k * x_step)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#888"/>'
            f'<text class="x-label" x="{x:.1f}" y="{bottom + 16}" font-size="11" '
            f'text-anchor="middle">{label(k * x_step, x_step, x_top)}</text>'
        )
        k += 1
    out.append(
        f'<text x="{LEFT + frame.plot_w:.1f}" y="{bottom + 30}" font-size="11" fill="#555" '
        f'text-anchor="end">seconds since the start</text>'
    )
    return out


def _line(frame: Frame, s: Series) -> str:
    if not s.points:
        return ""
    coords = [(frame.x(x), frame.y(y)) for x, y in s.points]
    name = html.escape(s.name)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    style = 'stroke-width="5" stroke-opacity="0.4"' if s.wide else 'stroke-width="1.8"'
    if s.dashed:
        style += ' stroke-dasharray="5 3"'
    out = [
        f'<polyline class="series" data-series="{name}" fill="none" stroke="{s.color}" '
        f'{style} stroke-linejoin="round" points="{path}"/>'
    ]
    if len(coords) <= MARKED and not s.wide:
        out.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.4" fill="{s.color}"/>' for x, y in coords
        )
    return "".join(out)


def _band(
    frame: Frame, layer: Series, xs: list[float], below: list[float], above: list[float]
) -> str:
    """One stacked layer: each second a step from its start to its end."""
    if not xs or all(a == b for a, b in zip(above, below, strict=True)):
        return ""
    half = 0.5
    upper = []
    lower = []
    for x, lo, hi in zip(xs, below, above, strict=True):
        left, right = frame.x(max(x - half, 0.0)), frame.x(min(x + half, frame.x_end))
        upper += [(left, frame.y(hi)), (right, frame.y(hi))]
        lower += [(left, frame.y(lo)), (right, frame.y(lo))]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
    return (
        f'<polygon class="band" data-series="{html.escape(layer.name)}" fill="{layer.color}" '
        f'fill-opacity="0.85" stroke="{layer.color}" stroke-width="0.5" points="{path}"/>'
    )


def _threshold(frame: Frame, t: Threshold) -> str:
    name = html.escape(t.label)
    right = LEFT + frame.plot_w
    if t.value > frame.y_top:  # written in the title's row, over the plot
        return (
            f'<text class="threshold-label" x="{right:.1f}" y="18" font-size="11" '
            f'fill="{t.color}" text-anchor="end">\u2191 {name} (above)</text>'
        )
    y = frame.y(t.value)
    label_y = y - 4 if y - 4 > TOP + 12 else y + 13
    return (
        f'<line class="threshold" data-threshold="{name}" x1="{LEFT}" x2="{right:.1f}" '
        f'y1="{y:.1f}" y2="{y:.1f}" stroke="{t.color}" stroke-width="1.4" '
        f'stroke-dasharray="6 4"/>'
        f'<text class="threshold-label" x="{right - 4:.1f}" y="{label_y:.1f}" font-size="11" '
        f'fill="{t.color}" text-anchor="end" stroke="#fff" stroke-width="3" '
        f'paint-order="stroke">{name}</text>'
    )


def _empty(frame: Frame) -> str:
    return (
        f'<text x="{LEFT + frame.plot_w / 2:.1f}" y="{TOP + PLOT_HEIGHT / 2:.1f}" '
        f'font-size="12" fill="#777" text-anchor="middle">no data</text>'
    )


def _legend(frame: Frame, series: Sequence[Series]) -> list[str]:
    out = []
    top = TOP + PLOT_HEIGHT + BOTTOM + 4
    for row, entries in enumerate(legend_layout([s.name for s in series])):
        x = float(LEFT)
        y = top + row * LEGEND_ROW
        for i in entries:
            s = series[i]
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="11" height="11" fill="{s.color}"/>'
                f'<text class="legend" x="{x + 16:.1f}" y="{y + 10:.1f}" font-size="11">'
                f"{html.escape(s.name)}</text>"
            )
            x += entry_width(s.name)
    return out
