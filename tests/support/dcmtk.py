"""DCMTK command-line tools as real peers (storescu, echoscu, storescp)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} (Debian package dcmtk) is not installed; run `make system-deps`")
    return exe


def storescu(
    port: int,
    files: list[Path],
    *args: str,
    aet: str = "STORESCU",
    aec: str = "AI_NODE",
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("storescu"), "-v", "-aet", aet, "-aec", aec, *args, "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def echoscu(port: int, *args: str, aet: str = "ECHOSCU") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("echoscu"), "-v", "-aet", aet, "-aec", "AI_NODE", *args, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )


_SENDING = re.compile(r"Sending file: (.+)$")
_RESPONSE = re.compile(r"Received Store Response(?: \((.+?)\))?")


def acknowledged_files(output: str) -> list[str]:
    """Files whose C-STORE storescu saw answered with Success, parsed from its ``-v`` log."""
    acked: list[str] = []
    current: str | None = None
    for line in output.splitlines():
        m = _SENDING.search(line)
        if m:
            current = m.group(1).strip()
            continue
        m = _RESPONSE.search(line)
        if m and current is not None:
            if (m.group(1) or "").startswith("Success"):
                acked.append(current)
            current = None
    return acked


class StoreSCP:
    """DCMTK ``storescp`` as a destination that logs every reception (to count deliveries exactly).

    A C-STORE fails with a real failure status when the file it would write is blocked
    (:meth:`block` puts a folder where the file goes), which lets a test make one object fail.
    """

    def __init__(self, workdir: Path, ae_title: str = "STORESCP") -> None:
        from tests.support.ports import free_port

        self.workdir = workdir
        self.ae_title = ae_title
        self.port = free_port()
        self.out = workdir / "received"
        self.log = workdir / "storescp.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from tests.support.ports import port_open, wait_for

        self.out.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        self._process = subprocess.Popen(
            [tool("storescp"), "-v", "-aet", self.ae_title, "-od", str(self.out), str(self.port)],
            stdout=log,
            stderr=log,
        )
        wait_for(lambda: port_open(self.port), timeout=30, what="storescp to listen")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None

    def block(self, modality: str, sop_instance_uid: str) -> Path:
        blocker = self.out / f"{modality}.{sop_instance_uid}"
        blocker.mkdir(parents=True, exist_ok=True)
        return blocker

    def stored_counts(self) -> dict[str, int]:
        """SOP Instance UID → number of successful receptions."""
        counts: dict[str, int] = {}
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        for i, line in enumerate(lines):
            m = re.search(r"storing DICOM file: (.+)$", line)
            if not m:
                continue
            failed = i + 1 < len(lines) and "cannot write DICOM file" in lines[i + 1]
            if not failed:
                uid = Path(m.group(1).strip()).name.split(".", 1)[1]
                counts[uid] = counts.get(uid, 0) + 1
        return counts
