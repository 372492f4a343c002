"""One trajectory chart: a region's measured values over age against the norm's centile curves.

x is the age in years over the measured points with a margin (at least :data:`MIN_AGE_SPAN` years),
y the value in the trajectory's unit over the points and the curves in that age range. Symmetric
centiles (c and 100 - c) are shaded as bands, the outermost lightest; the median and any unpaired
centile are lines; each curve is labelled at its right end (``p97.5``). The measured points are
markers joined by a line, each labelled (its study date). Curves are drawn only where the norm
covers the ages shown; a chart whose ages the norm does not cover says so. Drawn with Pillow on the
SC page's dark background; text is ASCII (see :mod:`~inference.dicom_out.layout`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.dicom_out.chart import fit_text
from inference.pipeline import Trajectory

MIN_AGE_SPAN = 4.0  # years shown at least (one point: two years either side)
AGE_MARGIN = 0.15  # of the points' age span, either side (half a year to two years)
VALUE_MARGIN = 0.15  # of the value span, above and below (room for the point labels)
SAMPLES = 160  # points per drawn curve
TITLE_FONT = 15
SMALL_FONT = 12
LEFT = 52  # room for the value ticks
RIGHT = 44  # room for the curve labels
TOP = 24  # room for the title
BOTTOM = 34  # room for the age ticks and the axis name
MARKER_RADIUS = 5

BACKGROUND = (0, 0, 0)
PLOT_BACKGROUND = (22, 22, 26)
GRID = (62, 62, 72)
INK = (235, 235, 235)
DIM = (170, 170, 170)
MARKER = (255, 140, 0)  # the measured points; no other ink on the page has this colour
JOIN = (190, 105, 0)  # the line joining them
MEDIAN = (150, 200, 255)
CURVE = (95, 135, 185)  # unpaired centiles
BAND_OUTER = (30, 50, 85)  # the widest band; narrower bands step towards BAND_INNER
BAND_INNER = (55, 95, 150)

Colour = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def centile_name(centile: float) -> str:
    return f"p{centile:g}"


def bands(centiles: Sequence[float]) -> list[tuple[float, float]]:
    """The (low, high) centile pairs among ``centiles`` that are symmetric about 50, widest first."""
    present = set(centiles)
    return sorted(((c, 100.0 - c) for c in present if c < 50.0 and 100.0 - c in present), key=lambda b: b[0])


Shades = Mapping[tuple[float, float], Colour]


def band_colours(pairs: Sequence[tuple[float, float]]) -> dict[tuple[float, float], Colour]:
    """One shade per band, widest first: BAND_OUTER, ..., BAND_INNER (one band alone: BAND_OUTER).

    A page computes them once from all its charts' bands, so a band has the same shade everywhere.
    """
    shades: dict[tuple[float, float], Colour] = {}
    for i, pair in enumerate(pairs):
        t = i / (len(pairs) - 1) if len(pairs) > 1 else 0.0
        r, g, b = (round(a + (z - a) * t) for a, z in zip(BAND_OUTER, BAND_INNER, strict=True))
        shades[pair] = (r, g, b)
    return shades


@dataclass(frozen=True)
class Axes:
    """The plot area (pixels, in the chart's image) and the age and value ranges it shows."""

    left: int
    top: int
    right: int
    bottom: int
    ages: tuple[float, float]
    values: tuple[float, float]

    def x(self, age: float) -> float:
        low, high = self.ages
        return self.left + (age - low) / (high - low) * (self.right - self.left)

    def y(self, value: float) -> float:
        low, high = self.values
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)


def age_range(trajectory: Trajectory) -> tuple[float, float]:
    """The ages shown: the points' span plus a margin, at least MIN_AGE_SPAN years."""
    ages = [p.age_years for p in trajectory.points if math.isfinite(p.age_years)] or [0.0]
    low, high = min(ages), max(ages)
    margin = min(max(0.5, AGE_MARGIN * (high - low)), 2.0)
    low, high = low - margin, high + margin
    if high - low < MIN_AGE_SPAN:
        centre = (low + high) / 2
        low, high = centre - MIN_AGE_SPAN / 2, centre + MIN_AGE_SPAN / 2
    return low, high


