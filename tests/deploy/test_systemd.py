"""deploy/systemd: the units pass `systemd-analyze verify` without a warning, their ExecStart lines are
the real CLI's, and they keep the hardening and the secrets file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import DEPLOY, env_file, parse_cli, unit_environment, unit_exec_argv, unit_file
from tests.support.node import DICOM_NODE

UNITS = DEPLOY / "systemd"
RECEIVER = UNITS / "dicom-node.service"
WORKER = UNITS / "dicom-node-worker@.service"
INSTALLED = "/opt/dicom-node/.venv/bin/dicom-node"
HARDENING = {
    "NoNewPrivileges": "true",
    "ProtectSystem": "strict",
    "PrivateTmp": "true",
    "ProtectHome": "true",
    "Restart": "on-failure",
    "ReadWritePaths": "/var/lib/dicom-node",
    "User": "dicom-node",
    "CapabilityBoundingSet": "",
}


def test_only_the_two_units_ship() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == [
        "dicom-node-worker@.service",
        "dicom-node.service",
    ]
    assert not (DEPLOY / "dicom-node.service").exists()  # moved into deploy/systemd/


@pytest.mark.parametrize("unit", [RECEIVER, WORKER], ids=lambda p: p.name)
def test_units_are_hardened_and_read_secrets_from_a_file(unit: Path) -> None:
    service = unit_file(unit)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    files = service["EnvironmentFile"]
    assert files[0] == "/etc/dicom-node/secrets.env"  # required: a missing secrets file stops the start
    assert all(f.startswith("-") for f in files[1:])  # the rest are optional
    assert service["WorkingDirectory"] == service["ReadWritePaths"]
    assert unit_file(unit)["Install"]["WantedBy"] == ["multi-user.target"]


def test_receiver_exec_start_parses_single_machine_and_scale_out() -> None:
    service = unit_file(RECEIVER)["Service"]
    (command,) = service["ExecStart"]
    single = unit_exec_argv(command, unit_environment(service))
    assert single[0] == INSTALLED
    args = parse_cli(single[1:])
    assert args.command == "serve" and not args.no_workers and str(args.config) == "/etc/dicom-node/node.yaml"
    # the documented node.env switches a receiver to scale-out
    example = "\n".join(line.lstrip("#") for line in (UNITS / "node.env.example").read_text().splitlines())
    assert "DICOM_NODE_SERVE_ARGS=--no-workers" in example
    scaled = unit_exec_argv(command, {**unit_environment(service), "DICOM_NODE_SERVE_ARGS": "--no-workers"})
    assert parse_cli(scaled[1:]).no_workers


@pytest.mark.parametrize("queue", ["rds", "atrophy", "forward"])
def test_worker_exec_start_parses_for_an_instance(queue: str) -> None:
    service = unit_file(WORKER)["Service"]
    (command,) = service["ExecStart"]
    argv = unit_exec_argv(command, unit_environment(service), instance=queue)
    assert argv[0] == INSTALLED
    args = parse_cli(argv[1:])
    assert args.command == "worker" and args.queues == queue and args.concurrency == 1
    assert "/etc/dicom-node/worker-%i.env" in [f.lstrip("-") for f in service["EnvironmentFile"]]


def test_example_environment_files_hold_no_secret() -> None:
    for example in UNITS.glob("*.env.example"):
        assert env_file(example) == {}, f"{example.name}: every line must stay a commented example"
    text = (UNITS / "secrets.env.example").read_text()
    for key in ("DICOM_NODE__STORAGE__DATABASE", "DICOM_NODE__EXECUTION__BROKER"):
        assert f"#{key}=" in text


def test_systemd_analyze_verify_reports_nothing(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the unit_file checks above still ran)")
    # verify checks that the command exists: point it at this checkout's dicom-node
    for unit, name in ((RECEIVER, "dicom-node.service"), (WORKER, "dicom-node-worker@rds.service")):
        text = unit.read_text().replace(INSTALLED, str(DICOM_NODE))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            str(tmp_path / "dicom-node.service"),
            str(tmp_path / "dicom-node-worker@rds.service"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_systemd_analyze_verify_catches_a_bad_key(tmp_path: Path) -> None:
    """The check above can fail: a misspelt setting is reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = RECEIVER.read_text().replace(INSTALLED, str(DICOM_NODE)).replace("ProtectSystem=", "ProtectSystm=")
    (tmp_path / "dicom-node.service").write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "dicom-node.service")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "ProtectSystm" in result.stderr
