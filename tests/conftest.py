"""Session-wide fixtures: one real Orthanc per session, in-process nodes, generated studies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series
from tests.support.node import make_config
from tests.support.orthanc import Orthanc
from tests.support.postgres import PostgresServer
from tests.support.real_runs import RealRuns


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Each test starts with the logging it would have alone: a test (or an in-process ``dicom-node``
    command) that configures logging binds the root handler to the stream of that moment, which would
    leak into later tests (their log lines written to a stale stream)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def orthanc(orthanc_server: Orthanc) -> Iterator[Orthanc]:
    """The session's Orthanc, emptied, running and accepting everything for this test."""
    if not orthanc_server.running:
        orthanc_server.start()
    orthanc_server.clear()
    yield orthanc_server
    if not orthanc_server.running:
        orthanc_server.start()


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> RealRuns:
    """Each pipeline on each real series in tests/data, run once per session on first use."""
    return RealRuns(tmp_path_factory.mktemp("real-runs"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL (Debian package postgresql) per session on loopback; fails if not installed."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test: SQLAlchemy URL ``postgresql+psycopg://...``."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger URL for each supported database: SQLite in ``tmp_path`` and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def pacs_destination(orthanc: Orthanc) -> dict[str, Any]:
    return {
        "pacs": {
            "host": "127.0.0.1",
            "port": orthanc.dicom_port,
            "ae_title": orthanc.ae_title,
            "timeout_s": 5,
        }
    }


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Start an in-process node with test defaults plus the given config sections."""
    started: list[Node] = []

    def _start(**sections: Any) -> Node:
        node = Node(make_config(tmp_path / f"node{len(started)}", **sections))
        node.start()
        started.append(node)
        return node

    yield _start
    for node in started:
        node.stop()


@pytest.fixture
def ct_files(tmp_path: Path) -> list[Path]:
    return ct_series(tmp_path / "ct", Patient(), slices=6, size=64)
