"""Query/retrieve over DIMSE: C-FIND (Study Root) to find, C-GET or C-MOVE to fetch a series into a folder.

C-GET brings the instances back on the same association (no route from the archive to the node needed,
unlike C-MOVE): the node proposes the SOP classes of the series (found with an IMAGE-level C-FIND first)
with the SCP role, stores each C-STORE sub-operation atomically as ``<SOPInstanceUID>.dcm`` and answers
Success only then. C-MOVE (``query.retrieve: c-move``, :mod:`dicom_node.query.move`) sends them to the
node's own AE title. Uses the destination's host, port, AE titles, TLS and timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, build_role, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from dicom_node.config import DestinationConfig
from dicom_node.network.tcp import no_delay_on_open
from dicom_node.network.tls import client_context
from dicom_node.query.base import QueryError
from dicom_node.query.move import move_series
from dicom_node.storage import safe_name, write_file_atomic

PENDING = (0xFF00, 0xFF01)
MAX_STORAGE_CONTEXTS = 126  # 128 presentation contexts, two for C-FIND/C-GET
_RETURN_KEYS = {
    "STUDY": (
        "StudyInstanceUID",
        "PatientID",
        "PatientName",
        "StudyDate",
        "StudyDescription",
        "AccessionNumber",
    ),
    "SERIES": (
        "SeriesInstanceUID",
        "Modality",
        "SeriesDescription",
        "SeriesNumber",
        "SeriesDate",
        "NumberOfSeriesRelatedInstances",
    ),
    "IMAGE": ("SOPInstanceUID", "SOPClassUID"),
}


class DimseQueryRetrieve:
    def __init__(self, destination: DestinationConfig, calling_ae: str = "AI_NODE") -> None:
        self.destination = destination
        self.calling_ae = destination.calling_ae_title or calling_ae

    def _associate(self, ae: AE, handlers: list[Any] | None = None, ext_neg: list[Any] | None = None) -> Any:
        destination = self.destination
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = destination.timeout_s
        tls_args = (client_context(destination.tls), destination.host) if destination.tls else None
        assoc = ae.associate(
            destination.host,
            destination.port,
            ae_title=destination.ae_title,
            tls_args=tls_args,
            ext_neg=ext_neg,
            evt_handlers=[(evt.EVT_CONN_OPEN, no_delay_on_open), *(handlers or [])],
        )
        if not assoc.is_established:
            raise QueryError(
                f"association with {destination.ae_title}@{destination.host}:{destination.port} failed"
            )
        return assoc

    # -- C-FIND ---------------------------------------------------------------------------------
    def _find(self, level: str, filters: Mapping[str, str]) -> list[Dataset]:
        query = Dataset()
        query.QueryRetrieveLevel = level
        for keyword in (*_RETURN_KEYS["STUDY"][:1], *_RETURN_KEYS[level]):
            setattr(query, keyword, "")
        for keyword, value in filters.items():
            setattr(query, keyword, value)
        ae = AE(ae_title=self.calling_ae)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        assoc = self._associate(ae, [])
        found: list[Dataset] = []
        try:
            for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                code = int(status.Status) if status is not None and "Status" in status else None
                if code in PENDING and identifier is not None:
                    found.append(identifier)
                elif code != 0:
                    raise QueryError(f"C-FIND at {level} level: {'no answer' if code is None else hex(code)}")
        finally:
            if assoc.is_established:
                assoc.release()
        return found

    def find_studies(self, filters: Mapping[str, str]) -> list[Dataset]:
        return self._find("STUDY", filters)

    def find_series(self, study_instance_uid: str, filters: Mapping[str, str] | None = None) -> list[Dataset]:
        return self._find("SERIES", {"StudyInstanceUID": study_instance_uid, **(filters or {})})

    def find_instances(self, study_instance_uid: str, series_instance_uid: str) -> list[Dataset]:
        return self._find(
            "IMAGE", {"StudyInstanceUID": study_instance_uid, "SeriesInstanceUID": series_instance_uid}
        )

    # -- C-GET / C-MOVE -------------------------------------------------------------------------
    def retrieve_series(self, study_instance_uid: str, series_instance_uid: str, folder: Path) -> list[Path]:
        settings = self.destination.query
        if settings is not None and settings.retrieve == "c-move":
            return move_series(
                settings, self.calling_ae, self._associate, study_instance_uid, series_instance_uid, folder
            )
        found = self.find_instances(study_instance_uid, series_instance_uid)
        if not found:
            return []
        classes = sorted({str(i.SOPClassUID) for i in found if i.get("SOPClassUID")})
        if not classes:  # an archive that does not return SOP Class UID (dcmqrscp): the common ones
            classes = [str(c.abstract_syntax) for c in StoragePresentationContexts][:MAX_STORAGE_CONTEXTS]
        if len(classes) > MAX_STORAGE_CONTEXTS:
            raise QueryError(f"the series has {len(classes)} SOP classes; C-GET takes {MAX_STORAGE_CONTEXTS}")
        folder.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title=self.calling_ae)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        for sop_class in classes:
            ae.add_requested_context(sop_class, ALL_TRANSFER_SYNTAXES)
        roles = [build_role(sop_class, scp_role=True) for sop_class in classes]
        stored: list[Path] = []

        def on_store(event: Event) -> int:
            try:
                uid = str(event.request.AffectedSOPInstanceUID)  # type: ignore[union-attr]
                path = folder / f"{safe_name(uid)}.dcm"
                write_file_atomic(path, event.encoded_dataset(include_meta=True), folder_exists=True)
            except Exception:  # refused: the archive counts it as a failed sub-operation
                return 0xA700
            stored.append(path)
            return 0x0000

        assoc = self._associate(ae, [(evt.EVT_C_STORE, on_store)], roles)
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_instance_uid
        query.SeriesInstanceUID = series_instance_uid
        final: int | None = None
        try:
            for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
                final = int(status.Status) if status is not None and "Status" in status else None
        finally:
            if assoc.is_established:
                assoc.release()
        if final != 0:
            raise QueryError(f"C-GET ended with {'no answer' if final is None else hex(final)}")
        return stored
