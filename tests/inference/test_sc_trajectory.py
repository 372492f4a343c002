"""The SC's trajectory pages: each region's values over age against the norm's centile curves (#21).

The source is the real Siemens XA30 T1 (tests/data), the atrophy pipeline's own input; the
trajectories are made up here (linear norms with known centiles). What is checked is what a reader
sees: every page a valid SC instance of the one SC series, the measured points drawn where their age
and value put them, the bands between their centiles, the DEMO banner and disclaimer on every page,
and sane pages for one point, ages outside the norm, no norm and many regions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from scipy import ndimage

from inference.dicom_out import new_context, write_outputs
from inference.dicom_out import trajectory as tc
from inference.dicom_out.layout import BANNER_HEIGHT, DEMO_RED, MAX_HEIGHT, MAX_WIDTH
from inference.dicom_out.sc import summary_lines
from inference.dicom_out.trajectory_page import (
    COLUMNS,
    MAX_COLUMNS,
    Cell,
    grid,
    rows_per_page,
    trajectory_pages,
)
from inference.pipeline import (
    AlgorithmInfo,
    Measurement,
    Result,
    Series,
    Trajectory,
    TrajectoryPoint,
)
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid, roundtrip

T1 = Path(__file__).parents[1] / "data" / "dcm_qa_xa30" / "In" / "5_anat-T1w_acq-tfl"
VOLUME = Code("118565006", "SCT", "Volume")
ML = Code("mL", "UCUM", "milliliter")
Z = {2.5: -1.96, 25.0: -0.674, 50.0: 0.0, 75.0: 0.674, 97.5: 1.96}  # standard normal quantiles
NORM_AGES = np.arange(40.0, 91.0, 1.0)  # the made-up norm covers 40 to 90 years
BASE, SLOPE, SD = 4.2, -0.02, 0.35  # median 4.2 mL at 40 years, -0.02 mL a year, SD 0.35 mL


def _norm_value(centile: float, age: float) -> float:
    return BASE + SLOPE * (age - 40.0) + Z[centile] * SD


def _centiles(ages: np.ndarray = NORM_AGES) -> dict[float, list[tuple[float, float]]]:
    return {c: [(float(a), _norm_value(c, float(a))) for a in ages] for c in Z}


def _trajectory(name: str, points: Sequence[tuple[float, float, str]], centiles: bool = True) -> Trajectory:
    return Trajectory(
        name=name,
        unit="mL",
        points=[TrajectoryPoint(age, value, label) for age, value, label in points],
        centiles=_centiles() if centiles else {},
    )


TWO = [(70.3, 3.1, "2022-03-15"), (72.4, 2.85, "2024-04-20")]
REGIONS = ("Hippocampus L", "Hippocampus R", "Lateral ventricles", "Grey matter")


def _shifted(offset: float) -> list[tuple[float, float, str]]:
    return [(age, value + offset, label) for age, value, label in TWO]


@pytest.fixture(scope="module")
def t1() -> Series:
    return read_series(T1)


def _outputs(series: Series, trajectories: Sequence[Trajectory], demo: bool = True) -> list[Dataset]:
    result = Result(measurements=[Measurement(VOLUME, 2.85, ML)], trajectories=trajectories)
    algorithm = AlgorithmInfo("atrophy-test", "1", demonstration=demo)
    return [ds for ds in write_outputs(series, result, "atrophy", algorithm) if ds.Modality == "OT"]


def _pixels(ds: Dataset) -> np.ndarray:
    return np.asarray(roundtrip(ds).pixel_array)


def _colour(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(pixels == np.asarray(colour, np.uint8), axis=-1)


def _markers(pixels: np.ndarray, cell: Cell) -> list[tuple[float, float]]:
    """Centres (x, y on the page) of the marker-coloured blobs in ``cell``, left to right."""
    box = pixels[cell.top : cell.top + cell.height, cell.left : cell.left + cell.width]
    labels, count = ndimage.label(_colour(box, tc.MARKER))
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, range(1, count + 1))
    return sorted((cell.left + float(x), cell.top + float(y)) for y, x in centres)


@pytest.fixture(scope="module")
def demo_pages(t1: Series) -> tuple[list[Trajectory], list[Dataset]]:
    trajectories = [_trajectory(name, _shifted(-0.1 * i)) for i, name in enumerate(REGIONS)]
    return trajectories, _outputs(t1, trajectories)


def test_chart_page_is_a_valid_second_instance_of_the_sc_series(
    demo_pages: tuple[list[Trajectory], list[Dataset]], tmp_path: Path
) -> None:
    _, (summary, charts) = demo_pages
    assert [summary.InstanceNumber, charts.InstanceNumber] == [1, 2]
    assert charts.SeriesInstanceUID == summary.SeriesInstanceUID and charts.SeriesNumber == 9003
    assert charts.SOPInstanceUID != summary.SOPInstanceUID
    assert charts.SeriesDescription == summary.SeriesDescription == "AI atrophy SC DEMO"
    assert (charts.Columns, charts.SamplesPerPixel) == (MAX_WIDTH, 3) and charts.Rows <= MAX_HEIGHT
    # the chart page adds no dciodvfy finding of its own (warnings left are the source's values)
    assert assert_valid(charts, tmp_path) == assert_valid(summary, tmp_path)


def test_every_page_keeps_the_demo_banner_and_the_disclaimer(
    demo_pages: tuple[list[Trajectory], list[Dataset]], t1: Series
) -> None:
    for ds in demo_pages[1]:
        pixels = _pixels(ds)
        assert _colour(pixels[:BANNER_HEIGHT], DEMO_RED).mean() > 0.8
        assert _colour(pixels[-BANNER_HEIGHT:], (40, 40, 40)).mean() > 0.8
    plain = _outputs(t1, [_trajectory("Hippocampus L", TWO)], demo=False)
    assert len(plain) == 2 and plain[1].SeriesDescription == "AI atrophy SC"
    pixels = _pixels(plain[1])
    assert not _colour(pixels, DEMO_RED).any()
    assert _colour(pixels[-BANNER_HEIGHT:], (40, 40, 40)).mean() > 0.8


def test_points_are_drawn_where_their_age_and_value_put_them(
    demo_pages: tuple[list[Trajectory], list[Dataset]],
) -> None:
    trajectories, (_, charts) = demo_pages
    pixels = _pixels(charts)
    cells = grid(len(trajectories), demo=True)[0]
    assert len(cells) == len(trajectories)
    for trajectory, cell in zip(trajectories, cells, strict=True):
        axes = tc.axes_for(trajectory, cell.width, cell.height)
        found = _markers(pixels, cell)
        assert len(found) == len(trajectory.points), trajectory.name
        for point, (x, y) in zip(trajectory.points, found, strict=True):
            assert abs(x - (cell.left + axes.x(point.age_years))) <= 1.5
            assert abs(y - (cell.top + axes.y(point.value))) <= 1.5
        # independently of the module's mapping: a later, smaller value is further right and lower
        (x0, y0), (x1, y1) = found
        assert x1 > x0 and y1 > y0
        assert axes.ages[0] < trajectory.points[0].age_years < trajectory.points[-1].age_years < axes.ages[1]


def test_bands_lie_between_their_centiles_and_the_median_is_a_line(
    demo_pages: tuple[list[Trajectory], list[Dataset]],
) -> None:
    trajectories, (_, charts) = demo_pages
    pixels = _pixels(charts)
    shades = tc.band_colours(tc.bands(list(Z)))
    assert shades[(2.5, 97.5)] != shades[(25.0, 75.0)]
    trajectory, cell = trajectories[0], grid(len(trajectories), demo=True)[0][0]
    axes = tc.axes_for(trajectory, cell.width, cell.height)
    age = 71.5  # between the two points, inside the norm
    column = pixels[:, cell.left + round(axes.x(age))]

    def span(low: float, high: float) -> np.ndarray:  # the column's pixels between two values, edges left out
        top, bottom = cell.top + axes.y(high), cell.top + axes.y(low)
        return column[round(top) + 3 : round(bottom) - 2]

    def share(part: np.ndarray, colour: tuple[int, int, int]) -> float:
        return float(_colour(part, colour).mean())

    outer = span(_norm_value(2.5, age), _norm_value(25.0, age))
    inner = span(_norm_value(25.0, age), _norm_value(50.0, age))
    assert share(outer, shades[(2.5, 97.5)]) > 0.8
    assert share(inner, shades[(25.0, 75.0)]) > 0.8
    median = cell.top + axes.y(_norm_value(50.0, age))
    assert _colour(column[round(median) - 1 : round(median) + 2], tc.MEDIAN).any()
    above = column[cell.top + axes.top + 1 : round(cell.top + axes.y(_norm_value(97.5, age))) - 2]
    assert not any(_colour(above, shade).any() for shade in shades.values())


def test_one_point_ages_outside_the_norm_and_no_norm_render_sanely(t1: Series) -> None:
    trajectories = [
        _trajectory("One point", [(66.0, 3.6, "2024-01-01")]),
        _trajectory("Older than the norm", [(88.0, 2.9, "2020-02-01"), (95.5, 2.6, "2027-08-01")]),
        _trajectory("Younger than the norm", [(20.0, 4.4, "2020-02-01"), (22.0, 4.5, "2022-02-01")]),
        _trajectory("No norm", [(70.0, 1200.0, "2020-01-01"), (73.0, 1150.0, "2023-01-01")], centiles=False),
    ]
    (_, charts) = _outputs(t1, trajectories)
    pixels = _pixels(charts)
    cells = grid(len(trajectories), demo=True)[0]
    shades = tuple(tc.band_colours(tc.bands(list(Z))).values())
    for trajectory, cell in zip(trajectories, cells, strict=True):
        axes = tc.axes_for(trajectory, cell.width, cell.height)
        found = _markers(pixels, cell)
        assert len(found) == len(trajectory.points), trajectory.name
        for point, (x, y) in zip(trajectory.points, found, strict=True):
            assert axes.left <= x - cell.left <= axes.right and axes.top <= y - cell.top <= axes.bottom
            assert abs(x - (cell.left + axes.x(point.age_years))) <= 1.5
        box = pixels[cell.top : cell.top + cell.height, cell.left : cell.left + cell.width]
        banded = np.any([_colour(box, s) for s in shades], axis=0)
        columns = np.flatnonzero(banded.any(axis=0))
        if trajectory.name == "One point":  # the norm covers every age shown
            assert abs(columns.min() - axes.left) <= 1 and abs(columns.max() - axes.right) <= 1
        elif trajectory.name == "Older than the norm":  # drawn up to the norm's last age ...
            assert abs(columns.min() - axes.left) <= 1 and abs(columns.max() - axes.x(90.0)) <= 1
        else:  # ... and nowhere without a norm
            assert not banded.any(), trajectory.name
    one = tc.axes_for(trajectories[0], 400, 300)
    assert one.ages[1] - one.ages[0] >= tc.MIN_AGE_SPAN


def test_the_atrophy_pipelines_ten_regions_fit_on_one_page() -> None:
    rows = rows_per_page(demo=True)
    assert rows == 3  # on a full page, at the minimum chart height
    assert [len(cells) for cells in grid(COLUMNS * rows, demo=True)] == [COLUMNS * rows]
    (ten,) = grid(10, demo=True)  # more than COLUMNS a row allow: MAX_COLUMNS a row, still one page
    assert len({c.left for c in ten}) == MAX_COLUMNS and len({c.top for c in ten}) == rows


def test_many_regions_wrap_into_rows_and_further_pages(t1: Series, tmp_path: Path) -> None:
    per_page = rows_per_page(demo=True) * MAX_COLUMNS
    count = per_page + 2
    trajectories = [_trajectory(f"Region {i}", _shifted(0.05 * i)) for i in range(count)]
    summary, *pages = _outputs(t1, trajectories)
    assert len(pages) == 2 and [p.InstanceNumber for p in pages] == [2, 3]
    assert len({p.SOPInstanceUID for p in pages}) == 2
    assert all(p.SeriesInstanceUID == summary.SeriesInstanceUID for p in pages)
    layouts = grid(count, demo=True)
    assert [len(cells) for cells in layouts] == [per_page, 2]
    for ds, cells in zip(pages, layouts, strict=True):
        assert ds.Columns == MAX_WIDTH and ds.Rows <= MAX_HEIGHT
        pixels = _pixels(ds)
        for i, cell in enumerate(cells):
            assert cell.left >= 0 and cell.left + cell.width <= ds.Columns
            assert cell.top >= BANNER_HEIGHT and cell.top + cell.height <= ds.Rows - BANNER_HEIGHT
            for other in cells[i + 1 :]:  # no two charts overlap
                apart = other.left >= cell.left + cell.width or other.top >= cell.top + cell.height
                assert apart
            assert len(_markers(pixels, cell)) == 2
    assert len({c.top for c in layouts[0]}) == rows_per_page(demo=True) > 1
    assert_valid(pages[-1], tmp_path)


def test_without_trajectories_the_sc_is_one_page_as_before(t1: Series) -> None:
    (summary,) = _outputs(t1, [])
    assert summary.InstanceNumber == 1 and not _colour(_pixels(summary), tc.MARKER).any()
    context = new_context("atrophy", AlgorithmInfo("atrophy-test", "1"))
    result = Result(trajectories=[_trajectory("Hippocampus L", TWO)])
    assert any("next image" in line for line in summary_lines(result, context))
    assert not any("next image" in line for line in summary_lines(Result(), context))


def test_odd_trajectories_still_draw_a_chart() -> None:
    odd = [
        Trajectory("NaN", "mL", [TrajectoryPoint(70.0, math.nan, "x"), TrajectoryPoint(71.0, 3.0, "y")]),
        Trajectory("No points", "mL", [], {50: [(60.0, 3.0), (80.0, 2.5)]}),  # an int centile key
        Trajectory("Flat", "", [TrajectoryPoint(70.0, 0.0, "z")], {50.0: [(70.0, 0.0)]}),  # one-point curve
    ]
    for trajectory in odd:
        pixels = np.asarray(tc.chart(trajectory, 400, 280))
        axes = tc.axes_for(trajectory, 400, 280)
        assert axes.ages[1] - axes.ages[0] >= tc.MIN_AGE_SPAN and axes.values[1] > axes.values[0]
        finite = [p for p in trajectory.points if np.isfinite(p.value)]
        count = ndimage.label(_colour(pixels, tc.MARKER))[1]
        assert count == len(finite), trajectory.name


def test_a_region_chart_carries_its_segment_colour() -> None:
    colour = (60, 180, 75)  # a PALETTE_RGB entry: the SEG's and the overlays' colour of label 7
    trajectories = [
        Trajectory("Hippocampus L", "mL", [TrajectoryPoint(70.0, 3.0, "a")], _centiles(), region=7),
        Trajectory("Whole brain", "mL", [TrajectoryPoint(70.0, 1100.0, "a")], _centiles()),
    ]
    (page,) = trajectory_pages(trajectories, "AI atrophy", "NOT FOR DIAGNOSTIC USE", None, {7: colour})
    coloured, plain = (
        page[cell.top : cell.top + tc.TOP, cell.left : cell.left + tc.LEFT] for cell in grid(2, demo=False)[0]
    )
    assert _colour(coloured, colour).sum() >= 100  # a square of 12 x 12 pixels left of the title
    assert not _colour(plain, colour).any()


def test_crowded_scans_keep_every_marker_whole() -> None:
    crowded = [(70.0 + 0.4 * i, 3.3 - 0.02 * i, f"2020-0{i + 1}-01") for i in range(5)]
    trajectory = _trajectory("Crowded", crowded)
    pixels = np.asarray(tc.chart(trajectory, 300, 280))
    labels, count = ndimage.label(_colour(pixels, tc.MARKER))
    assert count == len(crowded)
    whole = math.pi * tc.MARKER_RADIUS**2
    assert all(size >= 0.9 * whole for size in ndimage.sum_labels(labels > 0, labels, range(1, count + 1)))
