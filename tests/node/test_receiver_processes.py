"""`node.receiver_processes`: extra receiver processes on the node's one listening socket.

A real `dicom-node serve` with 3 receiver processes: concurrent DCMTK senders are spread over the
processes, every acknowledged instance is in the shared ledger once, and the parent completes and routes
the series the children received. A child killed with -9 is started again; killing the node ends them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, select

from dicom_node.ledger import schema
from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import acknowledged_files, storescu
from tests.support.node import NodeProcess
from tests.support.ports import wait_for

PROCESSES = 3
SENDERS = 12


def _events(node: NodeProcess, name: str) -> list[dict[str, object]]:
    path = node.workdir / "node.log"
    if not path.exists():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == name:
            events.append(event)
    return events


def _extra_pids(node: NodeProcess) -> set[int]:
    assert node.process is not None
    return {child.pid for child in psutil.Process(node.process.pid).children() if child.is_running()}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path / "node", node={"receiver_processes": PROCESSES, "max_associations": 8})
    node.start()
    # every extra process accepts once it has logged that it listens on the inherited socket
    wait_for(
        lambda: (
            len({e["pid"] for e in _events(node, "receiver_listening") if e.get("inherited")})
            == PROCESSES - 1
        ),
        timeout=90,
        what="the extra receiver processes to listen",
    )
    yield node
    node.stop()


def test_concurrent_senders_are_spread_over_the_processes_and_nothing_is_lost(
    node: NodeProcess, tmp_path: Path
) -> None:
    series = [ct_series(tmp_path / f"s{i}", Patient(), slices=4, size=32) for i in range(SENDERS)]
    with ThreadPoolExecutor(SENDERS) as pool:
        results = list(pool.map(lambda files: storescu(node.port, files), series))
    for files, result in zip(series, results, strict=True):
        assert result.returncode == 0, result.stderr[-2000:]
        assert len(acknowledged_files(result.stderr)) == len(files)

    handled_by = {int(str(e["pid"])) for e in _events(node, "association_established")}
    assert len(handled_by) >= 2, f"all {SENDERS} associations went to one process: {handled_by}"
    assert handled_by <= {node.process.pid if node.process else -1} | _extra_pids(node)

    engine = create_engine(f"sqlite:///{node.workdir / 'var' / 'ledger.db'}")
    try:
        with engine.connect() as conn:
            uids = [r[0] for r in conn.execute(select(schema.instances.c.sop_instance_uid))]
        assert len(uids) == len(set(uids)) == SENDERS * 4

        def all_routed() -> bool:  # only the parent schedules: it completes and routes every series
            with engine.connect() as conn:
                states = [r[0] for r in conn.execute(select(schema.series.c.state))]
            return states == ["routed"] * SENDERS

        wait_for(all_routed, timeout=30, what="the node to complete and route every series")
    finally:
        engine.dispose()


def test_a_killed_receiver_is_replaced_and_all_end_with_the_node(node: NodeProcess) -> None:
    assert node.process is not None
    parent = node.process.pid
    before = _extra_pids(node)
    assert len(before) == PROCESSES - 1
    victim = psutil.Process(min(before))
    victim.kill()
    victim.wait(timeout=10)
    wait_for(
        lambda: len(_extra_pids(node) - before) == 1 and len(_extra_pids(node)) == PROCESSES - 1,
        timeout=30,
        what="a new receiver process in place of the killed one",
    )
    exited = _events(node, "receiver_process_exited")
    assert [e["pid"] for e in exited] == [victim.pid]

    survivors = [psutil.Process(pid) for pid in _extra_pids(node)]
    node.kill9()  # the node dies without a chance to stop its children: they must notice and exit
    _, alive = psutil.wait_procs(survivors, timeout=15)
    assert not alive, f"receiver processes outlived node {parent}: {[p.pid for p in alive]}"
