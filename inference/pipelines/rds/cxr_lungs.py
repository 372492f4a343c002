"""The real chest radiographs with lung masks (``shared/data/cxr_lungs``) and their patient-level split.

Layout read here (see that folder's README and SOURCE.md files)::

    DATA/peds_kermany_v7/{images,masks}/, labels.csv   paediatric, 224 x 224 JPEG, CC BY 4.0
    DATA/adult_covid_v7/{images,masks}/, labels.csv    adult COVID-19, PNG <= 512 px, per-image licence

Masks hold 0 background, 1 patient-right lung, 2 patient-left lung (standard display).

Patients: the paediatric ``patient_key`` (``personN``, ``IM-XXXX``, ``NORMAL2-IM-XXXX``; a ``personN``
is one patient whatever the diagnosis in the file name, which may merge two children but never
splits one), the adult ``patientid``. Every image of a patient falls in one part of the split:

- paediatric: SHA-1 of the patient key, mod 10: 0-6 train, 7 validation, 8-9 test;
- adult: only CC BY images (licence ``CC BY 3.0`` / ``CC BY 4.0``) may train a model we redistribute,
  so every adult patient with a CC BY image trains; the other adult patients (non-commercial,
  no-derivatives or no licence listed: usable for evaluation only) go to validation (SHA-1 mod 5 = 0)
  or test (the rest).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicom_node.errors import InputError
from inference.pipelines.rds.images import read_image, read_mask, resize, to_working

PEDS = "peds_kermany_v7"
ADULT = "adult_covid_v7"
REDISTRIBUTABLE = ("CC BY 3.0", "CC BY 4.0")


@dataclass(frozen=True)
class Film:
    """One radiograph with its reference mask, at native resolution on disk."""

    group: str  # "peds" or "adult"
    name: str
    image: Path
    mask: Path
    patient: str
    licence: str
    part: str  # train / val / test

    @property
    def trainable(self) -> bool:
        """Whether a model trained on this film may be redistributed (CC BY image and mask)."""
        return self.group == "peds" or self.licence in REDISTRIBUTABLE


def _bucket(key: str, modulo: int) -> int:
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % modulo


def peds_part(patient: str) -> str:
    bucket = _bucket(patient, 10)
    return "train" if bucket < 7 else "val" if bucket == 7 else "test"


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: missing (expected the cxr_lungs layout: {PEDS}/ and {ADULT}/)")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def films(root: Path) -> list[Film]:
    """Every film of both sets with its part of the patient-level split."""
    out = []
    for row in _rows(root / PEDS / "labels.csv"):
        patient = row["patient_key"].strip()
        out.append(
            Film(
                "peds",
                Path(row["image"]).stem,
                root / PEDS / row["image"],
                root / PEDS / row["mask"],
                patient,
                "CC BY 4.0",
                peds_part(patient),
            )
        )
    adults = _rows(root / ADULT / "labels.csv")
    training_patients = {r["patientid"] for r in adults if r["license"].strip() in REDISTRIBUTABLE}
    for row in adults:
        patient = row["patientid"].strip()
        if patient in training_patients:
            part = "train"
        else:
            part = "val" if _bucket(f"adult-{patient}", 5) == 0 else "test"
        name = row["file"]
        out.append(
            Film(
                "adult",
                Path(name).stem,
                root / ADULT / "images" / name,
                root / ADULT / "masks" / name,
                patient,
                row["license"].strip(),
                part,
            )
        )
    return out


def select(all_films: list[Film], part: str, trainable_only: bool = False) -> list[Film]:
    return [f for f in all_films if f.part == part and (f.trainable or not trainable_only)]


@dataclass(frozen=True)
class Loaded:
    film: Film
    image: np.ndarray  # working resolution, [0, 1]
    labels: np.ndarray  # working resolution, 0/1/2
    reference: np.ndarray  # native resolution, 0/1/2


def load(film: Film, size: int) -> Loaded:
    pixels = read_image(film.image)
    reference = read_mask(film.mask)
    if reference.shape != pixels.shape:
        raise InputError(f"{film.mask.name}: mask {reference.shape} != image {pixels.shape}")
    return Loaded(film, to_working(pixels, size), resize(reference, (size, size), nearest=True), reference)
