"""Training data for the dermatitis grader: labelled lesion crops, as the paper labelled them.

Two layouts are read:

- folders per sign and severity: ``DATA/<sign>/<0-3>/<image>`` (the paper's labelling: each crop is
  graded for one sign; the other two signs of that crop are unknown and ignored by the loss);
- a CSV, ``DATA/labels.csv`` or DATA itself: columns ``image,erythema,excoriation,lichenification``,
  image paths relative to the CSV's folder, an empty cell meaning "not graded".

Images are any format Pillow reads; they are scaled to the network's crop size. The 70:30 split of
the paper is a seeded permutation, so ``evaluate`` finds the same 30 % that ``train`` held out.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dicom_node.errors import InputError
from inference.pipelines.dermatitis.signs import LEVELS, SIGN_KEYS

CSV_NAME = "labels.csv"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
UNKNOWN = -1
TRAIN_FRACTION = 0.7


@dataclass(frozen=True)
class Item:
    path: Path
    labels: tuple[int, int, int]  # per sign, UNKNOWN when not graded


def _level(value: str, where: str) -> int:
    value = value.strip()
    if value == "":
        return UNKNOWN
    if value not in {str(v) for v in range(LEVELS)}:
        raise InputError(f"{where}: severity {value!r} is not one of 0-{LEVELS - 1}")
    return int(value)


def read_csv(path: Path) -> list[Item]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"{path}: {exc}") from exc
    if not rows:
        raise InputError(f"{path}: no rows")
    missing = [c for c in ("image", *SIGN_KEYS) if c not in rows[0]]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    items = []
    for number, row in enumerate(rows, start=2):
        where = f"{path.name} line {number}"
        image = path.parent / row["image"]
        labels = tuple(_level(row[k] or "", where) for k in SIGN_KEYS)
        items.append(Item(image, (labels[0], labels[1], labels[2])))
    return items


def read_folders(root: Path) -> list[Item]:
    items = []
    for index, key in enumerate(SIGN_KEYS):
        for level in range(LEVELS):
            folder = root / key / str(level)
            if not folder.is_dir():
                continue
            for image in sorted(folder.iterdir()):
                if image.suffix.lower() in IMAGE_SUFFIXES:
                    labels = [UNKNOWN] * 3
                    labels[index] = level
                    items.append(Item(image, (labels[0], labels[1], labels[2])))
    return items


def read_items(data: Path) -> list[Item]:
    """All labelled crops under ``data`` (a CSV file, a folder with labels.csv, or sign folders)."""
    if data.is_file():
        items = read_csv(data)
    elif (data / CSV_NAME).is_file():
        items = read_csv(data / CSV_NAME)
    elif data.is_dir():
        items = read_folders(data)
    else:
        raise InputError(f"{data}: not found")
    if not items:
        raise InputError(f"{data}: no labelled images (expected {CSV_NAME} or <sign>/<0-3>/ folders)")
    absent = [i.path for i in items if not i.path.is_file()]
    if absent:
        raise InputError(f"{absent[0]}: image not found ({len(absent)} missing)")
    return items


def split(items: list[Item], seed: int) -> tuple[list[Item], list[Item]]:
    """The paper's 70:30 split (training, test), a permutation seeded by ``seed``."""
    order = np.random.default_rng(seed).permutation(len(items))
    cut = round(len(items) * TRAIN_FRACTION)
    return [items[i] for i in order[:cut]], [items[i] for i in order[cut:]]


def load_images(items: list[Item], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, size, size, 3) uint8 and labels (N, 3) int64 of ``items``."""
    images = np.empty((len(items), size, size, 3), dtype=np.uint8)
    for n, item in enumerate(items):
        try:
            with Image.open(item.path) as picture:
                rgb = picture.convert("RGB")
                if rgb.size != (size, size):
                    rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
                images[n] = np.asarray(rgb)
        except OSError as exc:
            raise InputError(f"{item.path}: {exc}") from exc
    labels = np.asarray([item.labels for item in items], dtype=np.int64).reshape(len(items), 3)
    return images, labels


def write_synthetic(folder: Path, count: int, seed: int, size: int) -> Path:
    """Write ``count`` synthetic crops (PNG) and labels.csv into ``folder``; return the CSV path."""
    from inference.pipelines.dermatitis.synthetic import patches

    images, labels = patches(count, seed, size)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    path = folder / CSV_NAME
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *SIGN_KEYS])
        for n, (image, label) in enumerate(zip(images, labels, strict=True)):
            name = f"images/synthetic_{n:05d}.png"
            Image.fromarray(image, mode="RGB").save(folder / name)
            writer.writerow([name, *(int(v) for v in label)])
    return path
