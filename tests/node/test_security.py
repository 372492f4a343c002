"""No PHI and no secret leaves the node by its logs, its pages or its errors; secret files are 0600.

A study with canary patient name, ID, birth date and accession number goes through every route
(forward, anonymised forward, pipeline, de-identified pipeline, discard, fallback) to a real
`dicom-node serve` process logging at debug level to a file; then every log, the process output and
every dashboard page and API answer are searched for the canaries and for the configured secrets.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dicom_node.samples import Patient, cr_image, ct_series, mr_series
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.node import DICOM_NODE, NodeProcess
from tests.support.ports import free_port, wait_for

CANARY = Patient(
    name="CANARYSURNAME^PHIGIVEN",
    patient_id="CANARYID-4711",
    birth_date="19311231",
    accession="CANARYACC99",
)
CANARIES = ("CANARYSURNAME", "PHIGIVEN", "CANARYID-4711", "19311231", "1931-12-31", "CANARYACC99")
WEB_TOKEN = "web-token-CANARYSECRET-0123456789"
DB_PASSWORD = "DBPASS-CANARYSECRET"
BROKER_PASSWORD = "BROKERPASS-CANARYSECRET"


@dataclass
class RunNode:
    node: NodeProcess
    scp: StoreSCP
    web: httpx.Client
    key_file: Path
    reid_store: Path


@pytest.fixture(scope="module")
def every_route(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunNode]:
    root = tmp_path_factory.mktemp("security")
    scp = StoreSCP(root / "scp")
    scp.start()
    key_file = root / "secrets" / "anon.key"
    reid_store = root / "secrets" / "reid.sqlite"
    web_port = free_port()
    node = NodeProcess(
        root / "node",
        destinations={"scp": {"host": "127.0.0.1", "port": scp.port, "ae_title": "STORESCP", "timeout_s": 5}},
        anonymizer={
            "profiles": {
                "research": {
                    "options": [],
                    "key_file": str(key_file),
                    "reidentification_store": str(reid_store),
                }
            }
        },
        rules=[
            {"name": "forward", "match": {"Modality": "CT"}, "send_to": ["scp"]},
            {"name": "anon", "match": {"Modality": "CT"}, "anonymize": "research", "send_to": ["scp"]},
            {"name": "qc", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["scp"]},
            {
                "name": "qc-deid",
                "match": {"Modality": "CT"},
                "pipeline": "qc",
                "deidentify": "research",
                "send_to": ["scp"],
            },
            {"name": "drop-cr", "match": {"Modality": "CR"}, "discard": True},
            {"name": "rest", "fallback": True, "send_to": ["scp"]},
        ],
        logging={"level": "debug", "format": "json"},
        web={"port": web_port, "tokens": [WEB_TOKEN]},
    )
    studies = root / "study"
    files = [
        *ct_series(studies / "ct", CANARY, slices=4, size=32),
        *mr_series(studies / "mr", CANARY, slices=3, size=32),
        cr_image(studies / "cr", CANARY, size=64),
    ]
    web = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30)
    try:
        node.start()
        wait_for(lambda: _answers(web, "/healthz"), timeout=60, what="the dashboard to answer")
        sent = storescu(node.port, files, aet="CANARY_MOD")
        assert sent.returncode == 0, sent.stdout + sent.stderr

        def finished() -> bool:
            jobs = web.get("/api/jobs").json()
            return len(jobs) == 6 and all(j["state"] in {"delivered", "discarded"} for j in jobs)

        wait_for(finished, timeout=180, what="every route's job to finish")
        yield RunNode(node, scp, web, key_file, reid_store)
    finally:
        web.close()
        node.stop()
        scp.stop()


def _answers(web: httpx.Client, path: str) -> bool:
    try:
        return web.get(path).status_code == 200
    except httpx.TransportError:
        return False


def _logs(workdir: Path) -> dict[str, str]:
    """Every log the node wrote: its log file, its stdout/stderr, and any *.log under its folder."""
    return {str(p): p.read_text(errors="replace") for p in sorted(workdir.rglob("*.log"))}


def _dashboard(web: httpx.Client) -> dict[str, str]:
    series = web.get("/api/series").json()
    jobs = web.get("/api/jobs").json()
    paths = ["/", "/series", "/jobs", "/rules", "/destinations", "/anonymizer", "/login", "/metrics"]
    paths += ["/api/overview", "/api/series", "/api/jobs", "/api/rules", "/api/destinations"]
    paths += ["/api/anonymizer/batches", "/api/openapi.json"]
    paths += [f"/series/{s['id']}" for s in series] + [f"/api/series/{s['id']}" for s in series]
    paths += [f"/jobs/{j['id']}" for j in jobs] + [f"/api/jobs/{j['id']}" for j in jobs]
    answers: dict[str, str] = {}
    for path in paths:
        response = web.get(path)
        assert response.status_code == 200, path
        answers[path] = response.text
    return answers


def _leaks(texts: dict[str, str], needles: tuple[str, ...]) -> list[str]:
    return [f"{needle!r} in {where}" for where, text in texts.items() for needle in needles if needle in text]


def test_every_route_ran(every_route: RunNode) -> None:
    jobs = every_route.web.get("/api/jobs").json()
    assert sorted(j["rule_name"] for j in jobs) == ["anon", "drop-cr", "forward", "qc", "qc-deid", "rest"]
    assert len(every_route.scp.stored_counts()) == 4 + 4 + 3 + 3 + 3  # CT, anonymised CT, 2 × qc, MR


def test_no_phi_in_logs_or_dashboard(every_route: RunNode) -> None:
    logs = _logs(every_route.node.workdir)
    assert any("job_delivered" in text for text in logs.values())  # the logs are the real ones
    assert not _leaks(logs, CANARIES)
    assert not _leaks(_dashboard(every_route.web), CANARIES)
    node_log = (every_route.node.workdir / "node.log").read_text().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in node_log)  # one JSON event per line


def test_no_secret_in_logs_or_dashboard(every_route: RunNode) -> None:
    key = every_route.key_file.read_text().strip()
    secrets = (key, WEB_TOKEN)
    assert not _leaks(_logs(every_route.node.workdir), secrets)
    assert not _leaks(_dashboard(every_route.web), secrets)


def test_secret_files_are_owner_only(every_route: RunNode) -> None:
    for path in (every_route.key_file, every_route.reid_store):
        assert path.exists(), path
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path.name} is {mode:o}"
    # the store's journal files (SQLite WAL / rollback journal), if any, follow the store's mode
    for journal in every_route.reid_store.parent.glob(every_route.reid_store.name + "-*"):
        assert stat.S_IMODE(journal.stat().st_mode) & 0o077 == 0, journal
    # spool and ledger hold PHI: the storage root is closed to other accounts (0750), so nothing under
    # it is reachable from outside the node's account and group, and received files are 0640
    var = every_route.node.workdir / "var"
    assert stat.S_IMODE(var.stat().st_mode) & 0o007 == 0
    spooled = [p for p in (var / "spool").rglob("*") if p.is_file()]
    assert spooled and all(stat.S_IMODE(p.stat().st_mode) & 0o007 == 0 for p in spooled)
    # and the ledger itself (it names studies and series) is closed to others even outside that root
    ledger_files = list(var.glob("ledger.db*"))
    assert ledger_files and all(stat.S_IMODE(p.stat().st_mode) & 0o007 == 0 for p in ledger_files)


def _serve_briefly(config: Path, seconds: float) -> str:
    """Run `dicom-node serve` for at most ``seconds`` (it may exit on its own) and return its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_NODE__")}
    try:
        done = subprocess.run(
            [str(DICOM_NODE), "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=seconds,
            env=env,
        )
        return done.stdout + done.stderr
    except subprocess.TimeoutExpired as stopped:
        out = stopped.stdout or b""
        err = stopped.stderr or b""
        as_text = [x.decode(errors="replace") if isinstance(x, bytes) else x for x in (out, err)]
        return "".join(as_text)


def test_database_password_never_printed(tmp_path: Path) -> None:
    closed = free_port()
    url = f"postgresql+psycopg://dicom:{DB_PASSWORD}@127.0.0.1:{closed}/ledger"
    node = NodeProcess(tmp_path, storage={"database": url}, web={"enabled": False})
    output = _serve_briefly(node.config_path, 60)
    output += (tmp_path / "node.log").read_text(errors="replace") if (tmp_path / "node.log").exists() else ""
    for command in (["jobs"],):
        done = node.cli(*command)
        output += done.stdout + done.stderr
        assert done.returncode != 0
    assert output.strip(), "the failures said nothing"
    assert DB_PASSWORD not in output, output[-3000:]


def test_broker_password_never_printed(tmp_path: Path) -> None:
    closed = free_port()
    node = NodeProcess(
        tmp_path / "node",
        execution={"backend": "celery", "broker": f"redis://:{BROKER_PASSWORD}@127.0.0.1:{closed}/0"},
        destinations={"pacs": {"host": "127.0.0.1", "port": closed, "ae_title": "PACS", "timeout_s": 2}},
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]}],
        logging={"level": "debug"},
        web={"enabled": False},
    )
    log = node.workdir / "node.log"
    try:
        node.start()
        sent = storescu(node.port, ct_series(tmp_path / "ct", CANARY, slices=2, size=32))
        assert sent.returncode == 0
        # the series completes and its job is handed to the broker, which is not there
        wait_for(lambda: "enqueue_failed" in log.read_text(), timeout=60, what="an enqueue to fail")
    finally:
        node.stop()
    texts = _logs(node.workdir)
    assert not _leaks(texts, (BROKER_PASSWORD,))


