"""Stopping the servers the tests start (DCMTK, Orthanc, the node, Redis, PostgreSQL)."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], timeout: float = 30, sig: int = signal.SIGTERM) -> None:
    """Ask ``process`` to stop with ``sig``; kill it if it has not ended within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
