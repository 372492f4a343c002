"""STOW-RS out: pipeline results reach a real Orthanc (DICOMweb plugin) and another node, per instance."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread

from dicom_node.config import DestinationConfig
from dicom_node.dispatch.targets.dicomweb import outcomes_from_answer
from dicom_node.network.sender import Outgoing, send
from dicom_node.node import Node
from dicom_node.samples import KOREAN_PATIENT, Patient, ct_series
from dicom_node.web import WebServer, create_app
from dicom_node.web.actions import echo
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc, stow_from_orthanc
from tests.support.pki import make_pki
from tests.support.ports import wait_for
from tests.support.stow import curl, ledger_instances, multipart_body, stored_uids

TOKEN = "stow-token-0123456789abcdef"


def _job_states(node: Node) -> list[str]:
    return [str(j.state) for j in node.ledger.list_jobs()]


@pytest.fixture
def web_for() -> Iterator[Callable[..., WebServer]]:
    servers: list[WebServer] = []

    def _start(node: Node) -> WebServer:
        web = WebServer(create_app(node), "127.0.0.1", 0, node.config.web.tls)
        web.start()
        servers.append(web)
        return web

    yield _start
    for web in servers:
        web.stop()


def _stow(web: WebServer, files: list[Path], workdir: Path, *curl_args: str) -> list[str]:
    body, boundary = multipart_body([f.read_bytes() for f in files])
    path = workdir / "stow-body"
    path.write_bytes(body)
    code, answer = curl(
        f"{web.url}/dicom-web/studies",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        "-H",
        f'Content-Type: multipart/related; type="application/dicom"; boundary={boundary}',
        "--data-binary",
        f"@{path}",
        *curl_args,
    )
    assert code == 200 and isinstance(answer, dict), answer
    return stored_uids(answer)


def _stow_section(workdir: Path, **extra: Any) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    token = workdir / "stow.token"
    token.write_text(TOKEN)
    return {
        "port": 0,
        "stow": {"enabled": True, "clients": [{"name": "RIS_STOW", "token_file": str(token)}]},
        **extra,
    }


def test_stow_in_pipeline_stow_out_to_orthanc(
    start_node: Callable[..., Node], web_for: Callable[..., WebServer], orthanc: Orthanc, tmp_path: Path
) -> None:
    files = ct_series(tmp_path / "ct", KOREAN_PATIENT, slices=6, size=64)
    node = start_node(
        web=_stow_section(tmp_path / "secrets"),
        destinations={"archive": {"type": "dicomweb", "url": orthanc.dicomweb_url, "timeout_s": 30}},
        rules=[{"name": "qc", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["archive"]}],
    )
    web = web_for(node)
    probe = echo(node.config.destinations["archive"], "AI_NODE")  # the dashboard's echo: a QIDO-RS query
    assert probe.ok and "QIDO-RS HTTP 200" in probe.message
    assert len(_stow(web, files, tmp_path)) == len(files)
    wait_for(
        lambda: _job_states(node) == ["delivered"], timeout=120, what=f"delivery; now {_job_states(node)}"
    )
    job_id = int(node.ledger.list_jobs()[0].id)
    deliveries = node.ledger.deliveries(job_id)
    assert len(deliveries) == 3  # SEG, SR, SC
    assert all(d.state == "delivered" and d.attempts == 1 and d.last_status == 0 for d in deliveries)
    in_orthanc = {i["MainDicomTags"]["SOPInstanceUID"]: i for i in orthanc.instances()}
    assert {d.sop_instance_uid for d in deliveries} == set(in_orthanc)
    source = dcmread(files[0], stop_before_pixels=True)
    for info in in_orthanc.values():  # the results, byte for byte what the node produced
        ds = dcmread(io.BytesIO(orthanc.file(info["ID"])), stop_before_pixels=True)
        assert ds.StudyInstanceUID == source.StudyInstanceUID and ds.PatientName == source.PatientName


def test_stow_to_another_node_with_token_and_verified_tls(
    start_node: Callable[..., Node], web_for: Callable[..., WebServer], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = {"cert": str(pki / "server.crt"), "key": str(pki / "server.key")}
    archive = start_node(web=_stow_section(tmp_path / "archive-secrets", tls=tls))
    archive_web = web_for(archive)
    token = tmp_path / "archive.token"
    token.write_text(TOKEN + "\n")
    base = {
        "type": "dicomweb",
        "url": f"{archive_web.url}/dicom-web",
        "token_file": str(token),
        "timeout_s": 5,
    }
    node = start_node(
        destinations={
            "unverified": base,  # TLS verification is on by default: our test CA is not a system CA
            "verified": {**base, "ca": str(pki / "ca.crt")},
        },
        rules=[
            {"name": "to-unverified", "match": {"Modality": "CT"}, "send_to": ["unverified"]},
            {"name": "to-verified", "match": {"Modality": "CT"}, "send_to": ["verified"]},
        ],
    )
    files = ct_series(tmp_path / "ct", Patient(name="TWO^NODES"), slices=3, size=16)
    dest = DestinationConfig(host="127.0.0.1", port=node.port or 0, ae_title="AI_NODE")
    assert all(o.accepted for o in send(dest, "MODALITY", [Outgoing(i, f) for i, f in enumerate(files)]))

    def job(rule: str) -> dict[str, Any]:
        return next(j.as_dict() for j in node.ledger.list_jobs() if j.rule_name == rule)

    wait_for(
        lambda: len(node.ledger.list_jobs()) == 2 and job("to-verified")["state"] == "delivered",
        timeout=60,
        what="delivery over verified TLS",
    )
    uids = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
    recorded = ledger_instances(archive.ledger.engine)
    assert set(recorded) == uids and {r["calling_ae"] for r in recorded.values()} == {"RIS_STOW"}
    wait_for(lambda: int(job("to-unverified")["attempts"]) >= 1, timeout=30, what="a failed attempt")
    unverified = job("to-unverified")
    assert unverified["state"] in ("produced", "sending", "failed")
    assert "CERTIFICATE_VERIFY_FAILED" in str(unverified["error"]) or "SSL" in str(unverified["error"])
    assert all(d.state == "pending" for d in node.ledger.deliveries(int(unverified["id"])))


def test_per_instance_outcomes_of_a_partial_answer(tmp_path: Path) -> None:
    batch = [Outgoing(i, tmp_path / f"{i}.dcm") for i in range(4)]
    uids = {0: "1.2.3.0", 1: "1.2.3.1", 2: "1.2.3.2", 3: "1.2.3.3"}
    answer = {
        "00081199": {
            "vr": "SQ",
            "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.2.3.0"]}},
                {"00081155": {"vr": "UI", "Value": ["1.2.3.2"]}, "00081196": {"vr": "US", "Value": [0xB007]}},
            ],
        },
        "00081198": {
            "vr": "SQ",
            "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.2.3.1"]}, "00081197": {"vr": "US", "Value": [0xA700]}},
            ],
        },
    }
    response = httpx.Response(202, json=answer)
    outcomes = {o.key: o for o in outcomes_from_answer(batch, uids, response)}
    assert outcomes[0].accepted and outcomes[0].status == 0
    assert outcomes[2].accepted and outcomes[2].status == 0xB000
    assert not outcomes[1].accepted and outcomes[1].status == 0xA700 and "0xA700" in str(outcomes[1].error)
    assert not outcomes[3].accepted and outcomes[3].status is None  # not in the answer: re-sent later


def test_orthanc_as_a_stow_rs_client_into_the_node(
    start_node: Callable[..., Node], web_for: Callable[..., WebServer], orthanc: Orthanc, tmp_path: Path
) -> None:
    """A third-party STOW-RS client: Orthanc's DICOMweb plugin sends a study to the node."""
    files = ct_series(tmp_path / "ct", Patient(name="FROM^ORTHANC"), slices=4, size=32)
    assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    node = start_node(web=_stow_section(tmp_path / "secrets"))
    web = web_for(node)
    studies = orthanc.get("/studies")
    stow_from_orthanc(orthanc, f"{web.url}/dicom-web", TOKEN, studies)
    recorded = ledger_instances(node.ledger.engine)
    assert set(recorded) == {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
    assert {r["calling_ae"] for r in recorded.values()} == {"RIS_STOW"}
