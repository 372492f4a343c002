"""A minimal Storage SCP that files what it receives into a folder (the demo's stand-in PACS)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE, _config, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from dicom_node.storage import safe_name, write_file_atomic


class FolderPACS:
    def __init__(self, folder: Path, ae_title: str = "DEMO_PACS") -> None:
        self.folder = folder
        self.ae_title = ae_title
        self._server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()
        self.received: Counter[str] = Counter()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        _config.UNRESTRICTED_STORAGE_SERVICE = True
        ae = AE(ae_title=self.ae_title)
        ae.add_supported_context(Verification)
        server = ae.start_server((host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        assert server is not None  # non-blocking start returns the server
        self._server = server
        return int(server.server_address[1])

    def _on_store(self, event: Event) -> int:
        data = event.encoded_dataset()
        sop_uid = str(event.request.AffectedSOPInstanceUID)  # type: ignore[union-attr]
        path = self.folder / f"{safe_name(sop_uid)}.dcm"
        write_file_atomic(path, data, fsync=False)
        with self._lock:
            self.received[sop_uid] += 1
        return 0x0000

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def inventory(self) -> Counter[tuple[str, str, str]]:
        """(Modality, SeriesDescription, PatientName) → number of objects received."""
        counts: Counter[tuple[str, str, str]] = Counter()
        tags = ["SpecificCharacterSet", "Modality", "SeriesDescription", "PatientName"]
        for path in sorted(self.folder.glob("*.dcm")):
            ds = dcmread(path, stop_before_pixels=True, specific_tags=tags)
            key = (
                str(ds.get("Modality", "")),
                str(ds.get("SeriesDescription", "")),
                str(ds.get("PatientName", "")),
            )
            counts[key] += 1
        return counts
