"""Malformed DICOM at every door: clear statuses and messages, never a crash, other data unaffected."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from dicom_node.errors import InvalidDatasetError
from dicom_node.ingest import parse_header
from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import echoscu
from tests.support.node import DICOM_NODE


def _encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ct_series(tmp_path_factory.mktemp("good"), Patient(), slices=1, size=32)[0]


def _corpus(good: Path, folder: Path) -> dict[str, Path]:
    """Each kind of damage as a file (written byte by byte where pydicom would refuse to write it)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = good.read_bytes()
    ds = dcmread(good)
    cases: dict[str, bytes] = {
        "truncated": raw[: len(raw) // 2],
        "header-only": raw[:200],
        "not-dicom": b"%PDF-1.4 this is not a DICOM file\n" * 20,
        "empty": b"",
        "length-past-end": raw[: -len(ds.PixelData)]
        + b"\xe0\x7f\x10\x00OW\x00\x00\xff\xff\xff\x0f"
        + b"\x00" * 64,
        "bad-transfer-syntax": raw.replace(b"1.2.840.10008.1.2.1\x00", b"1.2.840.99999.9.9\x00", 1),
    }
    short = dcmread(good)
    short.PixelData = short.PixelData[:100]  # pixel data shorter than Rows x Columns
    cases["short-pixels"] = _encoded(short)
    charset = dcmread(good)
    charset.SpecificCharacterSet = "ISO_IR 999"
    charset.PatientName = "M\xfcller^J\xfcrgen"
    cases["unknown-charset"] = _encoded(charset)
    huge = dcmread(good)
    huge.add_new(0x00091010, "LO", "ACME 1.0")
    huge.add_new(0x00091011, "OB", b"\x00" * (8 * 1024 * 1024))  # an 8 MB private element
    huge.private_block(0x0009, "ACME 1.0", create=True)
    cases["huge-private"] = _encoded(huge)
    paths = {}
    for name, data in cases.items():
        path = folder / f"{name}.dcm"
        path.write_bytes(data)
        paths[name] = path
    return paths


def test_parse_header_only_raises_invalid_dataset(good: Path, tmp_path: Path) -> None:
    for name, path in _corpus(good, tmp_path).items():
        try:
            parse_header(path.read_bytes())
        except InvalidDatasetError:
            continue
        assert name in {"short-pixels", "unknown-charset", "huge-private", "length-past-end", "truncated"}, (
            name
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bytes_never_escape_as_other_errors(good: Path, data: st.DataObject) -> None:
    raw = bytearray(good.read_bytes()[:2048])
    for _ in range(data.draw(st.integers(1, 12))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        header = parse_header(bytes(raw[:cut]))
    except InvalidDatasetError:
        return
    assert header.sop_instance_uid and header.series_instance_uid


def test_damaged_instances_over_c_store_leave_the_node_up(
    start_node: Callable[..., Node], good: Path, tmp_path: Path
) -> None:
    node = start_node()
    ae = AE(ae_title="FUZZER")
    ae.add_requested_context(CTImageStorage)
    ae.dimse_timeout = 30
    assoc = ae.associate("127.0.0.1", node.port, ae_title="AI_NODE")
    assert assoc.is_established
    statuses = {}
    for name, path in _corpus(good, tmp_path).items():
        try:
            ds = dcmread(path, force=True)
            ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
            status = assoc.send_c_store(ds)
        except Exception as exc:  # our SCU cannot even encode it: nothing reaches the node
            statuses[name] = f"not sent ({type(exc).__name__})"
            continue
        statuses[name] = f"0x{int(status.Status):04X}" if "Status" in status else "no response"
    if assoc.is_established:
        assoc.release()
    # whatever was sent got a DIMSE answer: success (stored as received) or a failure status
    assert all(s != "no response" for s in statuses.values()), statuses
    assert statuses["short-pixels"] == "0x0000" and statuses["huge-private"] == "0x0000"
    assert echoscu(node.port).returncode == 0
    assert node.receiver.received >= 2


@pytest.mark.parametrize("command", ["volume", "infer", "anonymize"])
def test_cli_commands_name_the_file_and_the_problem(good: Path, tmp_path: Path, command: str) -> None:
    corpus = _corpus(good, tmp_path / "in")
    for name in ("truncated", "not-dicom", "short-pixels"):
        folder = tmp_path / f"series-{name}"
        folder.mkdir()
        (folder / corpus[name].name).write_bytes(corpus[name].read_bytes())
        if command == "volume":
            args = ["volume", str(folder), str(tmp_path / f"{name}.nii.gz")]
        elif command == "infer":
            args = ["infer", "qc", str(folder), "--out", str(tmp_path / f"out-{name}")]
        else:
            args = [
                "anonymize",
                str(folder),
                str(tmp_path / f"anon-{name}"),
                "--key-file",
                str(tmp_path / "k"),
            ]
        result = subprocess.run([str(DICOM_NODE), *args], capture_output=True, text=True, timeout=300)
        assert "Traceback" not in result.stderr, result.stderr
        if command == "anonymize":  # a batch reports and skips files it cannot parse
            if name == "short-pixels":  # well-formed elements: the header is de-identified like any other
                assert "1 anonymized" in result.stdout
            else:
                assert "1 failed" in result.stdout and "0 anonymized" in result.stdout, result.stdout
        else:
            assert result.returncode == 2, (name, result.stderr)
            errors = [line for line in result.stderr.splitlines() if f"dicom-node {command}: error:" in line]
            assert len(errors) == 1 and (".dcm" in errors[0] or "no DICOM" in errors[0]), result.stderr
