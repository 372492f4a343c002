"""C-MOVE to the node itself: listen for the moved instances, ask the archive to move, stop listening.

The archive sends the series to ``query.move_ae_title`` (default: the node's AE title), which it knows at
this node's host and ``query.move_port``. While one retrieve runs, a storage SCP on that port stores the
C-STORE sub-operations of that series atomically as ``<SOPInstanceUID>.dcm`` (anything else is refused);
retrieves through one port run one after another. The instances never go through the ingest path, so a
retrieved series triggers no rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove  # type: ignore[attr-defined]

from dicom_node.config_query import QueryConfig
from dicom_node.query.base import QueryError
from dicom_node.storage import safe_name, write_file_atomic

_port_locks: dict[int, threading.Lock] = {}
_port_locks_guard = threading.Lock()


def _port_lock(port: int) -> threading.Lock:
    with _port_locks_guard:
        return _port_locks.setdefault(port, threading.Lock())


def move_series(
    query_settings: QueryConfig,
    node_ae: str,
    associate: Callable[[AE], Any],
    study_instance_uid: str,
    series_instance_uid: str,
    folder: Path,
) -> list[Path]:
    """Retrieve one series by C-MOVE into ``folder`` (``associate`` opens the association to the archive)."""
    assert query_settings.move_port is not None  # validated with the configuration
    move_ae = query_settings.move_ae_title or node_ae
    folder.mkdir(parents=True, exist_ok=True)
    stored: list[Path] = []

    def on_store(event: Event) -> int:
        try:
            ds = event.dataset
            if str(ds.get("SeriesInstanceUID", "")) != series_instance_uid:
                return 0xA900  # not the series we asked for
            uid = str(event.request.AffectedSOPInstanceUID)  # type: ignore[union-attr]
            path = folder / f"{safe_name(uid)}.dcm"
            write_file_atomic(path, event.encoded_dataset(include_meta=True), folder_exists=True)
        except Exception:
            return 0xA700
        stored.append(path)
        return 0x0000

    scp = AE(ae_title=move_ae)
    for context in AllStoragePresentationContexts:
        scp.add_supported_context(str(context.abstract_syntax), ALL_TRANSFER_SYNTAXES)
    scu = AE(ae_title=node_ae)
    scu.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = series_instance_uid
    with _port_lock(query_settings.move_port):
        try:
            server: Any = scp.start_server(
                (query_settings.move_bind, query_settings.move_port),
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, on_store)],
            )
        except OSError as exc:
            raise QueryError(f"C-MOVE: cannot listen on port {query_settings.move_port} ({exc})") from None
        try:
            assoc = associate(scu)
            final: int | None = None
            failed = 0
            try:
                for status, _ in assoc.send_c_move(
                    query, move_ae, StudyRootQueryRetrieveInformationModelMove
                ):
                    final = int(status.Status) if status is not None and "Status" in status else None
                    failed = int(status.get("NumberOfFailedSuboperations", 0) or 0) if status else failed
            finally:
                if assoc.is_established:
                    assoc.release()
        finally:
            server.shutdown()
    if final != 0:
        answer = "no answer" if final is None else hex(final)
        raise QueryError(f"C-MOVE to {move_ae} ended with {answer} ({failed} sub-operations failed)")
    return stored
