"""STOW-RS into the node from real clients (curl, dcm4che-style bodies), and every bad request refused."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread

from dicom_node.errors import ConfigError
from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series, mr_series
from dicom_node.web import WebServer, create_app
from tests.support.node import echo, make_config
from tests.support.ports import wait_for
from tests.support.stow import (
    curl,
    dcm4che_body,
    failures,
    ledger_instances,
    multipart_body,
    stored_uids,
)

TOKEN = "stow-token-0123456789abcdef"
CLIENT = "STOW_CLIENT"


@dataclass
class StowNode:
    node: Node
    web: WebServer
    workdir: Path

    @property
    def url(self) -> str:
        return f"{self.web.url}/dicom-web/studies"

    def auth(self) -> list[str]:
        return ["-H", f"Authorization: Bearer {TOKEN}"]

    def post(self, body: bytes, content_type: str, token: str | None = TOKEN) -> tuple[int, object]:
        path = self.workdir / "body.bin"
        path.write_bytes(body)
        headers = ["-H", f"Content-Type: {content_type}"]
        if token is not None:
            headers += ["-H", f"Authorization: Bearer {token}"]
        return curl(self.url, "-X", "POST", *headers, "--data-binary", f"@{path}")


@pytest.fixture(scope="module")
def stow_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StowNode]:
    workdir = tmp_path_factory.mktemp("stow")
    token_file = workdir / "stow.token"
    token_file.write_text(TOKEN + "\n")
    config = make_config(
        workdir,
        rules=[{"name": "ct-seen", "match": {"Modality": "CT"}, "discard": True}],
        web={
            "port": 0,
            "stow": {
                "enabled": True,
                "max_instance_mb": 1,
                "max_request_mb": 8,
                "clients": [{"name": CLIENT, "token_file": str(token_file)}],
            },
        },
    )
    node = Node(config)
    node.start()
    web = WebServer(create_app(node), "127.0.0.1", 0)
    web.start()
    yield StowNode(node, web, workdir)
    web.stop()
    node.stop()


def _uid(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_curl_form_upload_is_stored_completed_and_routed(stow_node: StowNode, tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(), slices=4, size=32)
    forms = [arg for f in files for arg in ("-F", f"file=@{f};type=application/dicom")]
    code, answer = curl(
        stow_node.url,
        *stow_node.auth(),
        "-H",
        'Content-Type: multipart/related; type="application/dicom"',
        *forms,
    )
    assert code == 200, answer
    assert isinstance(answer, dict)
    assert sorted(stored_uids(answer)) == sorted(_uid(f) for f in files)
    ledger = stow_node.node.ledger
    series_uid = str(dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    recorded = ledger_instances(ledger.engine)
    for uid in stored_uids(answer):  # answered as stored: on disk and in the ledger
        row = recorded[uid]
        assert stow_node.node.storage.absolute(row["path"]).is_file()
        assert row["calling_ae"] == CLIENT
    wait_for(
        lambda: any(j.series_instance_uid == series_uid for j in ledger.list_jobs(limit=1000)),
        timeout=30,
        what="the STOW-RS series completed and routed",
    )
    assert {j.rule_name for j in ledger.list_jobs(limit=1000) if j.series_instance_uid == series_uid} == {
        "ct-seen"
    }


def test_dcm4che_style_and_quirky_bodies(stow_node: StowNode, tmp_path: Path) -> None:
    files = mr_series(tmp_path / "mr", Patient(name="DCM^FOURCHE"), slices=3, size=16)
    body, content_type = dcm4che_body(files)
    code, answer = stow_node.post(body, content_type)
    assert code == 200 and isinstance(answer, dict)
    assert sorted(stored_uids(answer)) == sorted(_uid(f) for f in files)
    # quoted boundary with blanks, a preamble, and a leading CRLF
    more = ct_series(tmp_path / "ct2", Patient(name="QUIRK^Y"), slices=2, size=16)
    body, boundary = multipart_body([f.read_bytes() for f in more], preamble=b"ignore me", leading_crlf=True)
    code, answer = stow_node.post(
        body, f'multipart/related ; boundary="{boundary}" ; type="application/dicom"'
    )
    assert code == 200 and isinstance(answer, dict)
    assert sorted(stored_uids(answer)) == sorted(_uid(f) for f in more)


def test_chunked_upload_without_length(stow_node: StowNode, tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(name="CHUNK^ED"), slices=3, size=32)
    body, boundary = multipart_body([f.read_bytes() for f in files])
    conn = http.client.HTTPConnection("127.0.0.1", stow_node.web.port, timeout=30)
    conn.putrequest("POST", "/dicom-web/studies")
    conn.putheader("Content-Type", f'multipart/related; type="application/dicom"; boundary={boundary}')
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for start in range(0, len(body), 1000):  # small chunks: boundaries fall across them
        chunk = body[start : start + 1000]
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("application/dicom+json")
    conn.close()


def test_bad_parts_fail_alone(stow_node: StowNode, tmp_path: Path) -> None:
    good = ct_series(tmp_path / "ct", Patient(name="MIXED^BAG"), slices=2, size=16)
    big = ct_series(tmp_path / "big", Patient(name="BIG^ONE"), slices=1, size=800)[0]  # > 1 MB
    assert big.stat().st_size > 1024 * 1024
    study = str(dcmread(good[0], stop_before_pixels=True).StudyInstanceUID)
    payloads = [good[0].read_bytes(), b"not dicom at all", big.read_bytes(), good[1].read_bytes()]
    body, boundary = multipart_body(payloads)
    code, answer = stow_node.post(body, f'multipart/related; type="application/dicom"; boundary={boundary}')
    assert code == 202 and isinstance(answer, dict)
    assert sorted(stored_uids(answer)) == sorted(_uid(f) for f in good)
    assert sorted(failures(answer)) == [0xA700, 0xC000]
    assert _uid(big) not in ledger_instances(stow_node.node.ledger.engine)
    # the study URL refuses instances of another study, one by one
    other = mr_series(tmp_path / "other", Patient(name="OTHER^STUDY"), slices=1, size=16)[0]
    body, boundary = multipart_body([good[0].read_bytes(), other.read_bytes()])
    code, answer = curl(
        f"{stow_node.url}/{study}",
        "-X",
        "POST",
        *stow_node.auth(),
        "-H",
        f'Content-Type: multipart/related; type="application/dicom"; boundary={boundary}',
        "--data-binary",
        f"@{_write(tmp_path / 'b', body)}",
    )
    assert code == 202 and isinstance(answer, dict)
    assert stored_uids(answer) == [_uid(good[0])] and failures(answer) == [0xA900]
    # a part that is not application/dicom
    body, boundary = multipart_body([good[0].read_bytes()], part_type="application/octet-stream")
    code, answer = stow_node.post(body, f'multipart/related; type="application/dicom"; boundary={boundary}')
    assert code == 409 and isinstance(answer, dict) and failures(answer) == [0xC000]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("content_type", "body", "token", "expected"),
    [
        ('multipart/related; type="application/dicom"; boundary=x', b"--x\r\n\r\nabc\r\n--x--", None, 401),
        ('multipart/related; type="application/dicom"; boundary=x', b"", "wrong-token-but-long-enough", 401),
        ("application/dicom", b"DICM", TOKEN, 415),
        ("multipart/form-data; boundary=x", b"--x--", TOKEN, 415),
        ('multipart/related; type="application/dicom+json"; boundary=x', b"--x--", TOKEN, 415),
        ('multipart/related; type="application/dicom"', b"--x--", TOKEN, 400),
        (
            'multipart/related; type="application/dicom"; boundary=x',
            b"garbage without boundaries",
            TOKEN,
            400,
        ),
        (
            'multipart/related; type="application/dicom"; boundary=x',
            b"--x\r\nContent-Type: applic",
            TOKEN,
            400,
        ),
        ('multipart/related; type="application/dicom"; boundary=x', b"--x--\r\n", TOKEN, 400),
        ('multipart/related; type="application/dicom"; boundary=x', b"\0" * (9 * 1024 * 1024), TOKEN, 413),
    ],
    ids=[
        "no-token",
        "bad-token",
        "not-multipart",
        "form-data",
        "json-type",
        "no-boundary",
        "garbage",
        "truncated",
        "no-parts",
        "too-large",
    ],
)
def test_bad_requests_get_clear_errors(
    stow_node: StowNode, content_type: str, body: bytes, token: str | None, expected: int
) -> None:
    code, answer = stow_node.post(body, content_type, token=token)
    assert code == expected, answer
    assert isinstance(answer, dict) and answer.get("detail"), answer
    assert echo(stow_node.node.port or 0)  # the node still answers
    leftovers = list(stow_node.node.storage.spool.glob(".stow-part-*"))
    assert leftovers == []  # nothing half-written stays behind


def test_disabled_stow_is_forbidden(tmp_path: Path) -> None:
    node = Node(make_config(tmp_path))
    app = create_app(node)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        answer = client.post(
            "/dicom-web/studies",
            content=b"--x--",
            headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=x'},
        )
    node.ingestor.close()
    assert answer.status_code == 403 and "disabled" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"stow": {"enabled": True}}, "web.stow: clients: STOW-RS needs at least one client"),
        ({"stow": {"clients": [{"name": "X"}]}}, "exactly one of token_file or client_certificate"),
        (
            {"stow": {"clients": [{"name": "X", "client_certificate": True}]}},
            "client_certificate needs web.tls with ca and require_client_cert",
        ),
        ({"stow": {"clients": [{"name": "BAD\\AE", "token_file": "t"}]}}, "an AE title is"),
    ],
)
def test_stow_configuration_errors_name_the_key(tmp_path: Path, web: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, web=web)
    assert message in str(caught.value)


def test_short_or_missing_token_files_stop_the_web_app(tmp_path: Path) -> None:
    short = tmp_path / "short.token"
    short.write_text("too-short")
    for path, reason in ((short, "at least 16 characters"), (tmp_path / "missing", "cannot read")):
        node = Node(
            make_config(
                tmp_path / f"node-{path.name}",
                web={"stow": {"clients": [{"name": "X", "token_file": str(path)}]}},
            )
        )
        with pytest.raises(ConfigError, match=reason):
            create_app(node)
        node.ingestor.close()
