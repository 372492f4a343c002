"""Regional features of one brain: the 10 regional volumes, the ICV estimate, age and sex.

These are what the pipeline measures (:mod:`.pipeline`) and what the trainable head learns from
(:mod:`.head`). Training data keep them in a CSV cache so that the expensive skull strip and parcellation
run once per subject. ``features.csv`` columns (one row per subject, ``subject`` as in the data set)::

    subject,age,sex,icv_ml,left_frontal_ml,right_frontal_ml,left_temporal_ml,right_temporal_ml,
    left_parietal_ml,right_parietal_ml,left_occipital_ml,right_occipital_ml,left_hippocampus_ml,
    right_hippocampus_ml

``age`` in years (empty when unknown), ``sex`` M / F (empty when unknown), volumes in mL.

The head's input vector (:data:`FEATURE_NAMES`): each region's % of ICV, the ICV in litres, age in
years and whether it is known, sex (1 = male) and whether it is known. Unknown age / sex enter as 0 with
their "known" flag 0, so a head still runs on a series without Patient's Age / Sex.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicom_node.errors import InputError
from inference.pipelines.atrophy.regions import REGIONS

REGION_KEYS: tuple[str, ...] = tuple(f"{r.side}_{r.structure}" for r in REGIONS)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{key}_pct_icv" for key in REGION_KEYS),
    "icv_l",
    "age_y",
    "age_known",
    "sex_male",
    "sex_known",
)
CSV_COLUMNS: tuple[str, ...] = ("subject", "age", "sex", "icv_ml", *(f"{key}_ml" for key in REGION_KEYS))
FEATURES_CSV = "features.csv"


@dataclass(frozen=True)
class RegionalFeatures:
    subject: str
    volumes_ml: tuple[float, ...]  # in REGIONS order
    icv_ml: float
    age: float | None
    sex: str | None  # "M", "F" or None

    def vector(self) -> np.ndarray:
        """The head's input (float32, :data:`FEATURE_NAMES` order)."""
        if self.icv_ml <= 0:
            raise InputError(f"{self.subject}: intracranial volume must be positive, got {self.icv_ml}")
        percents = [100.0 * v / self.icv_ml for v in self.volumes_ml]
        age_known = self.age is not None
        sex_known = self.sex in ("M", "F")
        return np.asarray(
            [
                *percents,
                self.icv_ml / 1000.0,
                float(self.age) if age_known and self.age is not None else 0.0,
                float(age_known),
                1.0 if self.sex == "M" else 0.0,
                float(sex_known),
            ],
            dtype=np.float32,
        )


def matrix(features: Sequence[RegionalFeatures]) -> np.ndarray:
    """Stack the input vectors of several subjects, shape (N, len(FEATURE_NAMES))."""
    return np.stack([f.vector() for f in features]) if features else np.zeros((0, len(FEATURE_NAMES)))


def _number(text: str, what: str, subject: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{FEATURES_CSV}: subject {subject}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{FEATURES_CSV}: subject {subject}: {what} is not finite")
    return value


def read_features_csv(path: Path) -> dict[str, RegionalFeatures]:
    """The cached features by subject; an empty mapping when the file does not exist."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: columns missing: {', '.join(missing)}")
        found: dict[str, RegionalFeatures] = {}
        for row in reader:
            subject = row["subject"].strip()
            volumes = []
            for key in REGION_KEYS:
                value = _number(row[f"{key}_ml"], f"{key}_ml", subject)
                if value is None:
                    raise InputError(f"{path}: subject {subject}: {key}_ml is empty")
                volumes.append(value)
            icv = _number(row["icv_ml"], "icv_ml", subject)
            if icv is None or icv <= 0:
                raise InputError(f"{path}: subject {subject}: icv_ml must be a positive number")
            sex = row["sex"].strip().upper() or None
            found[subject] = RegionalFeatures(
                subject=subject,
                volumes_ml=tuple(volumes),
                icv_ml=icv,
                age=_number(row["age"], "age", subject),
                sex=sex if sex in ("M", "F") else None,
            )
    return found


def write_features_csv(path: Path, features: Iterable[RegionalFeatures]) -> None:
    """Write (replace) the cache, rows sorted by subject."""
    rows = sorted(features, key=lambda f: f.subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for f in rows:
            age = "" if f.age is None else f"{f.age:g}"
            writer.writerow(
                [f.subject, age, f.sex or "", f"{f.icv_ml:.3f}", *(f"{v:.3f}" for v in f.volumes_ml)]
            )
    temporary.replace(path)
