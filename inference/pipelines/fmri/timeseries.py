"""ROI time series as training / evaluation data: one array per subject (time x ROI) plus a labels file.

    DATA/
      labels.csv        columns: series (or file), label  (0/1, or the class names of --classes)
      <series>          a .npy array, or a text table (.1D / .txt / .csv / .tsv; '#' lines are comments)

Column ``j`` of every array is ROI ``j + 1`` of the atlas the time series came from (CC200, Power...).
Each ROI of each subject becomes a (time x 1) matrix, z-scored over time as the voxel matrices of
the DICOM path are, so the same per-ROI LSTM protocol runs on it. Time is never resampled: every
run is cropped to a common length (``length``, else the shortest run); a run shorter than a given
``length`` is refused with its name. The repetition time is not stored in the arrays: runs of one
site and protocol are expected (say which TR with ``--tr``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicom_node.errors import InputError
from inference.pipelines.fmri.features import zscore

ARRAY_SUFFIXES = (".npy", ".1d", ".txt", ".csv", ".tsv")


@dataclass(frozen=True)
class TimeSeriesSet:
    names: list[str]
    labels: np.ndarray  # (subjects,) 0/1
    features: np.ndarray  # (subjects, rois, time, 1) float32, z-scored over time
    rois: list[int]  # 1-based column numbers
    length: int  # time points used per subject (the first ``length`` of each run)
    original_lengths: list[int]


def _label(value: str, classes: tuple[str, str], where: str) -> int:
    text = value.strip()
    if text in ("0", "1"):
        return int(text)
    if text in classes:
        return classes.index(text)
    raise InputError(f"{where}: label {text!r} is neither 0/1 nor one of the classes {', '.join(classes)}")


def read_rows(labels: Path, classes: tuple[str, str]) -> list[tuple[str, int]]:
    """(series path relative to the labels file's folder, 0/1 label) per row."""
    if not labels.is_file():
        raise InputError(f"{labels}: missing (columns: series or file, label)")
    rows: list[tuple[str, int]] = []
    with labels.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            name = (row.get("series") or row.get("file") or "").strip()
            if not name or row.get("label") is None:
                raise InputError(f"{labels}:{number}: needs 'series' (or 'file') and 'label'")
            rows.append((name, _label(str(row["label"]), classes, f"{labels}:{number}")))
    if len({label for _, label in rows}) < 2:
        raise InputError(f"{labels}: both classes are needed")
    return rows


def is_timeseries(rows: list[tuple[str, int]]) -> bool:
    """True when every listed series is an array file (not a NIfTI or a DICOM folder)."""
    return bool(rows) and all(name.lower().endswith(ARRAY_SUFFIXES) for name, _ in rows)


def read_array(path: Path) -> np.ndarray:
    """A (time, rois) float32 array from .npy or a text table."""
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            delimiter = "," if path.suffix.lower() == ".csv" else None
            array = np.loadtxt(path, comments="#", delimiter=delimiter, ndmin=2)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable time x ROI array ({exc})") from None
    if array.ndim != 2 or min(array.shape) < 1:
        raise InputError(f"{path}: expected a 2D time x ROI array, got shape {array.shape}")
    return np.asarray(array, dtype=np.float32)


def load_timeseries(
    data: Path, classes: tuple[str, str], length: int | None = None, labels: Path | None = None
) -> TimeSeriesSet:
    rows = read_rows(labels or data / "labels.csv", classes)
    arrays = [read_array(data / name) for name, _ in rows]
    widths = {a.shape[1] for a in arrays}
    if len(widths) != 1:
        raise InputError(f"{data}: the arrays have different numbers of ROIs {sorted(widths)}")
    lengths = [a.shape[0] for a in arrays]
    use = length or min(lengths)
    short = [name for (name, _), n in zip(rows, lengths, strict=True) if n < use]
    if short:
        raise InputError(
            f"{len(short)} runs are shorter than {use} time points (first: {short[0]}); time is never "
            "stretched: give a smaller --length or leave them out"
        )
    stacked = np.stack([a[:use] for a in arrays])  # (subjects, time, rois)
    features = zscore(np.transpose(stacked, (0, 2, 1))[..., None], axis=-2)
    return TimeSeriesSet(
        names=[name for name, _ in rows],
        labels=np.array([label for _, label in rows]),
        features=features,
        rois=list(range(1, stacked.shape[2] + 1)),
        length=use,
        original_lengths=lengths,
    )
