"""STOW-RS promises against a real `dicom-node serve`: kill -9 mid-upload, and client certificates."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import create_engine

from dicom_node.samples import Patient, ct_series
from tests.support.node import NodeProcess
from tests.support.pki import make_pki
from tests.support.ports import free_port, port_open, wait_for
from tests.support.stow import curl, ledger_instances, multipart_body, stored_uids

TOKEN = "stow-token-0123456789abcdef"
CONTENT_TYPE = 'multipart/related; type="application/dicom"; boundary={}'


def _stow_node(workdir: Path, **web: object) -> NodeProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = workdir / "stow.token"
    token_file.write_text(TOKEN)
    stow = {"enabled": True, "clients": [{"name": "STOW_CLIENT", "token_file": str(token_file)}]}
    return NodeProcess(
        workdir,
        series={"complete_after_s": 300},
        web={"port": free_port(), "stow": stow, **web},
    )


def _start(node: NodeProcess) -> None:
    node.start()
    port = node.data["web"]["port"]
    wait_for(lambda: port_open(port), timeout=30, what="the node's web server")


def _open(node: NodeProcess, boundary: str) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", node.data["web"]["port"], timeout=60)
    conn.putrequest("POST", "/dicom-web/studies")
    conn.putheader("Content-Type", CONTENT_TYPE.format(boundary))
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    return conn


def _send_chunk(conn: http.client.HTTPConnection, chunk: bytes) -> None:
    conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")


def test_kill9_during_stow_upload_loses_nothing_answered(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(), slices=16, size=64)
    node = _stow_node(tmp_path / "node")
    _start(node)
    answered: list[str] = []
    for batch in (files[0:4], files[4:8], files[8:12]):
        body, boundary = multipart_body([f.read_bytes() for f in batch])
        conn = _open(node, boundary)
        _send_chunk(conn, body)
        _send_chunk(conn, b"")
        response = conn.getresponse()
        assert response.status == 200
        answered += stored_uids(json.loads(response.read()))
        conn.close()
    # the fourth upload: two whole parts and half of the third are on the wire when the node dies
    body, boundary = multipart_body([f.read_bytes() for f in files[12:16]])
    cut = body.find(f"--{boundary}".encode(), body.find(f"--{boundary}".encode(), 200) + 10) + 5000
    conn = _open(node, boundary)
    _send_chunk(conn, body[:cut])
    node.kill9()
    conn.close()

    _start(node)  # same storage and ledger
    engine = create_engine(f"sqlite:///{node.workdir / 'var' / 'ledger.db'}")
    recorded = ledger_instances(engine)
    engine.dispose()
    assert len(answered) == 12
    for uid in answered:
        assert uid in recorded, f"instance {uid} answered as stored is missing after kill -9"
        assert (node.workdir / "var" / recorded[uid]["path"]).is_file()
    spool = node.workdir / "var" / "spool"
    assert not list(spool.rglob("*.tmp"))  # the half-written part was cleaned at start
    # the interrupted upload is simply sent again
    code, answer = curl(
        f"http://127.0.0.1:{node.data['web']['port']}/dicom-web/studies",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        "-H",
        f"Content-Type: {CONTENT_TYPE.format(boundary)}",
        "--data-binary",
        f"@{_write(tmp_path / 'body', body)}",
    )
    assert code == 200 and isinstance(answer, dict) and len(stored_uids(answer)) == 4
    engine = create_engine(f"sqlite:///{node.workdir / 'var' / 'ledger.db'}")
    assert len(ledger_instances(engine)) == len(files)
    engine.dispose()
    node.stop()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_client_certificate_allow_list(tmp_path: Path, pki: Path) -> None:
    tls = {
        "cert": str(pki / "server.crt"),
        "key": str(pki / "server.key"),
        "ca": str(pki / "ca.crt"),
        "require_client_cert": True,
    }
    node = _stow_node(tmp_path / "node", tls=tls)
    node.data["web"]["stow"]["clients"].append({"name": "CERT_CLIENT", "client_certificate": True})
    import yaml

    node.config_path.write_text(yaml.safe_dump(node.data))
    _start(node)
    files = ct_series(tmp_path / "ct", Patient(name="CERT^IFIED"), slices=2, size=16)
    body, boundary = multipart_body([f.read_bytes() for f in files])
    path = _write(tmp_path / "body", body)
    url = f"https://127.0.0.1:{node.data['web']['port']}/dicom-web/studies"
    common = [
        "-H",
        f"Content-Type: {CONTENT_TYPE.format(boundary)}",
        "--data-binary",
        f"@{path}",
        "--cacert",
        str(pki / "ca.crt"),
    ]
    code, answer = curl(url, *common, "--cert", str(pki / "client.crt"), "--key", str(pki / "client.key"))
    assert code == 200 and isinstance(answer, dict)
    assert sorted(stored_uids(answer)) == sorted(
        str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files
    )
    engine = create_engine(f"sqlite:///{node.workdir / 'var' / 'ledger.db'}")
    assert {r["calling_ae"] for r in ledger_instances(engine).values()} == {"CERT_CLIENT"}
    engine.dispose()
    with pytest.raises(RuntimeError, match="curl failed"):  # no certificate: no connection at all
        curl(url, *common)
    node.stop()
