"""The receiver against real DCMTK peers: durable storage, statuses, policy, character sets."""

from __future__ import annotations

import copy
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import JPEG2000Lossless, RLELossless
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]
from sqlalchemy import select

from dicom_node.errors import InvalidDatasetError
from dicom_node.ledger import schema
from dicom_node.network.receiver import store_status
from dicom_node.node import Node
from dicom_node.samples import KOREAN_PATIENT, Patient, cr_image, ct_series
from tests.support.dcmtk import acknowledged_files, echoscu, storescu, tool


def _instances(node: Node) -> list[dict[str, object]]:
    with node.ledger.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(schema.instances)).mappings()]


def test_echo_and_store_are_durable_before_success(
    start_node: Callable[..., Node], ct_files: list[Path]
) -> None:
    node = start_node()
    assert echoscu(node.port).returncode == 0
    result = storescu(node.port, ct_files)
    assert result.returncode == 0, result.stderr
    assert len(acknowledged_files(result.stderr)) == len(ct_files)
    rows = _instances(node)
    assert len(rows) == len(ct_files)
    for row in rows:
        stored = node.storage.absolute(str(row["path"]))
        source = next(
            p
            for p in ct_files
            if dcmread(p, stop_before_pixels=True).SOPInstanceUID == row["sop_instance_uid"]
        )
        # bytes of the dataset are stored exactly as received (same transfer syntax, same pixel bytes)
        assert dcmread(stored).PixelData == dcmread(source).PixelData
        assert stored.stat().st_mode & 0o777 == 0o640
    assert not list(node.storage.spool.rglob("*.tmp"))


def test_duplicate_instance_is_replaced_and_counted_once(
    start_node: Callable[..., Node], ct_files: list[Path]
) -> None:
    node = start_node(series={"complete_after_s": 60})
    assert storescu(node.port, ct_files[:2]).returncode == 0
    assert storescu(node.port, ct_files[:2]).returncode == 0
    rows = _instances(node)
    assert len(rows) == 2 and all(r["receive_count"] == 2 for r in rows)
    series = node.ledger.get_series(1)
    assert series is not None and series.instance_count == 2 and series.revision == 1


