"""DCMTK's ``dcmqrscp`` as a second PACS: C-STORE in, C-FIND / C-GET / C-MOVE out."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.dcmtk import tool
from tests.support.ports import free_port, port_open, wait_for
from tests.support.processes import stop_process


class DcmQrScp:
    """One storage area ``ae_title``; ``peers`` (AE title -> port on 127.0.0.1) are its move destinations."""

    def __init__(self, workdir: Path, peers: dict[str, int], ae_title: str = "DCMQR") -> None:
        self.workdir = workdir
        self.ae_title = ae_title
        self.port = free_port()
        self.peers = peers
        self.log = workdir / "dcmqrscp.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        db = self.workdir / "db"
        db.mkdir(parents=True, exist_ok=True)
        hosts = "\n".join(
            f"peer{i} = ({ae}, 127.0.0.1, {port})" for i, (ae, port) in enumerate(self.peers.items())
        )
        text = (
            f"NetworkTCPPort = {self.port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n"
            f"HostTable BEGIN\n{hosts}\nHostTable END\n"
            "VendorTable BEGIN\nVendorTable END\n"
            f"AETable BEGIN\n{self.ae_title} {db} RW (200, 1024mb) ANY\nAETable END\n"
        )
        path = self.workdir / "dcmqrscp.cfg"
        path.write_text(text)
        return path

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        log = self.log.open("ab")
        self._process = subprocess.Popen(
            [tool("dcmqrscp"), "-v", "-c", str(config), str(self.port)], stdout=log, stderr=log
        )
        wait_for(lambda: port_open(self.port), timeout=30, what="dcmqrscp to listen")

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None
