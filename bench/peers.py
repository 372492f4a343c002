"""The two receivers the benchmarks compare, started the same way: `dicom-node serve` and DCMTK storescp.

Each ``start_*`` returns the process and the port it listens on, once it accepts connections.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


def start_storescp(workdir: Path, fork: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    """storescp writing to ``workdir/storescp``; ``fork``: one child per association (concurrent senders)."""
    port = free_port()
    out = workdir / "storescp"
    out.mkdir()
    proc = subprocess.Popen(
        ["storescp", *(["--fork"] if fork else []), "-aet", "STORESCP", "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc, port


def start_node(
    workdir: Path, max_associations: int = 32, fsync: bool = True, receiver_processes: int = 1
) -> tuple[subprocess.Popen[bytes], int]:
    """`dicom-node serve` with storage under ``workdir/node``, no routing, no web server.

    ``fsync`` (``storage.fsync``, on by default and in production): files and folders are fsynced
    before each Success; off only to show what the durability costs. ``receiver_processes``:
    ``node.receiver_processes`` (the call returns once all of them accept).
    """
    port = free_port()
    config = {
        "node": {
            "bind": "127.0.0.1",
            "port": port,
            "max_associations": max_associations,
            "receiver_processes": receiver_processes,
        },
        "storage": {"path": str(workdir / "node"), "min_free_gb": 0.5, "fsync": fsync},
        "series": {"complete_after_s": 3600},
        "logging": {"level": "warning", "file": str(workdir / "node.log")},
        "web": {"enabled": False},
    }
    path = workdir / "node.yaml"
    path.write_text(yaml.safe_dump(config))
    exe = Path(sys.executable).with_name("dicom-node")
    proc = subprocess.Popen([str(exe), "serve", "--config", str(path)])
    wait_port(port)
    if receiver_processes > 1:
        _wait_children_idle(proc.pid, receiver_processes - 1)
    return proc, port


def _wait_children_idle(pid: int, count: int, timeout: float = 120.0) -> None:
    """Wait until ``count`` children of ``pid`` exist and have gone idle (started up, accepting)."""
    deadline = time.monotonic() + timeout
    parent = psutil.Process(pid)
    while time.monotonic() < deadline:
        children = parent.children()
        if len(children) >= count:
            before = sum(c.cpu_times().user + c.cpu_times().system for c in children)
            time.sleep(0.5)
            after = sum(c.cpu_times().user + c.cpu_times().system for c in children)
            if after - before < 0.02 * len(children):
                return
        else:
            time.sleep(0.2)
    raise RuntimeError(f"{count} receiver processes of {pid} did not start in {timeout:.0f} s")
