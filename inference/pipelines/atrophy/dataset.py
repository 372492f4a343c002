"""The AI-Hub style training data (seed 004): per subject a 3D T1 DICOM series and JSON annotations.

Layout read by ``dicom-node train atrophy DATA`` / ``evaluate atrophy DATA``::

    DATA/
      features.csv                  optional cache of regional features (see :mod:`.features`)
      [dementia|mci|normal/]        optional class folders (also 치매 / 경도인지장애 / 정상, AD, CN, NC)
        <subject>/                  one folder per subject: every folder holding an annotation JSON
          *.json                    annotation(s)
          **/*.dcm                  the subject's DICOM (any depth; the largest MR series is used)

A subject's id is its folder path relative to DATA (``normal/subject_010``). Annotation JSON: the
region codes of the paper (11/10 left frontal ... 101/100 right hippocampus; last digit 1 = atrophy) are
read from any key named ``annotation``, ``annotations``, ``atrophy``, ``codes`` or ``region_codes`` at any
depth (a list of numbers or strings, or one string such as ``"11 20 30 ..."``); the class from a key
``class``, ``label``, ``diagnosis`` or ``group`` (dementia / MCI / normal, Korean names accepted), else
from a class folder above the subject. Regions without a code and subjects without a class count as
unlabelled for that target (they are skipped there, not guessed).

Features come from ``features.csv`` when the subject is listed there; otherwise they are computed from the
DICOM with the pipeline (skull strip + parcellation, minutes per subject on a CPU) and appended to the
cache, so a second run reads them from it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dicom_node.errors import InputError
from inference.pipelines.atrophy.features import (
    FEATURES_CSV,
    RegionalFeatures,
    matrix,
    read_features_csv,
    write_features_csv,
)
from inference.pipelines.atrophy.regions import REGIONS

log = logging.getLogger(__name__)

CLASS_NAMES: tuple[str, ...] = ("dementia", "MCI", "normal")
CLASS_ALIASES: dict[str, int] = {
    "dementia": 0,
    "ad": 0,
    "alzheimer": 0,
    "치매": 0,
    "치매군": 0,
    "mci": 1,
    "mild cognitive impairment": 1,
    "경도인지장애": 1,
    "경도인지장애군": 1,
    "normal": 2,
    "nc": 2,
    "cn": 2,
    "control": 2,
    "정상": 2,
    "정상군": 2,
}
CODE_KEYS = {"annotation", "annotations", "atrophy", "codes", "region_codes"}
CLASS_KEYS = {"class", "label", "diagnosis", "group"}
UNKNOWN = -1


@dataclass(frozen=True)
class Subject:
    """One subject: id, folder, atrophy per region (1/0, -1 unknown) and class index (-1 unknown)."""

    name: str
    folder: Path
    atrophy: tuple[int, ...]
    label: int


@dataclass(frozen=True)
class Dataset:
    subjects: list[Subject]
    features: list[RegionalFeatures]

    @property
    def x(self) -> np.ndarray:
        return matrix(self.features)

    @property
    def atrophy(self) -> np.ndarray:
        return np.asarray([s.atrophy for s in self.subjects], dtype=np.int64).reshape(-1, len(REGIONS))

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([s.label for s in self.subjects], dtype=np.int64)

    def take(self, indices: list[int]) -> Dataset:
        return Dataset([self.subjects[i] for i in indices], [self.features[i] for i in indices])


def parse_codes(value: Any, where: str) -> dict[int, int]:
    """Region annotation number (1..10) -> 1/0 from a code value (list, number or text)."""
    if isinstance(value, str):
        items: list[Any] = value.replace(",", " ").split()
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    found: dict[int, int] = {}
    for item in items:
        if isinstance(item, dict):  # objects inside are walked on their own by read_annotation
            continue
        if isinstance(item, list):
            for region, atrophy in parse_codes(item, where).items():
                if found.get(region, atrophy) != atrophy:
                    raise InputError(f"{where}: region {region} is annotated both with and without atrophy")
                found[region] = atrophy
            continue
        try:
            code = int(str(item).strip())
        except ValueError:
            raise InputError(f"{where}: {item!r} is not a region code (11/10 ... 101/100)") from None
        region, atrophy = divmod(code, 10)
        if not 1 <= region <= len(REGIONS) or atrophy not in (0, 1):
            raise InputError(f"{where}: {code} is not a region code (11/10 ... 101/100)")
        if found.get(region, atrophy) != atrophy:
            raise InputError(f"{where}: region {region} is annotated both with and without atrophy")
        found[region] = atrophy
    return found


def class_index(value: Any) -> int | None:
    """0 dementia, 1 MCI, 2 normal from a label text; None when it names none of them."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, (str, int)):
        return None
    return CLASS_ALIASES.get(str(value).strip().lower())


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key).lower(), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def read_annotation(path: Path) -> tuple[dict[int, int], int | None]:
    """Region codes and class found in one annotation JSON."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None
    codes: dict[int, int] = {}
    label: int | None = None
    for key, value in _walk(document):
        if isinstance(value, dict) and "Value" in value:  # DICOM JSON model: {"vr": ..., "Value": [...]}
            value = value["Value"]
        if key in CODE_KEYS and not isinstance(value, dict):
            for region, atrophy in parse_codes(value, str(path)).items():
                if codes.get(region, atrophy) != atrophy:
                    raise InputError(f"{path}: region {region} is annotated both with and without atrophy")
                codes[region] = atrophy
        elif key in CLASS_KEYS and label is None:
            label = class_index(value)
    return codes, label


def _folder_class(folder: Path, root: Path) -> int | None:
    for part in reversed(folder.relative_to(root).parts):
        found = class_index(part)
        if found is not None:
            return found
    return None


def find_subjects(root: Path) -> list[Subject]:
    """Every folder under ``root`` holding annotation JSON, with its merged codes and class."""
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    by_folder: dict[Path, list[Path]] = {}
    for path in sorted(root.rglob("*.json")):
        by_folder.setdefault(path.parent, []).append(path)
    subjects = []
    for folder, files in sorted(by_folder.items()):
        if folder == root:
            continue
        codes: dict[int, int] = {}
        label: int | None = None
        for path in files:
            found, found_label = read_annotation(path)
            for region, flag in found.items():
                if codes.get(region, flag) != flag:
                    raise InputError(f"{folder}: region {region} is annotated both with and without atrophy")
                codes[region] = flag
            label = label if label is not None else found_label
        if label is None:
            label = _folder_class(folder, root)
        atrophy = tuple(codes.get(r.annotation, UNKNOWN) for r in REGIONS)
        subjects.append(
            Subject(folder.relative_to(root).as_posix(), folder, atrophy, UNKNOWN if label is None else label)
        )
    if not subjects:
        raise InputError(f"{root}: no subject folder with an annotation JSON")
    return subjects


Measure = Callable[[Path, str], RegionalFeatures]


def measure_with_pipeline(settings: dict[str, Any] | None = None) -> Measure:
    """Compute a subject's features from its DICOM with the atrophy pipeline (skull strip + parcellation).

    The pipeline (and its networks) is built on first use only: a fully cached data set never loads it.
    """
    built: list[Any] = []

    def measure(folder: Path, subject: str) -> RegionalFeatures:
        if not built:
            from inference.pipelines.atrophy.pipeline import AtrophyPipeline

            built.append(AtrophyPipeline(settings or {}))
        pipeline = built[0]
        with tempfile.TemporaryDirectory(prefix="atrophy-series-") as tmp:
            series_dir = largest_mr_series(folder, Path(tmp))
            return pipeline.features(pipeline.read(series_dir), subject)

    return measure


def largest_mr_series(folder: Path, work: Path) -> Path:
    """Link the files of the largest MR series under ``folder`` into ``work``; return ``work``."""
    import os

    import pydicom
    from pydicom.errors import InvalidDicomError

    groups: dict[str, list[Path]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() != ".json"):
        try:
            header = pydicom.dcmread(
                path, stop_before_pixels=True, specific_tags=["Modality", "SeriesInstanceUID"]
            )
        except (InvalidDicomError, OSError, ValueError):
            continue
        if str(header.get("Modality", "")) == "MR":
            groups.setdefault(str(header.get("SeriesInstanceUID", "")), []).append(path)
    if not groups:
        raise InputError(f"{folder}: no MR DICOM series")
    files = max(groups.values(), key=len)
    for i, path in enumerate(files):
        target = work / f"{i:05d}.dcm"
        try:
            os.link(path, target)
        except OSError:
            target.write_bytes(path.read_bytes())
    return work


def load_dataset(root: Path, measure: Measure | None = None, cache: Path | None = None) -> Dataset:
    """Subjects of ``root`` with their features (from the cache, else measured and added to it).

    Without ``measure`` a subject missing from the cache is an error naming it.
    """
    cache = cache or root / FEATURES_CSV
    cached = read_features_csv(cache)
    subjects = find_subjects(root)
    features: list[RegionalFeatures] = []
    kept: list[Subject] = []
    added = 0
    for subject in subjects:
        feature = cached.get(subject.name)
        if feature is None:
            if measure is None:
                raise InputError(f"{subject.name}: not in {cache.name} and no DICOM measurement available")
            try:
                feature = measure(subject.folder, subject.name)
            except InputError as exc:
                log.warning("subject skipped: %s", exc)
                continue
            cached[subject.name] = feature
            added += 1
            write_features_csv(cache, cached.values())  # after each subject: an interrupted run resumes
        features.append(feature)
        kept.append(subject)
    if added:
        log.info("regional features computed for %d subject(s), cached in %s", added, cache)
    if not kept:
        raise InputError(f"{root}: no subject with features")
    return Dataset(kept, features)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) indices: ``fraction`` of each class (and of the unlabelled) in train, seeded."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    for value in sorted(Counter(labels.tolist())):
        members = np.flatnonzero(labels == value)
        rng.shuffle(members)
        cut = round(fraction * len(members))
        if len(members) > 1:
            cut = min(max(cut, 1), len(members) - 1)
        train += members[:cut].tolist()
        test += members[cut:].tolist()
    return sorted(train), sorted(test)