def _compress(source: Path, target: Path, how: str) -> Path:
    if how in ("jpeg-baseline", "jpeg-lossless"):
        flag = "+eb" if how == "jpeg-baseline" else "+e1"
        if how == "jpeg-baseline":  # baseline JPEG is 8-bit: make an 8-bit image first
            ds = dcmread(source)
            arr = ds.pixel_array
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
            ds.PixelData = (
                ((arr - arr.min()) * 255 // max(1, int(arr.max() - arr.min()))).astype("uint8").tobytes()
            )
            source = target.with_suffix(".8bit.dcm")
            ds.save_as(source)
        subprocess.run([tool("dcmcjpeg"), flag, str(source), str(target)], check=True)
    elif how == "jpeg-ls":
        subprocess.run([tool("dcmcjpls"), str(source), str(target)], check=True)
    elif how == "rle-dcmtk":
        subprocess.run([tool("dcmcrle"), str(source), str(target)], check=True)
    elif how == "deflated":
        subprocess.run([tool("dcmconv"), "+td", str(source), str(target)], check=True)
    elif how in ("jpeg2000", "rle"):
        ds = dcmread(source)
        ds.compress(JPEG2000Lossless if how == "jpeg2000" else RLELossless)
        ds.save_as(target)
    return target


_PROPOSE = {
    "jpeg-baseline": "-xy",
    "jpeg-lossless": "-xs",
    "jpeg-ls": "-xt",
    "jpeg2000": "-xv",
    "rle": "-xr",
    "deflated": "-xd",
}


@pytest.mark.parametrize("how", ["jpeg-baseline", "jpeg-lossless", "jpeg-ls", "jpeg2000", "rle", "deflated"])
def test_compressed_transfer_syntaxes_are_stored_as_received(
    start_node: Callable[..., Node], tmp_path: Path, how: str
) -> None:
    source = ct_series(tmp_path / "src", slices=1, size=64)[0]
    compressed = _compress(source, tmp_path / f"{how}.dcm", how)
    sent_ts = str(dcmread(compressed, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    node = start_node()
    # storescu proposes the compressed syntax in its own context, beside the uncompressed ones
    result = storescu(node.port, [compressed], _PROPOSE[how])
    assert result.returncode == 0, result.stderr
    (row,) = _instances(node)
    assert row["transfer_syntax_uid"] == sent_ts
    stored = dcmread(node.storage.absolute(str(row["path"])))
    assert stored.file_meta.TransferSyntaxUID == sent_ts
    if how not in ("jpeg-baseline",):  # lossless: the pixels decode to the original values
        assert (stored.pixel_array == dcmread(source).pixel_array).all()


def test_korean_and_japanese_character_sets(start_node: Callable[..., Node], tmp_path: Path) -> None:
    node = start_node(series={"complete_after_s": 60})
    korean = ct_series(tmp_path / "kr", KOREAN_PATIENT, slices=2, size=16, description="흉부 CT")
    japanese = Patient(
        name="Yamada^Tarou=山田^太郎=やまだ^たろう", patient_id="JP1", charset="\\ISO 2022 IR 87"
    )
    jp = ct_series(tmp_path / "jp", japanese, slices=1, size=16, description="胸部")
    assert storescu(node.port, korean + jp).returncode == 0
    descriptions = sorted(
        s.series_description for s in (node.ledger.get_series(1), node.ledger.get_series(2)) if s is not None
    )
    assert descriptions == sorted(["흉부 CT", "胸部"])
    stored = dcmread(node.storage.absolute(str(_instances(node)[0]["path"])))
    assert "홍^길동" in str(stored.PatientName) or "山田" in str(stored.PatientName)


def test_unparseable_and_incomplete_datasets_get_failure_statuses(
    start_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = start_node()
    good = dcmread(cr_image(tmp_path, size=32))
    no_series = copy.deepcopy(good)
    del no_series.SeriesInstanceUID
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(good.SOPClassUID, good.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="AI_NODE")
    assert assoc.is_established
    missing = assoc.send_c_store(no_series)
    fine = assoc.send_c_store(good)
    assoc.release()
    assert int(missing.Status) == 0xC001 and "SeriesInstanceUID" in str(missing.ErrorComment)
    assert int(fine.Status) == 0x0000
    assert len(_instances(node)) == 1  # the good one; the node is still up
    assert echoscu(node.port).returncode == 0


@pytest.mark.parametrize(
    "payload",
    [b"", b"not dicom at all", b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\xff\xff\xff\x7f"],
)
def test_bytes_that_are_no_dataset_map_to_cannot_understand(
    start_node: Callable[..., Node], payload: bytes
) -> None:
    node = start_node()
    with pytest.raises(InvalidDatasetError) as info:
        node.ingestor.store(payload, "TESTSCU")
    assert 0xC000 <= int(store_status(info.value).Status) <= 0xCFFF
    assert _instances(node) == []


def test_calling_ae_allow_list(start_node: Callable[..., Node]) -> None:
    node = start_node(node={"allowed_calling_aets": ["CT_SCANNER", "PACS@127.0.0.1", "MR@10.9.9.9"]})
    assert echoscu(node.port, aet="CT_SCANNER").returncode == 0
    assert echoscu(node.port, aet="PACS").returncode == 0
    stranger = echoscu(node.port, aet="STRANGER")
    assert stranger.returncode != 0 and "Rejected" in stranger.stderr + stranger.stdout
    wrong_host = echoscu(node.port, aet="MR")
    assert wrong_host.returncode != 0


def test_out_of_space_refuses_association_and_store(
    start_node: Callable[..., Node], ct_files: list[Path]
) -> None:
    node = start_node(storage={"min_free_gb": 1e6})  # a floor no disk meets
    refused = storescu(node.port, ct_files[:1])
    assert refused.returncode != 0 and "Rejected" in refused.stderr + refused.stdout
    assert _instances(node) == []


def test_store_refused_with_a700_when_below_floor(start_node: Callable[..., Node], tmp_path: Path) -> None:
    node = start_node()
    big = dcmread(ct_series(tmp_path / "big", slices=1, size=1024)[0])  # a 2 MB instance
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="AI_NODE")
    assert assoc.is_established
    # the association was accepted (free space is above the floor), but this instance would cross it:
    # 0xA700 out of resources. The 1 MB margin keeps other writers on the disk from changing the outcome.
    node.storage.min_free_bytes = node.storage.free_bytes() - 1024**2
    status = assoc.send_c_store(big)
    assoc.release()
    assert int(status.Status) == 0xA700
    assert _instances(node) == []


def test_accepted_connections_turn_nagle_off(start_node: Callable[..., Node]) -> None:
    """The receiver sets TCP_NODELAY on every accepted connection (checked on the live socket): with
    Nagle on, a response written in more than one segment waits for the peer's delayed ACK (40 ms)."""
    node = start_node()
    ae = AE(ae_title="PROBE")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", node.port, ae_title=node.config.node.ae_title)
    assert assoc.is_established
    try:
        server = node.receiver._server
        assert server is not None
        accepted = [a.dul.socket.socket for a in server.active_associations if a.dul.socket is not None]
        assert accepted
        assert all(s is not None and s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)
    finally:
        assoc.release()
