"""Priors: the same patient's earlier studies with a matching series, fetched once and kept.

For a pipeline rule with ``priors``, before the pipeline runs: C-FIND the archive for the patient's
studies dated within ``within_years`` before the current study (the current study excluded), newest
first; in each, the first series whose series-level answer matches the condition (the rule's own match,
or ``priors.match``); the ``newest`` K such studies. Each prior series is retrieved (C-GET or C-MOVE, as
the archive's ``query`` section says) into ``<storage>/priors/<SeriesInstanceUID>/`` once: a marker file
written after a complete retrieve makes the next job reuse it without asking the archive for it again.
Priors never pass through the ingest path, so they never trigger rules of their own.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from dicom_node.config_query import PriorsConfig
from dicom_node.query.base import QueryError, QueryRetrieve
from dicom_node.routing.conditions import Condition
from dicom_node.storage import safe_name

COMPLETE_MARKER = ".retrieved"


@dataclass(frozen=True)
class Prior:
    study_instance_uid: str
    series_instance_uid: str
    study_date: str
    series_description: str
    folder: Path
    fetched: bool  # False: already held from an earlier job


def _date(value: object) -> dt.date | None:
    try:
        return dt.datetime.strptime(str(value)[:8], "%Y%m%d").date()
    except ValueError:
        return None


def find_priors(
    qr: QueryRetrieve, current: Dataset, settings: PriorsConfig, condition: Condition
) -> list[tuple[Dataset, Dataset]]:
    """(study, series) answers of the newest matching prior series, newest study first."""
    patient_id = str(current.get("PatientID", "") or "")
    today = _date(current.get("StudyDate", ""))
    if not patient_id or today is None:
        raise QueryError("priors: the series has no Patient ID or Study Date to search with")
    earliest = today - dt.timedelta(days=round(settings.within_years * 365.25))
    studies = qr.find_studies({"PatientID": patient_id, "StudyDate": f"{earliest:%Y%m%d}-{today:%Y%m%d}"})
    own = str(current.get("StudyInstanceUID", ""))
    earlier = [s for s in studies if str(s.StudyInstanceUID) != own and _date(s.get("StudyDate", ""))]
    earlier.sort(key=lambda s: str(s.StudyDate), reverse=True)
    found: list[tuple[Dataset, Dataset]] = []
    for study in earlier:
        for series in qr.find_series(str(study.StudyInstanceUID)):
            if condition.evaluate(series).matched:
                found.append((study, series))
                break
        if len(found) == settings.newest:
            break
    return found


def fetch_priors(
    qr: QueryRetrieve, current: Dataset, settings: PriorsConfig, condition: Condition, root: Path
) -> list[Prior]:
    """Find the priors and retrieve those not held yet under ``root`` (``<storage>/priors``)."""
    priors: list[Prior] = []
    for study, series in find_priors(qr, current, settings, condition):
        study_uid, series_uid = str(study.StudyInstanceUID), str(series.SeriesInstanceUID)
        folder = root / safe_name(series_uid)
        marker = folder / COMPLETE_MARKER
        fetched = not marker.exists()
        if fetched:
            paths = qr.retrieve_series(study_uid, series_uid, folder)
            if not paths:
                raise QueryError(f"priors: the archive gave no instance of the series of {study.StudyDate}")
            marker.write_text(f"{len(paths)}\n")
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        priors.append(
            Prior(
                study_uid,
                series_uid,
                str(study.StudyDate),
                str(series.get("SeriesDescription", "") or ""),
                folder,
                fetched,
            )
        )
    return priors
