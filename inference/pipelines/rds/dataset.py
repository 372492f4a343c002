"""The training / evaluation folder of ``dicom-node train rds`` and ``dicom-node evaluate rds``.

Layout::

    DATA/images/<id>.png|.jpg|.dcm   radiographs (8/16-bit PNG or JPEG, or DICOM CR/DX; MONOCHROME1 is
                                     inverted)
    DATA/masks/<id>.png              optional lung mask: 0 background, 1 right lung, 2 left lung (patient
                                     sides, radiological display), or a binary mask split left/right
    DATA/labels.csv                  optional: columns ``image`` (the <id>, with or without extension)
                                     and ``rds`` (1/0, yes/no, true/false, RDS/normal)

Images with a mask train and evaluate the UNet; images with a label train and evaluate the
classifier (on the masks the UNet predicts, as in the paper's final model). Other images are skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicom_node.errors import InputError
from inference.pipelines.rds.images import IMAGE_SUFFIXES, read_image, read_mask, resize, to_working

POSITIVE = {"1", "yes", "true", "rds", "positive"}
NEGATIVE = {"0", "no", "false", "normal", "negative"}


@dataclass(frozen=True)
class Sample:
    name: str
    image: np.ndarray  # working resolution, [0, 1]
    labels: np.ndarray | None  # working resolution, 0/1/2
    rds: bool | None


def read_labels(path: Path) -> dict[str, bool]:
    if not path.is_file():
        return {}
    labels: dict[str, bool] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"image", "rds"} <= set(reader.fieldnames):
            raise InputError(f"{path}: needs the columns 'image' and 'rds'")
        for line, row in enumerate(reader, start=2):
            value = str(row["rds"]).strip().lower()
            if value not in POSITIVE | NEGATIVE:
                raise InputError(f"{path}:{line}: rds value {row['rds']!r} is not 1/0, yes/no, RDS/normal")
            labels[Path(str(row["image"]).strip()).stem] = value in POSITIVE
    return labels


def load_dataset(folder: Path, size: int) -> list[Sample]:
    """Every usable image of ``folder`` at ``size`` x ``size``; raise InputError when none is usable."""
    images_dir = folder / "images"
    if not images_dir.is_dir():
        raise InputError(f"{folder}: no 'images' folder (layout: images/, masks/, labels.csv)")
    labels = read_labels(folder / "labels.csv")
    samples = []
    for path in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask_path = folder / "masks" / f"{path.stem}.png"
        rds = labels.get(path.stem)
        if rds is None and not mask_path.is_file():
            continue
        pixels = read_image(path)
        mask = None
        if mask_path.is_file():
            full = read_mask(mask_path)
            if full.shape != pixels.shape:
                raise InputError(f"{mask_path.name}: mask {full.shape} != image {pixels.shape}")
            mask = resize(full, (size, size), nearest=True)
        samples.append(Sample(path.stem, to_working(pixels, size), mask, rds))
    if not samples:
        raise InputError(f"{folder}: no image has a mask or a label")
    return samples
