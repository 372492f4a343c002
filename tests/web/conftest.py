"""A node with a failing destination, a canary-patient study already received and routed, and its web app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dicom_node.config import DestinationConfig
from dicom_node.network.sender import Outgoing, send
from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series, mr_series
from dicom_node.web import create_app
from dicom_node.web.auth import hash_password
from tests.support.node import make_config
from tests.support.ports import free_port

TOKEN = "test-token-0123456789abcdef"
USER, PASSWORD = "admin", "correct horse battery"
CANARY = Patient(
    name="CANARYSURNAME^PHIGIVEN",
    patient_id="CANARYID-4711",
    birth_date="19311231",
    accession="CANARYACC99",
)
CANARY_STRINGS = ("CANARYSURNAME", "PHIGIVEN", "CANARYID-4711", "19311231", "CANARYACC99")
CALLING_AE = "CANARY_MOD"


@dataclass
class WebEnv:
    node: Node
    app: FastAPI
    client: TestClient
    workdir: Path
    files: list[Path]
    series_uid: str
    failed_job_id: int
    sent: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def send(self, files: list[Path], calling_ae: str = CALLING_AE) -> None:
        assert self.node.port is not None
        dest = DestinationConfig(host="127.0.0.1", port=self.node.port, ae_title="AI_NODE")
        outcomes = send(dest, calling_ae, [Outgoing(i, f) for i, f in enumerate(files)])
        assert all(o.accepted for o in outcomes), outcomes
        self.sent += len(files)

    def job_state(self, job_id: int) -> str:
        job = self.node.ledger.get_job(job_id)
        assert job is not None
        return str(job.state)

    def wait_job(self, job_id: int, states: tuple[str, ...], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.1)
        raise TimeoutError(f"job {job_id} still {self.job_state(job_id)}, wanted {states}")

    def new_failed_job(self, tmp: Path) -> int:
        """Send one more small series and return its forward job once it has failed."""
        files = mr_series(tmp, Patient(name="OTHER^PERSON"), slices=2, size=16)
        self.send(files)
        series_uid = _series_uid(files[0])
        return wait_failed_job(self.node, series_uid)


def _series_uid(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def wait_failed_job(node: Node, series_uid: str, rule: str = "to-nowhere", timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in node.ledger.list_jobs(state="failed", limit=1000):
            if job.series_instance_uid == series_uid and job.rule_name == rule:
                return int(job.id)
        time.sleep(0.1)
    jobs = [(j.id, j.rule_name, j.state) for j in node.ledger.list_jobs(limit=1000)]
    series = [s.as_dict() for s in node.ledger.complete_unrouted()]
    raise TimeoutError(f"no failed {rule} job for series {series_uid}; jobs: {jobs}; unrouted: {series}")


def web_config(show_phi: bool = False) -> dict[str, Any]:
    return {
        "port": 0,
        "show_phi": show_phi,
        "tokens": [TOKEN],
        "users": {USER: hash_password(PASSWORD)},
    }


@pytest.fixture(scope="session")
def web_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    workdir = tmp_path_factory.mktemp("web")
    node_port = free_port()
    later_port = free_port()  # nothing listens here until a test starts a PACS on it
    config = make_config(
        workdir,
        node={"port": node_port},
        destinations={
            "nowhere": {"host": "127.0.0.1", "port": free_port(), "ae_title": "NOBODY", "timeout_s": 3},
            "loopback": {"host": "127.0.0.1", "port": node_port, "ae_title": "AI_NODE", "timeout_s": 5},
            "later": {"host": "127.0.0.1", "port": later_port, "ae_title": "LATER_PACS", "timeout_s": 3},
        },
        rules=[
            {"name": "to-nowhere", "match": {"Modality": ["CT", "MR"]}, "send_to": ["nowhere"]},
            {"name": "to-later", "match": {"Modality": "CR"}, "send_to": ["later"]},
            {
                "name": "drop-named",
                "match": {"PatientName": {"exists": True}, "Modality": "CR"},
                "discard": True,
            },
        ],
        dispatch={"max_attempts": 1, "backoff_initial_s": 0.2, "backoff_max_s": 0.5},
        web=web_config(),
    )
    node = Node(config)
    node.start()
    files = ct_series(workdir / "ct", CANARY, slices=3, size=32)
    env = WebEnv(node, create_app(node), None, workdir, files, _series_uid(files[0]), 0)  # type: ignore[arg-type]
    env.extra["later_port"] = later_port
    env.send(files)
    env.failed_job_id = wait_failed_job(node, env.series_uid)
    with TestClient(env.app) as client:
        env.client = client
        yield env
    node.stop()


@pytest.fixture
def failed_job(web_env: WebEnv, tmp_path: Path) -> int:
    return web_env.new_failed_job(tmp_path)