def test_help_and_config_errors_never_echo_secrets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_NODE__")}
    env["DICOM_NODE__STORAGE__DATABASE"] = f"postgresql+psycopg://dicom:{DB_PASSWORD}@db/ledger"
    env["DICOM_NODE__EXECUTION__BROKER"] = f"http://user:{BROKER_PASSWORD}@broker/"  # bad scheme
    outputs = []
    for args in (["--help"], ["serve", "--help"], ["serve"]):
        done = subprocess.run(
            [str(DICOM_NODE), *args], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
        )
        outputs.append(done.stdout + done.stderr)
    assert "execution.broker" in outputs[-1]  # the bad broker stopped the start, naming the key
    # a token too short to accept is refused without being repeated
    short = "CANARYSHORT"
    bad = NodeProcess(tmp_path / "bad", web={"tokens": [short]})
    done = subprocess.run(
        [str(DICOM_NODE), "serve", "--config", str(bad.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    outputs.append(done.stdout + done.stderr)
    for output in outputs:
        for secret in (DB_PASSWORD, BROKER_PASSWORD, short):
            assert secret not in output, output[-2000:]


def test_url_passwords_are_masked_in_every_log_line(tmp_path: Path) -> None:
    log = tmp_path / "masked.log"
    script = f"""
import logging
from pathlib import Path
from dicom_node.logsetup import configure_logging, get_logger
configure_logging("info", "json", Path({str(log)!r}))
url = "postgresql+psycopg://dicom:{DB_PASSWORD}@db:5432/ledger"
get_logger("t").error("db_failed", error=f"cannot connect to {{url}}")
try:
    raise RuntimeError(url)
except RuntimeError:
    get_logger("t").error("crashed", exc_info=True)
    logging.getLogger("somelib").exception("lost %s", url)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 3
    text = log.read_text()
    assert DB_PASSWORD not in text and "dicom:***@db" in text
    assert stat.S_IMODE(log.stat().st_mode) & 0o007 == 0
