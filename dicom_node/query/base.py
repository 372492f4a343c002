"""The query/retrieve interface every transport implements (QIDO-RS/WADO-RS; C-FIND with C-GET or C-MOVE).

Queries take attribute filters by DICOM keyword (``{"PatientID": "123", "StudyDate": "20200101-"}``,
matching as in PS3.4 C.2.2.2 / PS3.18 §8.3.4: wildcards ``*``/``?``, date ranges) and return one dataset
per match with at least the identifying attributes of its level. Retrieval writes every instance of a
series into a folder as ``<SOPInstanceUID>.dcm`` (atomically: a crash leaves whole files or none) and
returns their paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset

from dicom_node.errors import QueryError

__all__ = ["QueryError", "QueryRetrieve"]


class QueryRetrieve(Protocol):
    def find_studies(self, filters: Mapping[str, str]) -> list[Dataset]:
        """Studies matching ``filters``."""
        ...

    def find_series(self, study_instance_uid: str, filters: Mapping[str, str] | None = None) -> list[Dataset]:
        """Series of one study matching ``filters``."""
        ...

    def find_instances(self, study_instance_uid: str, series_instance_uid: str) -> list[Dataset]:
        """The instances of one series (SOP Instance and Class UIDs)."""
        ...

    def retrieve_series(self, study_instance_uid: str, series_instance_uid: str, folder: Path) -> list[Path]:
        """Every instance of the series, written into ``folder``."""
        ...


def series_instance_count(qr: QueryRetrieve, study_instance_uid: str, series_instance_uid: str) -> int | None:
    """How many instances the archive holds of the series: its Number of Series Related Instances, or
    (archives that do not return it, such as dcmqrscp) the instances an instance-level query finds.
    ``None``: the archive does not know the series."""
    found = qr.find_series(study_instance_uid, {"SeriesInstanceUID": series_instance_uid})
    if not found:
        return None
    value = found[0].get("NumberOfSeriesRelatedInstances")
    try:
        if value not in (None, ""):
            return int(value)
    except (TypeError, ValueError):
        pass
    return len(qr.find_instances(study_instance_uid, series_instance_uid))
