"""The storage path: where received instances, job work folders and outputs live.

Layout under ``storage.path``::

    spool/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm   received instances, as received
    jobs/<job id>/input/    hard links to the instances of one series revision (a stable snapshot)
    jobs/<job id>/output/   what the job produced and will send
    ledger.db               the SQLite ledger (default database)

Every file is written atomically: a temporary file in the same folder, fsync, rename, then fsync of the
folder (batched by the caller), so a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path

from dicom_node.errors import StorageError, StorageFullError

_SAFE_UID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,63}$")


def safe_name(uid: str) -> str:
    """A file-system-safe name for a UID (UIDs with odd characters are hashed, never trusted as paths)."""
    uid = uid.strip().rstrip("\x00")
    if _SAFE_UID.match(uid) and ".." not in uid:
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]


def write_file_atomic(path: Path, data: bytes | memoryview, fsync: bool = True) -> None:
    """Write a file atomically: temp file in the same folder, fsync, rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFullError(f"no space left for {path.name}") from exc
        raise StorageError(f"cannot write {path}: {exc.strerror}") from exc


class Storage:
    def __init__(self, root: Path, min_free_gb: float = 1.0, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.min_free_bytes = int(min_free_gb * 1024**3)
        self.fsync = fsync
        self.spool = self.root / "spool"
        self.jobs = self.root / "jobs"
        for folder in (self.root, self.spool, self.jobs):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o750)

    # -- space ----------------------------------------------------------------------------------
    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def has_room(self, incoming: int = 0) -> bool:
        return self.free_bytes() - incoming >= self.min_free_bytes

    def check_room(self, incoming: int = 0) -> None:
        if not self.has_room(incoming):
            raise StorageFullError(
                f"free space on {self.root} is below the floor of {self.min_free_bytes / 1024**3:.2f} GB"
            )

    # -- paths ----------------------------------------------------------------------------------
    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return self.spool / safe_name(study_uid) / safe_name(series_uid) / f"{safe_name(sop_uid)}.dcm"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def job_dir(self, job_id: int) -> Path:
        return self.jobs / str(job_id)

    # -- writing --------------------------------------------------------------------------------
    def write_atomic(self, path: Path, data: bytes | memoryview) -> set[Path]:
        """Write ``data`` to ``path`` atomically (temp file, fsync, rename).

        Returns the folders whose entries changed and must be fsynced (by :meth:`sync_dirs`, batched by
        the caller): the file's folder, plus each parent of a folder this write created.
        """
        created: set[Path] = set()
        folder = path.parent
        while not folder.exists() and folder != self.root:
            created.add(folder.parent)
            folder = folder.parent
        try:
            write_file_atomic(path, data, fsync=self.fsync)
        except StorageFullError:
            raise StorageFullError(f"no space left on {self.root}") from None
        except StorageError:
            raise StorageError(f"cannot write into {self.relative(path.parent)}") from None
        return {path.parent} | created

    def sync_dirs(self, folders: set[Path]) -> None:
        """fsync folders so that renames inside them survive a crash (also their new parents)."""
        if not self.fsync:
            return
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def link_or_copy(self, source: Path, target: Path) -> None:
        """Snapshot a file into a job folder: a hard link (no copy) where the file system allows."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    def remove_stale_temp_files(self) -> int:
        """Remove temporary files left by a crash mid-write (never acknowledged, so never promised)."""
        removed = 0
        for tmp in self.spool.rglob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
        return removed
