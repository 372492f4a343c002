"""The training / evaluation data layout and its feature extraction.

    DATA/
      labels.csv          columns: series, label   (label 0 or 1; one row per subject)
      <series>            a 4D NIfTI (.nii / .nii.gz) or a folder holding one DICOM series

``series`` is a path relative to DATA. NIfTI files whose sform/qform code is 4 (MNI152) are taken
as normalised (no template registration). Every run is preprocessed like the pipeline does it and
cropped to one length (given, else the shortest run) at one TR (given, else the median); a run with
another TR, or shorter than a given length, is refused with its name: time is never resampled.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicom_node.errors import InputError
from inference.pipelines.fmri.features import zscore
from inference.pipelines.fmri.preprocess import preprocess
from inference.pipelines.fmri.series4d import Run4D, read_run
from inference.pipelines.fmri.temporal import Timing, check, crop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    names: list[str]
    labels: np.ndarray  # (subjects,) 0/1
    features: np.ndarray  # (subjects, rois, time, points)
    rois: list[int]
    timing: Timing


def read_labels(data: Path) -> list[tuple[str, int]]:
    path = data / "labels.csv"
    if not path.is_file():
        raise InputError(f"{path}: missing (columns: series,label)")
    rows: list[tuple[str, int]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                name, label = row["series"].strip(), int(row["label"])
            except (KeyError, ValueError, AttributeError) as exc:
                raise InputError(f"{path}:{number}: needs 'series' and a 0/1 'label'") from exc
            if label not in (0, 1):
                raise InputError(f"{path}:{number}: label must be 0 or 1, got {label}")
            rows.append((name, label))
    if len({label for _, label in rows}) < 2:
        raise InputError(f"{path}: both classes (0 and 1) are needed")
    return rows


def load_dataset(
    data: Path, rois: list[int], timing: Timing | None = None, motion_correction: bool = True
) -> Dataset:
    rows = read_labels(data)
    raw: list[tuple[np.ndarray, float | None]] = []
    for name, _ in rows:
        run: Run4D = read_run(data / name)
        pre = preprocess(run, rois, motion_correction)
        raw.append((pre.matrices.matrices, run.tr_s))
        log.info("fmri.preprocessed series=%s volumes=%d", name, run.n_volumes)
    if timing is None:
        length = int(min(m.shape[1] for m, _ in raw))
        tr = float(np.median([t for _, t in raw if t] or [3.0]))
        timing = Timing(length, tr)
    for (name, _), (m, t) in zip(rows, raw, strict=True):
        refused = check(m.shape[1], t, timing).refused
        if refused:
            raise InputError(f"{data / name}: {refused}")
    features = np.stack([zscore(crop(m, timing)) for m, _ in raw])  # z-scored over the frames used
    return Dataset([n for n, _ in rows], np.array([label for _, label in rows]), features, list(rois), timing)
