"""A pipeline that raises or hangs fails its own job with the reason; other jobs and the node go on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dicom_node.node import Node
from tests.support.dcmtk import StoreSCP, echoscu, storescu
from tests.support.ports import wait_for


def _states(node: Node) -> dict[str, tuple[str, str]]:
    return {str(j.rule_name): (str(j.state), str(j.error or "")) for j in node.ledger.list_jobs()}


def test_failing_and_timed_out_pipelines_fail_only_their_jobs(
    start_node: Callable[..., Node], tmp_path: Path, ct_files: list[Path]
) -> None:
    scp = StoreSCP(tmp_path / "scp")
    scp.start()
    try:
        node = start_node(
            destinations={"scp": {"host": "127.0.0.1", "port": scp.port, "ae_title": "STORESCP"}},
            rules=[
                # the RDS pipeline refuses a CT volume: the pipeline raises
                {"name": "wrong-input", "match": {"Modality": "CT"}, "pipeline": "rds", "send_to": ["scp"]},
                # qc with a timeout far shorter than starting a pipeline process takes: it is stopped
                {"name": "too-slow", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["scp"]},
                {"name": "copy", "match": {"Modality": "CT"}, "send_to": ["scp"]},
            ],
            pipelines={"qc": {"timeout_s": 0.05}},
            execution={"workers": 2},
        )
        assert storescu(node.port, ct_files).returncode == 0
        wait_for(
            lambda: (
                {s for s, _ in _states(node).values()} <= {"delivered", "failed"} and len(_states(node)) == 3
            ),
            timeout=180,
            what=f"all jobs to end; now {_states(node)}",
        )
        states = _states(node)
        assert states["copy"][0] == "delivered"
        assert states["wrong-input"][0] == "failed" and "rds" in states["wrong-input"][1]
        assert states["too-slow"] == (
            "failed",
            "pipeline 'qc' exceeded its timeout of 0.05 s and was stopped",
        )
        assert sum(scp.stored_counts().values()) == len(ct_files)
        assert echoscu(node.port).returncode == 0  # the node is still up
    finally:
        scp.stop()
