"""A real Orthanc (Debian package) as the PACS: temporary config, ports and storage; REST to inspect."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port, port_open, wait_for
from tests.support.processes import stop_process

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"  # Debian orthanc-dicomweb


class Orthanc:
    def __init__(self, workdir: Path, ae_title: str = "ORTHANC") -> None:
        self.workdir = workdir
        self.ae_title = ae_title
        self.dicom_port = free_port()
        self.http_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "orthanc.log"

    def _write_config(self) -> Path:
        config = {
            "Name": "test-pacs",
            "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "DicomCheckCalledAet": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "Plugins": [DICOMWEB_PLUGIN] if Path(DICOMWEB_PLUGIN).exists() else [],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            # storage commitment reports go back to the node, registered per test (``add_modality``)
            "DicomModalities": {},
            "UnknownSopClassAccepted": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "StableAge": 1,
            "OverwriteInstances": True,
        }
        path = self.workdir / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self) -> None:
        exe = shutil.which("Orthanc")
        if exe is None:
            raise RuntimeError("Orthanc (Debian package orthanc) is not installed; run `make system-deps`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        log = self.log.open("ab")
        self._process = subprocess.Popen([exe, str(config)], stdout=log, stderr=log, cwd=self.workdir)
        wait_for(self._ready, timeout=60, what="Orthanc REST and DICOM ports")

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {self._process.returncode}; see {self.log}")
        if not (port_open(self.http_port) and port_open(self.dicom_port)):
            return False
        try:
            self.get("/system")
            return True
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- REST -----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=body, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def get(self, path: str) -> Any:
        return json.loads(self._request("GET", path))

    def file(self, instance_id: str) -> bytes:
        return self._request("GET", f"/instances/{instance_id}/file")

    def instances(self) -> list[dict[str, Any]]:
        """Every stored instance with its main tags (one REST call per instance; fine for tests)."""
        return [self.get(f"/instances/{i}") for i in self.get("/instances")]

    def sop_instance_uids(self) -> list[str]:
        return [str(i["MainDicomTags"]["SOPInstanceUID"]) for i in self.instances()]

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root (the plugin, Debian package orthanc-dicomweb)."""
        if not Path(DICOMWEB_PLUGIN).exists():
            raise RuntimeError("Orthanc's DICOMweb plugin is not installed; run `make system-deps`")
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def add_modality(self, name: str, ae_title: str, port: int, host: str = "127.0.0.1") -> None:
        """Register a DICOM peer (e.g. the node, for storage commitment reports)."""
        body = {"AET": ae_title, "Host": host, "Port": port, "AllowStorageCommitment": True}
        self._request("PUT", f"/modalities/{name}", json.dumps(body).encode())

    def delete_instance(self, sop_instance_uid: str) -> None:
        found = self._find_instance(sop_instance_uid)
        self._request("DELETE", f"/instances/{found}")

    def _find_instance(self, sop_instance_uid: str) -> str:
        query = {"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}}
        ids = json.loads(self._request("POST", "/tools/find", json.dumps(query).encode()))
        if not ids:
            raise KeyError(sop_instance_uid)
        return str(ids[0])

    def clear(self) -> None:
        for patient in self.get("/patients"):
            self._request("DELETE", f"/patients/{patient}")


def stow_from_orthanc(orthanc: Orthanc, url: str, token: str, resources: list[str]) -> Any:
    """Orthanc's DICOMweb plugin as a STOW-RS client: register ``url`` as a server and send ``resources``
    (Orthanc study/series/instance ids) there; returns Orthanc's answer."""
    server = {"Url": url.rstrip("/") + "/", "HttpHeaders": {"Authorization": f"Bearer {token}"}}
    orthanc._request("PUT", "/dicom-web/servers/node", json.dumps(server).encode())
    body = json.dumps({"Resources": resources, "Synchronous": True}).encode()
    return json.loads(orthanc._request("POST", "/dicom-web/servers/node/stow", body) or b"{}")
