"""Find and read the DICOM image files of one series (a folder, recursively, or a list of files)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.dataset import FileDataset
from pydicom.errors import InvalidDicomError

from inference.volume.errors import VolumeError

log = logging.getLogger(__name__)

SeriesInput = str | Path | Iterable[str | Path]


def candidate_files(source: SeriesInput) -> list[Path]:
    """Every regular file under the given folder(s) / file(s), in a stable order."""
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise VolumeError(str(path), "no such file or folder")
    return files


def read_images(source: SeriesInput) -> list[tuple[Path, FileDataset]]:
    """The readable DICOM images (with Pixel Data) among the files, one per SOP Instance UID.

    Files that are not DICOM (notes, DICOMDIR, non-image objects) are skipped with a debug log line.
    """
    images: list[tuple[Path, FileDataset]] = []
    seen: set[str] = set()
    for path in candidate_files(source):
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, EOFError, OSError) as exc:
            log.debug("volume.skip_file path=%s reason=%s", path.name, type(exc).__name__)
            continue
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            log.debug("volume.skip_file path=%s reason=no_pixel_data", path.name)
            continue
        uid = str(ds.get("SOPInstanceUID", path))
        if uid in seen:
            continue
        seen.add(uid)
        images.append((path, ds))
    return images


def one_series(images: list[tuple[Path, FileDataset]], label: str) -> str:
    """The Series Instance UID shared by all images; an error when there are none or several."""
    if not images:
        raise VolumeError(label, "no DICOM images found")
    uids = sorted({str(ds.get("SeriesInstanceUID", "")) for _, ds in images})
    if len(uids) > 1:
        raise VolumeError(label, f"the input holds {len(uids)} series ({', '.join(uids[:4])}); give one")
    return uids[0]
