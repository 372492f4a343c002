"""The series a study rule matched, for its job: all of them to forward, or the other roles' series
linked into the pipeline's study context folder as ``context/<role>/`` (the first role's series is the
pipeline's input folder, as for a series rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import RowMapping

from dicom_node.ledger import Ledger
from dicom_node.storage import Storage


def _roles(ticket: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(str(series["role"]), series) for series in ticket.get("study_series") or []]


def study_series_files(ledger: Ledger, ticket: dict[str, Any]) -> list[RowMapping]:
    """Every instance of every matched series (each up to the revision the rule saw)."""
    rows: list[RowMapping] = []
    for _, series in _roles(ticket):
        rows += ledger.series_files(series["series_instance_uid"], series["revision"])
    return rows


def link_study_series(
    ledger: Ledger, storage: Storage, ticket: dict[str, Any], context_dir: Path
) -> list[Path]:
    """Link the series of every role but the first into ``context_dir/<role>/``; return the folders."""
    folders: list[Path] = []
    for role, series in _roles(ticket)[1:]:
        folder = context_dir / role
        for row in ledger.series_files(series["series_instance_uid"], series["revision"]):
            storage.link_or_copy(storage.absolute(row["path"]), folder / Path(row["path"]).name)
        folders.append(folder)
    return folders
