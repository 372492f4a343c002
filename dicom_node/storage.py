"""The storage path: where received instances, job work folders and outputs live.

Layout under ``storage.path``::

    spool/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm   received instances, as received
    jobs/<job id>/input/    hard links to the instances of one series revision (a stable snapshot)
    jobs/<job id>/output/   what the job produced and will send
    ledger.db               the SQLite ledger (default database)

Every file is written atomically: a temporary file in the same folder, fsync, rename, then fsync of the
folder (batched by the caller), so a crash leaves either the old file or the new one, never half of one.

The path may be shared (NFS-style) by several receivers and workers. Final names are derived from UIDs and
job ids only, so two writers of the same instance write the same bytes to the same name (the last rename
wins). Temporary names carry the writer's host and process id (``.<name>.<host>~<pid>.<nonce>.tmp``), so
the clean-up at start removes only what a dead process on this host left, and what any writer left long
ago; a write in flight at another receiver is never removed under it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import random
import re
import shutil
import socket
import threading
import time
from pathlib import Path

from dicom_node.errors import StorageError, StorageFullError

_SAFE_UID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,63}$")


def safe_name(uid: str) -> str:
    """A file-system-safe name for a UID (UIDs with odd characters are hashed, never trusted as paths)."""
    uid = uid.strip().rstrip("\x00")
    if _SAFE_UID.match(uid) and ".." not in uid:
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]


# How long a measured free space is trusted by the per-instance check (minus what was written since)
FREE_SPACE_RECHECK_S = 0.5

# Temporary files older than this belong to a writer that is gone, whoever it was (no write takes so long).
STALE_TEMP_AGE_S = 15 * 60
_TEMP_NAME = re.compile(r"\.(?P<host>[A-Za-z0-9-]{1,32})~(?P<pid>[0-9]+)\.[0-9a-f]{32}\.tmp$")


@functools.cache
def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def temp_path(path: Path) -> Path:
    """The temporary name a write of ``path`` uses: same folder, hidden, tagged with host and pid.

    The nonce comes from ``random`` (no system call on the ingest path; uniqueness, not secrecy).
    """
    return path.parent / f".{path.name}.{_host_tag()}~{os.getpid()}.{random.getrandbits(128):032x}.tmp"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _temp_is_stale(tmp: Path, now: float, max_age_s: float) -> bool:
    """Left by a crash: written by a dead process (or this one's former self) on this host, or old."""
    match = _TEMP_NAME.search(tmp.name)
    if match and match["host"] == _host_tag():
        pid = int(match["pid"])
        if pid == os.getpid() or not _process_alive(pid):
            return True
    try:
        return now - tmp.stat().st_mtime > max_age_s
    except OSError:
        return False


def write_file_atomic(
    path: Path, data: bytes | memoryview, fsync: bool = True, folder_exists: bool = False
) -> None:
    """Write a file atomically: temp file in the same folder, fsync, rename over the target."""
    if not folder_exists:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
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
        with contextlib.suppress(PermissionError):  # a shared path may belong to another account
            os.chmod(self.root, 0o750)
        self._room_lock = threading.Lock()
        self._room_measured_at = float("-inf")
        self._room_estimate = 0

    # -- space ----------------------------------------------------------------------------------
    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def has_room(self, incoming: int = 0) -> bool:
        return self.free_bytes() - incoming >= self.min_free_bytes

    def check_room(self, incoming: int = 0) -> None:
        """Refuse ``incoming`` bytes that would take the free space below the floor (per instance).

        The file system is asked at most every :data:`FREE_SPACE_RECHECK_S`; in between, each accepted
        instance is subtracted from the last answer, so concurrent senders cannot overshoot the floor
        by more than other writers on the disk add in that time.
        """
        with self._room_lock:
            now = time.monotonic()
            if now - self._room_measured_at > FREE_SPACE_RECHECK_S:
                self._room_estimate = self.free_bytes()
                self._room_measured_at = now
            room = self._room_estimate - incoming >= self.min_free_bytes
            if room:
                self._room_estimate -= incoming
        if not room:
            raise StorageFullError(
                f"free space on {self.root} is below the floor of {self.min_free_bytes / 1024**3:.2f} GB"
            )

    # -- paths ----------------------------------------------------------------------------------
    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return self.spool / safe_name(study_uid) / safe_name(series_uid) / f"{safe_name(sop_uid)}.dcm"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def relative_instance(self, path: Path) -> str:
        """:meth:`relative` for a path from :meth:`instance_path` (built under the root from safe names,
        so nothing to resolve: no system calls on the ingest path)."""
        return path.relative_to(self.root).as_posix()

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
            write_file_atomic(path, data, fsync=self.fsync, folder_exists=not created)
        except StorageFullError:
            raise StorageFullError(f"no space left on {self.root}") from None
        except StorageError:
            raise StorageError(f"cannot write into {self.relative(path.parent)}") from None
        return {path.parent} | created

    def adopt(self, tmp: Path, path: Path) -> set[Path]:
        """Move a complete, fsynced temporary file (same file system) to ``path``; as :meth:`write_atomic`,
        returns the folders to fsync. Used for uploads streamed to disk (STOW-RS) instead of held in memory.
        """
        created: set[Path] = set()
        folder = path.parent
        while not folder.exists() and folder != self.root:
            created.add(folder.parent)
            folder = folder.parent
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"no space left on {self.root}") from exc
            raise StorageError(f"cannot write into {self.relative(path.parent)}") from exc
        return {path.parent, tmp.parent} | created

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

    def remove_stale_temp_files(self, max_age_s: float = STALE_TEMP_AGE_S) -> int:
        """Remove temporary files left by a crash mid-write (never acknowledged, so never promised).

        Called at start, before this process writes anything. On a shared path other receivers may be
        writing right now: their temporary files (another host, or a live process here) stay unless older
        than ``max_age_s``.
        """
        removed = 0
        now = time.time()
        for tmp in self.spool.rglob(".*.tmp"):
            if not _temp_is_stale(tmp, now, max_age_s):
                continue
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
        return removed
