"""Ingest: from received bytes to a durable, recorded instance — the promise behind every Success.

Each association thread parses the header, writes the file atomically (fsync), fsyncs the folders that
changed, and hands the record to one committer thread. The committer takes everything waiting, records
the whole batch in one ledger transaction, and only then releases the waiting threads, which answer the
C-STORE. Concurrent senders therefore share ledger commits (group commit), while their file and folder
fsyncs run side by side (the file system joins concurrent fsyncs into one journal commit) and overlap
the committer's transaction, without weakening the promise: no Success is sent before the file, its
folder and its ledger row are on disk, and no ledger row names a file that is not.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicom_node.errors import InvalidDatasetError, StorageError
from dicom_node.ledger import IngestResult, InstanceRecord, Ledger
from dicom_node.logsetup import get_logger
from dicom_node.series.expected import expected_frames, frames_in
from dicom_node.storage import Storage

log = get_logger("dicom_node.ingest")

MAX_UID_LENGTH = 64  # PS3.5 §9.1

_HEADER_TAGS = [
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SeriesDescription",
    "ImageType",
    "NumberOfFrames",
    "ImagesInAcquisition",
    "NumberOfTemporalPositions",
    "InConcatenationTotalNumber",
]


@dataclass(frozen=True)
class Header:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str
    series_description: str
    frames: int
    expected_frames: int | None


def parse_header(encoded: bytes) -> Header:
    """Read the few attributes the node needs from a Part 10 byte stream (no pixel data decoded)."""
    try:
        return _parse_header(encoded)
    except InvalidDatasetError:
        raise
    except Exception as exc:  # untrusted bytes: any parser failure means "cannot understand" (0xC000)
        raise InvalidDatasetError(f"cannot parse the dataset: {type(exc).__name__}: {exc}") from exc


def parse_header_file(path: Path) -> Header:
    """:func:`parse_header` for a Part 10 file on disk (read up to the pixel data only)."""
    try:
        with path.open("rb") as stream:
            return _parse_header(stream)
    except InvalidDatasetError:
        raise
    except Exception as exc:  # untrusted bytes, as above
        raise InvalidDatasetError(f"cannot parse the dataset: {type(exc).__name__}: {exc}") from exc


def _parse_header(encoded: bytes | BinaryIO) -> Header:
    source = io.BytesIO(encoded) if isinstance(encoded, bytes) else encoded
    ds: Dataset = dcmread(source, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    uids = {}
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = str(ds.get(keyword, "") or "").strip()
        if not value:
            raise InvalidDatasetError(f"{keyword} is missing")
        uids[keyword] = value
    meta = ds.file_meta
    sop_class_uid = str(ds.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", ""))
    transfer_syntax_uid = str(meta.get("TransferSyntaxUID", ""))
    for keyword, value in (
        *uids.items(),
        ("SOPClassUID", sop_class_uid),
        ("TransferSyntaxUID", transfer_syntax_uid),
    ):
        if len(value) > MAX_UID_LENGTH:  # the ledger (PostgreSQL) holds at most 64, as the standard allows
            raise InvalidDatasetError(f"{keyword} is longer than {MAX_UID_LENGTH} characters")
    try:
        description = str(ds.get("SeriesDescription", "") or "")
    except (ValueError, LookupError, UnicodeError):
        description = ""
    return Header(
        sop_class_uid=sop_class_uid,
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=transfer_syntax_uid,
        modality=str(ds.get("Modality", "") or ""),
        series_description=description,
        frames=frames_in(ds),
        expected_frames=expected_frames(ds),
    )


@dataclass
class _Pending:
    record: InstanceRecord
    future: Future[IngestResult]


class Ingestor:
    """Stores instances durably and records them with group commits."""

    def __init__(
        self,
        storage: Storage,
        ledger: Ledger,
        on_complete: Callable[[], None] | None = None,
        max_batch: int = 256,
    ) -> None:
        self.storage = storage
        self.ledger = ledger
        self.on_complete = on_complete
        self.max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._commit_loop, name="ingest-commit", daemon=True)
        self._thread.start()

    def store(self, encoded: bytes, calling_ae: str) -> IngestResult:
        """Store one Part 10 stream; return once it is durable and recorded (raises on failure)."""
        header = parse_header(encoded)
        self.storage.check_room(len(encoded))
        path = self.storage.instance_path(
            header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid
        )
        self.storage.sync_dirs(self.storage.write_atomic(path, encoded))
        return self._record(header, path, len(encoded), calling_ae)

    def store_file(self, tmp: Path, header: Header, size: int, calling_ae: str) -> IngestResult:
        """Store a Part 10 file already written and fsynced at ``tmp`` (a temporary name in the spool,
        from :func:`~dicom_node.storage.temp_path`) whose header is ``header`` (:func:`parse_header_file`):
        moved to its place, its folders fsynced, recorded; returns once durable and recorded."""
        self.storage.check_room(0)  # its bytes are already on the disk
        path = self.storage.instance_path(
            header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid
        )
        self.storage.sync_dirs(self.storage.adopt(tmp, path))
        return self._record(header, path, size, calling_ae)

    def _record(self, header: Header, path: Path, size: int, calling_ae: str) -> IngestResult:
        record = InstanceRecord(
            sop_instance_uid=header.sop_instance_uid,
            sop_class_uid=header.sop_class_uid,
            series_instance_uid=header.series_instance_uid,
            study_instance_uid=header.study_instance_uid,
            transfer_syntax_uid=header.transfer_syntax_uid,
            path=self.storage.relative_instance(path),
            size_bytes=size,
            frames=header.frames,
            calling_ae=calling_ae[:16],
            modality=header.modality,
            series_description=header.series_description,
            expected_frames=header.expected_frames,
        )
        future: Future[IngestResult] = Future()
        self._queue.put(_Pending(record, future))
        return future.result()

    def _commit_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                results = self.ledger.record_instances([p.record for p in batch])
            except Exception as exc:  # the waiting handlers turn this into a failure status
                log.error("ingest_commit_failed", error=str(exc), batch=len(batch))
                failure = StorageError(f"ledger commit failed: {exc}")
                for pending in batch:
                    pending.future.set_exception(failure)
                continue
            for pending, result in zip(batch, results, strict=True):
                pending.future.set_result(result)
            if self.on_complete and any(r.completed for r in results):
                self.on_complete()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
