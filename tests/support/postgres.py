"""A real, throwaway PostgreSQL server (Debian package ``postgresql``) on loopback for the tests.

The cluster lives in a temporary directory: ``initdb`` with trust authentication, ``fsync=off`` (the data
is thrown away), the unix socket in the same directory and a free TCP port on 127.0.0.1. PostgreSQL refuses
to run as root, so when the tests run as root the server runs as the unprivileged ``postgres`` system user
(created by the Debian package; created here if missing).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process

SERVER_USER = "postgres"
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps it off PATH)."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
        "run `make system-deps` (Debian package postgresql)"
    )


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int


def _unprivileged_user() -> _RunAs | None:
    """None when we are not root; otherwise the system user the server runs as."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
        )
        entry = pwd.getpwnam(SERVER_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid)


class PostgresServer:
    """One PostgreSQL cluster; :meth:`create_database` hands out a fresh database per test."""

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.port = free_port()
        self.host = "127.0.0.1"
        self._run_as = _unprivileged_user()
        # Not under pytest's tmp dir: that is private to root (0700) and the server user must reach it.
        self.workdir = Path(tempfile.mkdtemp(prefix="dicom-node-pg-"))
        self.data_dir = self.workdir / "data"
        self.socket_dir = self.workdir
        self.log = self.workdir / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None

    # -- processes --------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.workdir)}

    @property
    def _uid(self) -> int | None:
        return None if self._run_as is None else self._run_as.uid

    @property
    def _gid(self) -> int | None:
        return None if self._run_as is None else self._run_as.gid

    @property
    def _groups(self) -> list[int] | None:
        return None if self._run_as is None else []

    def start(self) -> None:
        if self._run_as is not None:
            os.chown(self.workdir, self._run_as.uid, self._run_as.gid)
        initdb = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            capture_output=True,
            check=False,
            env=self._env(),
            cwd=self.workdir,
            user=self._uid,
            group=self._gid,
            extra_groups=self._groups,
        )
        if initdb.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({initdb.returncode}): {initdb.stderr.decode(errors='replace')}"
            )
        log = self.log.open("ab")
        self._process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-k",
                str(self.socket_dir),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=32MB",
            ],
            stdout=log,
            stderr=log,
            env=self._env(),
            cwd=self.workdir,
            user=self._uid,
            group=self._gid,
            extra_groups=self._groups,
        )
        log.close()
        wait_for(self._ready, timeout=60, what="PostgreSQL accepting connections")

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"postgres exited with {self._process.returncode}: {self.log.read_text(errors='replace')}"
            )
        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect clients, abort transactions), then remove the cluster."""
        if self._process is not None:
            stop_process(self._process, sig=signal.SIGINT)
            self._process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- databases --------------------------------------------------------------------------------
    def dsn(self, database: str) -> str:
        """A libpq connection string (for psycopg directly)."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL using psycopg 3 (what ``ledger.url`` takes)."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self, prefix: str = "test") -> str:
        """Create an empty database with a unique name; return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database even if clients (a node that outlived its test) are still connected."""
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
