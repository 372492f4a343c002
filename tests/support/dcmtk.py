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
