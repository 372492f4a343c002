"""Extra receiver processes on the node's listening socket (``node.receiver_processes``).

Why: receiving is CPU-bound in Python (PDU decoding, the header parse, the ledger row: about 10 ms of
CPU per small instance), and one process runs its Python code on one core at a time. Under many
concurrent senders a single process is the bottleneck; more processes use more cores.

How (pre-fork, as nginx and gunicorn do): ``serve`` binds ``node.port`` once and starts
``receiver_processes - 1`` children of ``dicom-node serve --no-workers --no-web``, each handed the
listening socket (an inherited descriptor). The kernel gives each new connection to one of the
processes accepting on it. Each child writes into the same storage path and records in the same ledger,
with the same durability before Success; it runs no scheduler and no jobs: the parent completes,
routes and dispatches everything from the ledger (so a series completed by expected count in a child
is routed at the parent's next check, ``series.check_interval_s``). ``node.max_associations`` holds per
process.

A child that dies is logged and started again (after 1 s, doubling up to 30 s while it keeps dying);
the associations it held are lost as they would be with any crash (their senders saw no Success for
what was not stored). Children end with the parent, even when it is killed with -9.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dicom_node.logsetup import get_logger

log = get_logger("dicom_node.receiver_processes")

RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long starts again after the shortest delay
STOP_TIMEOUT_S = 10.0
LISTEN_FD_OPTION = "--listen-fd"
PARENT_PID_OPTION = "--parent-pid"


@dataclass
class _Slot:
    number: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay_s: float = RESTART_DELAY_S
    restart_at: float = 0.0


class ReceiverProcesses:
    """Starts, watches and stops the extra receiver processes of one node."""

    def __init__(self, count: int, listen_fd: int, config_path: Path | None) -> None:
        self.count = count
        self.listen_fd = listen_fd
        self.config_path = config_path
        self._slots = [_Slot(number) for number in range(1, count + 1)]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._monitor: threading.Thread | None = None

    def command(self) -> list[str]:
        config = ["--config", str(self.config_path)] if self.config_path else []
        return [
            sys.executable,
            "-m",
            "dicom_node",
            "serve",
            *config,
            "--no-workers",
            "--no-web",
            LISTEN_FD_OPTION,
            str(self.listen_fd),
            PARENT_PID_OPTION,
            str(os.getpid()),
        ]

    def start(self) -> None:
        with self._lock:
            for slot in self._slots:
                self._spawn(slot)
        self._monitor = threading.Thread(target=self._watch, name="receiver-processes", daemon=True)
        self._monitor.start()

    def _spawn(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(self.command(), pass_fds=(self.listen_fd,), close_fds=True)
        slot.started_at = time.monotonic()
        log.info("receiver_process_started", slot=slot.number, pid=slot.process.pid)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                for slot in self._slots:
                    self._check(slot)

    def _check(self, slot: _Slot) -> None:
        now = time.monotonic()
        if slot.process is not None:
            code = slot.process.poll()
            if code is None:
                return
            ran_s = now - slot.started_at
            if ran_s > STABLE_AFTER_S:
                slot.delay_s = RESTART_DELAY_S
            slot.restart_at = now + slot.delay_s
            log.error(
                "receiver_process_exited",
                slot=slot.number,
                pid=slot.process.pid,
                code=code,
                ran_s=round(ran_s, 1),
                restart_in_s=slot.delay_s,
            )
            slot.delay_s = min(slot.delay_s * 2, MAX_RESTART_DELAY_S)
            slot.process = None
        if now >= slot.restart_at and not self._stop.is_set():
            self._spawn(slot)

    def stop(self) -> None:
        """SIGTERM every child (each stops like ``serve`` on SIGTERM), then SIGKILL what is left."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._lock:
            running = [s.process for s in self._slots if s.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
