"""The series a study rule matched, for its job: all of them to forward, or the other roles' series
linked into the pipeline's study context folder as ``context/<role>/`` (the first role's series is the
pipeline's input folder, as for a series rule)."""

from __future__ import annotations

from pathlib import Path

from dicom_node.ledger import JobTicket, Ledger, StoredInstance
from dicom_node.storage import Storage


def study_series_files(ledger: Ledger, ticket: JobTicket) -> list[StoredInstance]:
    """Every instance of every matched series (each up to the revision the rule saw)."""
    files: list[StoredInstance] = []
    for series in ticket.roles:
        files += ledger.series_files(series.series_instance_uid, series.revision)
    return files


def link_study_series(ledger: Ledger, storage: Storage, ticket: JobTicket, context_dir: Path) -> list[Path]:
    """Link the series of every role but the first into ``context_dir/<role>/``; return the folders."""
    folders: list[Path] = []
    for series in ticket.roles[1:]:
        folder = context_dir / series.role
        for stored in ledger.series_files(series.series_instance_uid, series.revision):
            storage.link_or_copy(storage.absolute(stored.path), folder / Path(stored.path).name)
        folders.append(folder)
    return folders
