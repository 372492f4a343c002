"""The study context a pipeline reads: part of the pipeline contract between the node and the pipelines.

A job's series folder (``<job>/input/``) holds one series. What else a pipeline may use lies in the
sibling folder ``<job>/context/``, laid out by the node before the pipeline runs:

- ``context/*.dcm``: presentation states (GSPS) and SEGs of the same study that reference the series
  (a region drawn on an image by the PACS user);
- ``context/priors/<StudyDate>_<SeriesInstanceUID>/*.dcm``: the same patient's earlier series chosen
  by the rule's ``priors`` section (retrieved from the archive, never routed on their own);
- ``context/cache/``: a folder that outlives the job, one per pipeline, where a pipeline keeps what it
  measured on a series (keyed by Series Instance UID and its own version), so that a prior analysed
  once is not analysed again. A pipeline writes there atomically (temporary file + rename).

A pipeline reaches all of it through :attr:`inference.pipeline.Series.context`, set by
:func:`inference.registry.run_pipeline`. This module imports nothing of the node: the node writes the
layout, the pipelines read it.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

STUDY_CONTEXT_DIR = "context"
PRIORS_DIR = "priors"
CACHE_DIR = "cache"
FILE_MODE = 0o644

_PRIOR_FOLDER = re.compile(r"^(?P<date>\d{8})?_(?P<uid>[0-9.]+)$")


@dataclass(frozen=True)
class PriorSeries:
    """One prior series: its folder of DICOM files, its Study Date (YYYYMMDD or empty) and its UID."""

    folder: Path
    study_date: str
    series_instance_uid: str

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())


@dataclass(frozen=True)
class StudyContext:
    """The ``context`` folder beside a job's series folder (it may not exist: then it is empty)."""

    root: Path

    @classmethod
    def beside(cls, series_dir: Path) -> StudyContext:
        return cls(Path(series_dir).parent / STUDY_CONTEXT_DIR)

    def objects(self) -> list[Path]:
        """The study objects (PR, SEG) linked for this series; a pipeline checks what they reference."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_file())

    def priors(self) -> list[PriorSeries]:
        """The prior series, newest first (by Study Date; undated last)."""
        folder = self.root / PRIORS_DIR
        if not folder.is_dir():
            return []
        found: list[PriorSeries] = []
        for child in folder.iterdir():
            match = _PRIOR_FOLDER.match(child.name)
            if child.is_dir() and match:
                found.append(PriorSeries(child, match["date"] or "", match["uid"]))
        return sorted(found, key=lambda p: (p.study_date != "", p.study_date), reverse=True)

    @property
    def cache_dir(self) -> Path | None:
        """The pipeline's persistent cache folder, or None when the node gave none (e.g. a CLI run)."""
        folder = self.root / CACHE_DIR
        return folder if folder.is_dir() else None


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's 0600 would hide the file from workers running as other users
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
