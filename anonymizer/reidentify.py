"""Re-identification store: pseudonym -> original, for the de-identified inference route.

pseudonymise -> infer -> :func:`reidentify` the results -> send them under the original identity.
The SQLite file holds PHI: it is created with mode 0600 and must live beside the key file, not in output.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from pydicom.dataset import Dataset

from anonymizer.dates import shift_value
from anonymizer.engine import AnonymizationResult, IdentityMapping

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mapping (
    kind TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    original TEXT NOT NULL,
    PRIMARY KEY (kind, pseudonym)
)
"""
_PATIENT_ATTRS = (
    ("PatientID", "PatientID"),
    ("PatientName", "PatientName"),
    ("AccessionNumber", "AccessionNumber"),
)
_SHIFTED_BACK = ("StudyDate", "PatientBirthDate")
_DEID_ATTRS = (
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
)


class ReidentificationStore:
    """Pseudonym -> original; kinds: PatientID, PatientName, AccessionNumber, uid, date_offset."""

    def __init__(self, path: Path | str, max_rows: int | None = None) -> None:
        """Open (or create, mode 0600) the store at ``path``; ``":memory:"`` keeps it in this process.

        ``max_rows`` bounds the store (oldest rows go first): for a process-lifetime in-memory store.
        """
        self.max_rows = max_rows
        in_memory = str(path) == ":memory:"
        self.path = Path(path)
        if not in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:" if in_memory else self.path, check_same_thread=False)
        with self._db:
            self._db.execute(_SCHEMA)

    def record(self, mappings: Iterable[IdentityMapping]) -> None:
        """Store (kind, pseudonym, original) rows; re-recording the same pseudonym is a no-op."""
        rows = [(m.kind, m.pseudonym, m.original) for m in mappings]
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO mapping VALUES (?, ?, ?)", rows)
            if self.max_rows is not None:
                (count,) = self._db.execute("SELECT count(*) FROM mapping").fetchone()
                if count > self.max_rows:
                    oldest = "SELECT rowid FROM mapping ORDER BY rowid LIMIT ?"
                    self._db.execute(
                        f"DELETE FROM mapping WHERE rowid IN ({oldest})", (count - self.max_rows,)
                    )

    def record_result(self, result: AnonymizationResult) -> None:
        """Store every mapping of one anonymization, plus the patient's date offset."""
        mappings = list(result.mappings)
        patient_id = str(result.dataset.get("PatientID", "") or "")
        if result.date_offset_days is not None and patient_id:
            mappings.append(IdentityMapping("date_offset", patient_id, str(result.date_offset_days)))
        self.record(mappings)

    def original(self, kind: str, pseudonym: str) -> str | None:
        """The original behind ``pseudonym``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT original FROM mapping WHERE kind = ? AND pseudonym = ?", (kind, pseudonym)
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReidentificationStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def reidentify(ds: Dataset, store: ReidentificationStore) -> Dataset:
    """Restore the original patient/study identity of a result made from pseudonymised input (in place).

    Patient name/ID and accession number are restored, every UID the store knows (Study Instance UID,
    referenced series and instances, frame of reference) is mapped back at any depth, StudyDate and
    PatientBirthDate are shifted back, and the de-identification marks are removed. UIDs the store does not
    know (the result's own new instances) are left alone.
    """
    pseudo_patient = str(ds.get("PatientID", "") or "")
    for keyword, kind in _PATIENT_ATTRS:
        value = ds.get(keyword)
        if value:
            original = store.original(kind, str(value))
            if original is not None:
                setattr(ds, keyword, original)
    offset = store.original("date_offset", pseudo_patient) if pseudo_patient else None
    if offset is not None:
        for keyword in _SHIFTED_BACK:
            value = ds.get(keyword)
            if value:
                setattr(ds, keyword, shift_value("DA", str(value), -int(offset)) or "")
    _restore_uids(ds, store)
    for keyword in _DEID_ATTRS:
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def _restore_uids(ds: Dataset, store: ReidentificationStore) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or ():
                _restore_uids(item, store)
        elif elem.VR == "UI" and not elem.is_empty:
            values = [str(v) for v in elem.value] if elem.VM > 1 else [str(elem.value)]
            restored = [store.original("uid", v) or v for v in values]
            if restored != values:
                elem.value = restored if elem.VM > 1 else restored[0]
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
