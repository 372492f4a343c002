"""Run the node for tests: in-process (fast) or as a real `dicom-node serve` process (for kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from dicom_node.config import Config, build_config
from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
DICOM_NODE = Path(sys.executable).with_name("dicom-node")


def node_config(workdir: Path, port: int = 0, **sections: Any) -> dict[str, Any]:
    """A test configuration: loopback, short quiet period, storage under ``workdir``."""
    data: dict[str, Any] = {
        "node": {"ae_title": "AI_NODE", "bind": "127.0.0.1", "port": port},
        "storage": {"path": str(workdir / "var"), "min_free_gb": 0.05},
        "series": {"complete_after_s": 1.0, "check_interval_s": 0.2},
        "dispatch": {"backoff_initial_s": 0.5, "backoff_max_s": 2.0, "max_attempts": 30},
        "execution": {"workers": 2, "lease_s": 30},
        "logging": {"level": "info", "file": str(workdir / "node.log")},
        "web": {"port": 0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_config(workdir: Path, **sections: Any) -> Config:
    return build_config(node_config(workdir, **sections), environ={})


def echo(port: int, ae_title: str = "ECHOSCU") -> bool:
    ae = AE(ae_title=ae_title)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 2
    assoc = ae.associate("127.0.0.1", port, ae_title="AI_NODE")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and int(status.Status) == 0


class NodeProcess:
    """`dicom-node serve` in its own process, with a YAML config written to ``workdir``."""

    def __init__(self, workdir: Path, **sections: Any) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path = workdir / "node.yaml"
        self.data = node_config(workdir, port=self.port, **sections)
        self.config_path.write_text(yaml.safe_dump(self.data, allow_unicode=True))
        self.process: subprocess.Popen[bytes] | None = None

    serve_args: tuple[str, ...] = ()  # extra `dicom-node serve` options (see ReceiverProcess)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_NODE__")}
        out = (self.workdir / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [str(DICOM_NODE), "serve", *self.serve_args, "--config", str(self.config_path)],
            stdout=out,
            stderr=out,
            env=env,
            cwd=self.workdir,
        )
        wait_for(
            self._ready, timeout=60, what=f"dicom-node serve {' '.join(self.serve_args)} to answer C-ECHO"
        )

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.workdir / "stdout.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"dicom-node serve exited with {self.process.returncode}: {log}")
        return echo(self.port)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DICOM_NODE), *args, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )


class ReceiverProcess(NodeProcess):
    """`dicom-node serve --no-workers`: a scale-out receiver (receives, completes series, routes)."""

    serve_args = ("--no-workers",)
