"""A synthetic AI-Hub style data set of regional features, for tests and demonstrations of the head.

No DICOM: each subject gets an annotation JSON (DICOM JSON style, as in the AI-Hub sample) and a row
in ``features.csv``, so training reads features from the cache and never runs the skull strip or the
parcellation. Volumes follow the reference model of :mod:`.norms` for the subject's age and sex, with 5 %
noise; a region annotated with atrophy loses 20 % of its volume. Atrophy is drawn per class: most often
in the hippocampi and temporal cortex for dementia, less for MCI, rarely for normal subjects.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inference.pipelines.atrophy import reference
from inference.pipelines.atrophy.dataset import CLASS_NAMES
from inference.pipelines.atrophy.features import FEATURES_CSV, RegionalFeatures, write_features_csv
from inference.pipelines.atrophy.regions import REGIONS

# Probability of atrophy per class (dementia, MCI, normal) and structure.
ATROPHY_RATE: dict[str, tuple[float, float, float]] = {
    "hippocampus": (0.85, 0.45, 0.05),
    "temporal": (0.65, 0.25, 0.05),
    "parietal": (0.45, 0.15, 0.05),
    "frontal": (0.30, 0.10, 0.05),
    "occipital": (0.10, 0.05, 0.03),
}
LOSS = 0.20
NOISE = 0.05


def subject_features(rng: np.random.Generator, label: int, name: str) -> tuple[RegionalFeatures, list[int]]:
    """One synthetic subject of class ``label``: its features and its region codes."""
    age = float(rng.uniform(58, 88))
    sex = "F" if rng.random() < 0.55 else "M"
    icv = float(rng.normal(1450 if sex == "M" else 1300, 90))
    volumes, codes = [], []
    for region in REGIONS:
        atrophy = bool(rng.random() < ATROPHY_RATE[region.structure][label])
        expected = reference.evaluate(region.structure, region.side, 1.0, age, sex, icv).expected_ml
        volume = expected * (1 + NOISE * rng.standard_normal())
        volumes.append(volume * ((1 - LOSS) if atrophy else 1.0))
        codes.append(region.code(atrophy))
    return RegionalFeatures(name, tuple(volumes), icv, round(age, 1), sex), codes


def write_dataset(root: Path, per_class: int, seed: int = 0) -> list[str]:
    """Write ``per_class`` subjects of each class under ``root``; return the subject ids."""
    rng = np.random.default_rng(seed)
    rows: list[RegionalFeatures] = []
    for label, class_name in enumerate(CLASS_NAMES):
        for i in range(per_class):
            name = f"{class_name.lower()}/subject_{label}{i:03d}"
            features, codes = subject_features(rng, label, name)
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            annotation = {
                "00100010": {"vr": "PN"},
                "annotation": {"vr": "IS", "Value": codes},
                "class": class_name,
            }
            (folder / "annotation.json").write_text(json.dumps(annotation, indent=1), "utf-8")
            rows.append(features)
    write_features_csv(root / FEATURES_CSV, rows)
    return [r.subject for r in rows]
