"""The Power et al. (2011) 264 ROIs: centres, names, hemispheres and the fixed sampling of a sphere.

Centres are MNI coordinates in mm (RAS: x to the subject's right), numbered 1..264 as in the
``ROI`` column of nilearn's ``power_2011.csv`` (shipped in ``data/`` with its licence).

Region names are derived from the coordinate by a coarse, documented rule (:func:`region_name`):
no anatomical atlas ships offline, so a name is a lobe-level label, not an atlas lookup. Note that
the paper's Table 1 names do not match these coordinates for the same ROI numbers (e.g. its
"Thalamus" ROIs 202/203 lie at (-3, 26, 44) / (11, -39, 50) here; nilearn's thalamic ROIs are
222-225): the paper numbered the ROIs in another order, so names are never copied from it.

Each ROI is read at :data:`SPHERE_OFFSETS_MM`: the points of a 2.5 mm grid within the 5 mm sphere
(33 points), so every subject gives a time x 33 matrix whatever its voxel size (the paper's matrix
was 115 x 31 voxels of its own grid).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

N_ROIS = 264
RADIUS_MM = 5.0
GRID_MM = 2.5
# The paper's 19 significant ROIs (its Table 1), the default ensemble.
PAPER_ROIS: tuple[int, ...] = (
    12,
    27,
    36,
    43,
    68,
    70,
    79,
    80,
    81,
    84,
    86,
    93,
    99,
    103,
    113,
    162,
    198,
    202,
    203,
)


@dataclass(frozen=True)
class Roi:
    number: int
    mni_ras: tuple[float, float, float]

    @property
    def hemisphere(self) -> str:
        """ "L" or "R" from the sign of x (MNI x > 0 is the right hemisphere), "M" on the midline."""
        x = self.mni_ras[0]
        return "R" if x > 0 else "L" if x < 0 else "M"

    @property
    def region(self) -> str:
        return region_name(self.mni_ras)

    def describe(self) -> str:
        return f"ROI {self.number} {self.region} {self.hemisphere}"


def region_name(mni_ras: tuple[float, float, float]) -> str:
    """A coarse lobe-level name from an MNI coordinate (x, y, z in mm), first matching rule wins.

    1. cerebellum: z < -20 and y < -40;  2. deep grey (thalamus / basal ganglia): |x| < 20,
    -30 < y < 10, -5 < z < 20;  3. occipital: y < -70;  4. temporal: z < 0 and |x| >= 30;
    5. parietal: y < -30;  6. frontal: y > 0;  7. otherwise sensorimotor (pre/postcentral).
    """
    x, y, z = mni_ras
    if z < -20 and y < -40:
        return "Cerebellum"
    if abs(x) < 20 and -30 < y < 10 and -5 < z < 20:
        return "Deep grey matter"
    if y < -70:
        return "Occipital cortex"
    if z < 0 and abs(x) >= 30:
        return "Temporal cortex"
    if y < -30:
        return "Parietal cortex"
    if y > 0:
        return "Frontal cortex"
    return "Sensorimotor cortex"


@cache
def power_rois() -> dict[int, Roi]:
    """All 264 ROIs by number, read from the packaged ``power_2011.csv``."""
    text = resources.files("inference.pipelines.fmri").joinpath("data/power_2011.csv").read_text("utf-8")
    rois: dict[int, Roi] = {}
    for row in csv.DictReader(text.splitlines()):
        number = int(row["ROI"])
        rois[number] = Roi(number, (float(row["X"]), float(row["Y"]), float(row["Z"])))
    if sorted(rois) != list(range(1, N_ROIS + 1)):
        raise RuntimeError("power_2011.csv must hold ROIs 1..264")
    return rois


def roi(number: int) -> Roi:
    try:
        return power_rois()[number]
    except KeyError:
        raise ValueError(f"Power ROI {number}: expected 1..{N_ROIS}") from None


@cache
def sphere_offsets_mm() -> np.ndarray:
    """(33, 3) offsets in mm: the 2.5 mm grid points within the 5 mm sphere, centre first."""
    steps = np.arange(-2, 3) * GRID_MM
    grid = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = grid[np.linalg.norm(grid, axis=1) <= RADIUS_MM + 1e-6]
    order = np.lexsort((inside[:, 2], inside[:, 1], inside[:, 0], np.linalg.norm(inside, axis=1)))
    return np.ascontiguousarray(inside[order])


def n_points() -> int:
    return int(sphere_offsets_mm().shape[0])


def sample_points_mni_lps(numbers: list[int]) -> np.ndarray:
    """(len(numbers), 33, 3) sample points in MNI space, as LPS mm (x and y negated)."""
    centres = np.array([roi(n).mni_ras for n in numbers], dtype=float)
    points = centres[:, None, :] + sphere_offsets_mm()[None, :, :]
    return points * np.array([-1.0, -1.0, 1.0])