def sampled(curve: Sequence[tuple[float, float]], ages: tuple[float, float]) -> np.ndarray | None:
    """The curve resampled over the part of ``ages`` it covers, as (n, 2) [age, value]; None if none."""
    points = np.asarray(curve, dtype=float).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 2:
        return None
    points = points[np.argsort(points[:, 0], kind="stable")]
    low, high = max(ages[0], points[0, 0]), min(ages[1], points[-1, 0])
    if high <= low:
        return None
    grid = np.linspace(low, high, SAMPLES)
    return np.column_stack([grid, np.interp(grid, points[:, 0], points[:, 1])])


def curves_shown(trajectory: Trajectory, ages: tuple[float, float]) -> dict[float, np.ndarray]:
    """Each centile's curve over the ages shown (centiles the norm does not give there are left out)."""
    shown = {float(c): sampled(curve, ages) for c, curve in trajectory.centiles.items()}
    return {c: curve for c, curve in shown.items() if curve is not None}


def value_range(trajectory: Trajectory, curves: Mapping[float, np.ndarray]) -> tuple[float, float]:
    """The values shown: the points and the curves, plus a margin."""
    values = [p.value for p in trajectory.points if math.isfinite(p.value)]
    values += [float(v) for curve in curves.values() for v in (curve[:, 1].min(), curve[:, 1].max())]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    margin = VALUE_MARGIN * (high - low) if high > low else max(1.0, 0.1 * abs(high))
    return low - margin, high + margin


def axes_for(trajectory: Trajectory, width: int, height: int) -> Axes:
    """Where the chart of ``trajectory`` in a ``width`` x ``height`` image draws its plot."""
    ages = age_range(trajectory)
    return Axes(
        left=LEFT,
        top=TOP,
        right=width - RIGHT,
        bottom=height - BOTTOM,
        ages=ages,
        values=value_range(trajectory, curves_shown(trajectory, ages)),
    )


def ticks(low: float, high: float, count: int = 5) -> tuple[list[float], int]:
    """Round tick values within [low, high] (about ``count``) and the decimals to print them with."""
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    values = [round(k * step, 10) for k in range(first, math.floor(high / step + 1e-9) + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if round(step / magnitude, 6) == 2.5 else 0)
    return values, decimals


def _grid(draw: ImageDraw.ImageDraw, axes: Axes) -> None:
    """Grid lines and tick labels (drawn over the bands, under the curves and points)."""
    small = font(SMALL_FONT)
    ages, decimals = ticks(*axes.ages)
    for age in ages:
        x = round(axes.x(age))
        draw.line([(x, axes.top), (x, axes.bottom)], fill=GRID)
        label = f"{age:.{decimals}f}"
        draw.text((x - draw.textlength(label, font=small) / 2, axes.bottom + 3), label, DIM, small)
    values, decimals = ticks(*axes.values)
    for value in values:
        y = round(axes.y(value))
        draw.line([(axes.left, y), (axes.right, y)], fill=GRID)
        label = f"{value:.{decimals}f}"
        draw.text((axes.left - 4 - draw.textlength(label, font=small), y - 7), label, DIM, small)
    name = "age (years)"
    middle = (axes.left + axes.right - draw.textlength(name, font=small)) / 2
    draw.text((middle, axes.bottom + 18), name, DIM, small)


def _xy(axes: Axes, curve: np.ndarray) -> list[tuple[float, float]]:
    return [(axes.x(a), axes.y(v)) for a, v in curve]


def _bands(draw: ImageDraw.ImageDraw, axes: Axes, curves: Mapping[float, np.ndarray], shades: Shades) -> None:
    for low, high in bands(list(curves)):  # widest first, so narrower bands lie on top
        outline = _xy(axes, curves[high]) + _xy(axes, curves[low])[::-1]
        draw.polygon(outline, fill=shades.get((low, high), BAND_OUTER))


def _curves(draw: ImageDraw.ImageDraw, axes: Axes, curves: Mapping[float, np.ndarray]) -> None:
    for centile in sorted(curves):
        colour = MEDIAN if centile == 50.0 else CURVE
        draw.line(_xy(axes, curves[centile]), fill=colour, width=2 if centile == 50.0 else 1)
    _curve_labels(draw, axes, curves)


def _curve_labels(draw: ImageDraw.ImageDraw, axes: Axes, curves: Mapping[float, np.ndarray]) -> None:
    """Each curve's name at its right end, pushed apart so that no two overlap."""
    small = font(SMALL_FONT)
    ends = sorted((axes.y(float(v[-1, 1])), c, axes.x(float(v[-1, 0]))) for c, v in curves.items())
    placed: list[float] = []
    for end in ends:
        placed.append(max(end[0] - 7, placed[-1] + SMALL_FONT if placed else axes.top - 4))
    shift = max(0.0, (placed[-1] if placed else 0.0) - (axes.bottom - SMALL_FONT + 2))
    for (_, centile, x), y in zip(ends, placed, strict=True):
        colour = MEDIAN if centile == 50.0 else DIM
        draw.text((x + 3, y - shift), centile_name(centile), colour, small)


Box = tuple[float, float, float, float]  # left, top, right, bottom


def _overlaps(box: Box, others: Sequence[Box]) -> bool:
    return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others)


