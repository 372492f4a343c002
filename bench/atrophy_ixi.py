"""Flag rate of the atrophy norms on healthy people: the 291 IXI adults' DLMUSE volumes.

    python bench/atrophy_ixi.py [../shared/data/brain_volumes_ixi_dlmuse/ixi_volumes_named.csv]

Each IXI subject's DLMUSE regional volumes are mapped onto our 10 regions (mapping below, documented in
docs/pipelines.md) and compared with the same norm code the pipeline uses (:mod:`.reference`), with
the IXI ICV (DLMUSE 702) as ICV. Printed: per-region rate below the 2.5th centile and the share of
subjects with at most one region below, (a) against the population norms and (b) with a site calibration
fitted on one half of the subjects and applied to the other (2-fold, both ways), as a site would do with
``dicom-node calibrate atrophy``. Also the left-right correlation of age/sex-adjusted volumes
(:data:`.reference.LEFT_RIGHT_R`).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from inference.pipelines.atrophy import calibration, reference
from inference.pipelines.atrophy.features import RegionalFeatures
from inference.pipelines.atrophy.regions import REGIONS

DEFAULT = Path(__file__).parents[1] / "../shared/data/brain_volumes_ixi_dlmuse/ixi_volumes_named.csv"
# Our region -> DLMUSE ROI indices (left side; the right side uses the matching right-hemisphere ROIs).
# frontal: MUSE Frontal_GM minus the insula (anterior/posterior) plus the anterior cingulate gyrus;
# parietal: Parietal_GM plus middle and posterior cingulate gyri (DK posterior/isthmus cingulate are
# parietal in our map); temporal: Temporal_GM plus entorhinal area and parahippocampal gyrus; occipital:
# Occipital_GM; hippocampus: Hippocampus.
MAPPING: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    # structure: (left add, left subtract, right add) -- right subtract follows from the left (below)
    "frontal": ((416, 101), (103, 173), (428, 100)),
    "temporal": ((423, 117, 171), (), (435, 116, 170)),
    "parietal": ((421, 139, 167), (), (433, 138, 166)),
    "occipital": ((419,), (), (431,)),
    "hippocampus": ((48,), (), (47,)),
}
RIGHT_SUBTRACT = {"frontal": (102, 172)}
THRESHOLD = 2.5


def read(path: Path) -> list[RegionalFeatures]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = {c.split("_")[0]: c for c in rows[0] if c.split("_")[0].isdigit()}
    subjects = []
    for row in rows:

        def total(indices: tuple[int, ...], r: dict[str, str] = row) -> float:
            return sum(float(r[columns[str(i)]]) for i in indices)

        volumes = []
        for region in REGIONS:
            add, subtract, right = MAPPING[region.structure]
            if region.side == "left":
                volumes.append((total(add) - total(subtract)) / 1000.0)
            else:
                volumes.append((total(right) - total(RIGHT_SUBTRACT.get(region.structure, ()))) / 1000.0)
        subjects.append(
            RegionalFeatures(
                row["ID"], tuple(volumes), float(row[columns["702"]]) / 1000.0, float(row["Age"]), row["Sex"]
            )
        )
    return subjects


def centiles(subjects: list[RegionalFeatures], cal: calibration.Calibration | None) -> np.ndarray:
    out = np.zeros((len(subjects), len(REGIONS)))
    for i, s in enumerate(subjects):
        assert s.age is not None and s.sex is not None
        for j, region in enumerate(REGIONS):
            offset = cal.offset(region) if cal else 0.0
            e = reference.evaluate(
                region.structure, region.side, s.volumes_ml[j], s.age, s.sex, s.icv_ml, offset
            )
            out[i, j] = e.centile
    return out


def summarise(title: str, c: np.ndarray) -> None:
    below = c < THRESHOLD
    print(f"{title} (n = {len(c)}):")
    for j, region in enumerate(REGIONS):
        print(
            f"  {region.name:<22} below {THRESHOLD}th: {100 * below[:, j].mean():5.1f} %"
            f"   median centile {np.median(c[:, j]):5.1f}"
        )
    counts = below.sum(axis=1)
    print(
        f"  at most one region below: {100 * (counts <= 1).mean():.1f} %;"
        f" none: {100 * (counts == 0).mean():.1f} %"
    )


def left_right(subjects: list[RegionalFeatures]) -> None:
    age = np.array([s.age for s in subjects], dtype=float)
    male = np.array([s.sex == "M" for s in subjects], dtype=float)
    x = np.column_stack([np.ones_like(age), age, age**2, male])
    v = np.array([s.volumes_ml for s in subjects])
    for k in range(0, len(REGIONS), 2):
        left, right = v[:, k], v[:, k + 1]
        res = [y - x @ np.linalg.lstsq(x, y, rcond=None)[0] for y in (left, right)]
        print(f"  r_LR {REGIONS[k].structure:<12} {np.corrcoef(*res)[0, 1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT)
    args = parser.parse_args()
    subjects = read(args.csv)
    ages = [s.age or 0.0 for s in subjects]
    print(f"{len(subjects)} IXI subjects, age {min(ages):.0f}-{max(ages):.0f}")
    summarise("(a) population norms (no site calibration)", centiles(subjects, None))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(subjects))
    halves = [
        [subjects[i] for i in order[: len(order) // 2]],
        [subjects[i] for i in order[len(order) // 2 :]],
    ]
    tested, scored = [], []
    for fit_on, test_on in ((0, 1), (1, 0)):
        cal = calibration.fit(halves[fit_on], f"IXI half {fit_on}")
        print(
            f"  offsets fitted on half {fit_on}: "
            + ", ".join(f"{k} {math.exp(o.log_offset):.2f}" for k, o in cal.offsets.items())
        )
        scored.append(centiles(halves[test_on], cal))
        tested.extend(halves[test_on])
    summarise("(b) site-calibrated, 2-fold (fit on one half, test on the other)", np.vstack(scored))
    print("left-right correlation (age/sex-adjusted):")
    left_right(subjects)


if __name__ == "__main__":
    main()
