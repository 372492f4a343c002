"""Scale-out peers for tests and bench: a throwaway redis-server and `dicom-node worker` processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import redis

from tests.support.node import DICOM_NODE
from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process


class RedisServer:
    """redis-server (Debian package) on a free loopback port, no persistence, data dir ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server (Debian package redis-server) is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                exe,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.workdir),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "yes",
                "--daemonize", "no",
            ],
            stdout=log,
            stderr=log,
        )  # fmt: skip
        wait_for(self._ready, timeout=30, what="redis-server to answer PING")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.workdir}")
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def flush(self) -> None:
        self.client().flushall()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


class WorkerProcess:
    """`dicom-node worker` in its own session (process group), so kill -9 takes its pool and pipelines."""

    def __init__(self, config_path: Path, workdir: Path, name: str, *args: str) -> None:
        self.config_path = config_path
        self.workdir = workdir
        self.name = name
        self.hostname = f"{name}@scaleout-test"
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{name}.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_NODE__")}
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                str(DICOM_NODE),
                "worker",
                "--config",
                str(self.config_path),
                "--hostname",
                self.hostname,
                *self.args,
            ],
            stdout=out,
            stderr=out,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
        )

    def holds(self, lease_owner: str | None) -> bool:
        """Whether a job's lease owner is one of this worker's processes."""
        return bool(lease_owner) and f":{self.hostname}:" in f"{lease_owner}:"

    def kill9(self) -> None:
        """SIGKILL the worker, its pool processes and their pipeline processes at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None