def _label_box(axes: Axes, x: float, y: float, width: float, below: bool, level: int) -> Box | None:
    """Where a label of ``width`` pixels goes above or below the point at (x, y); None off the plot."""
    r, height = MARKER_RADIUS, SMALL_FONT + 2
    top = y + r + 2 + level * height if below else y - r - 2 - height - level * height
    left = min(max(x - width / 2, axes.left + 2), axes.right - 2 - width)
    if top < axes.top or top + height > axes.bottom:
        return None
    return left, top, left + width, top + height


def _points(draw: ImageDraw.ImageDraw, axes: Axes, trajectory: Trajectory) -> None:
    """Markers joined by a line, each labelled clear of the other labels and markers.

    A label goes above a point higher than its neighbours on average (clear of the joining line),
    else below; on a clash, the other side, then one or two lines further out; a label with no room
    left (scans crowded within months) is left out rather than drawn over another.
    """
    small = font(SMALL_FONT)
    points = [p for p in trajectory.points if math.isfinite(p.value) and math.isfinite(p.age_years)]
    xy = [(axes.x(p.age_years), axes.y(p.value)) for p in points]
    if len(xy) > 1:
        draw.line(xy, fill=JOIN, width=3)
    r = MARKER_RADIUS
    taken: list[Box] = [(x - r - 1, y - r - 1, x + r + 1, y + r + 1) for x, y in xy]
    labels = []
    for i, (point, (x, y)) in enumerate(zip(points, xy, strict=True)):
        label = fit_text(draw, point.label, small, (axes.right - axes.left) * 0.5)
        width = draw.textlength(label, font=small)
        neighbours = [q.value for q in points[max(0, i - 1) : i + 2] if q is not point]
        below = bool(neighbours) and point.value < sum(neighbours) / len(neighbours)
        boxes = [
            _label_box(axes, x, y, width, side, level) for level in (0, 1, 2) for side in (below, not below)
        ]
        box = next((b for b in boxes if b is not None and not _overlaps(b, taken)), None)
        if box is not None:
            taken.append(box)
            labels.append((box, label))
    for x, y in xy:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=MARKER)
    for box, label in labels:
        draw.text((box[0], box[1] - 1), label, INK, small)


def chart(
    trajectory: Trajectory,
    width: int,
    height: int,
    shades: Shades | None = None,
    colour: Colour | None = None,
) -> Image.Image:
    """The chart of ``trajectory`` as a ``width`` x ``height`` RGB image (plot at :func:`axes_for`).

    ``shades``: the band colours (default: :func:`band_colours` of the trajectory's own bands);
    ``colour``: the region's colour in the SEG and the overlays, a square before the title.
    """
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    axes = axes_for(trajectory, width, height)
    title = font(TITLE_FONT)
    unit = f" ({trajectory.unit})" if trajectory.unit else ""
    curves = curves_shown(trajectory, axes.ages)
    room = width - axes.left - 4 if curves else (width - axes.left) * 0.6  # else a note follows
    name = fit_text(draw, trajectory.name + unit, title, room)
    draw.text((axes.left, 2), name, INK, title)
    if colour is not None:
        draw.rectangle([axes.left - 17, 5, axes.left - 6, 16], fill=colour)
    draw.rectangle([axes.left, axes.top, axes.right, axes.bottom], fill=PLOT_BACKGROUND)
    _bands(draw, axes, curves, shades if shades is not None else band_colours(bands(list(curves))))
    _grid(draw, axes)
    _curves(draw, axes, curves)
    if not curves:
        note = "no norm centiles at these ages" if trajectory.centiles else "no norm centiles"
        left = axes.left + draw.textlength(name, font=title) + 10
        draw.text((left, 5), fit_text(draw, note, font(SMALL_FONT), width - left - 4), DIM, font(SMALL_FONT))
    _points(draw, axes, trajectory)
    return image
