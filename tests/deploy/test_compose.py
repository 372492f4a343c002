"""deploy/docker-compose.yml: every service's command is the real CLI's, the mounted node.yaml validates
once the compose environment is applied, the services wire to each other by name and port, health gates
start-up, no secret is committed, and the demo Orthanc's configuration works with a real Orthanc."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from dicom_node.config import Config, load_config
from dicom_node.node import check_pipelines
from dicom_node.web.health import router as health_router
from tests.deploy.manifests import (
    DEPLOY,
    MissingVariableError,
    dockerfile_instructions,
    env_file,
    interpolate,
    parse_cli,
)
from tests.support.ports import free_port, port_open, wait_for

COMPOSE = DEPLOY / "docker-compose.yml"
SECRETS = {"POSTGRES_PASSWORD": "pg-secret-1", "REDIS_PASSWORD": "redis-secret-2", "ORTHANC_PASSWORD": "o-3"}
NODE_SERVICES = ("receiver", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    result = interpolate(raw, SECRETS)
    assert isinstance(result, dict)
    return result


def _container_path(service: dict[str, Any], host_path: str) -> str:
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source == host_path:
            return target
    raise AssertionError(f"{host_path} is not mounted")


def _node_config(service: dict[str, Any]) -> Config:
    """The mounted node.yaml with the service's environment applied, as the container loads it."""
    env = {k: str(v) for k, v in service["environment"].items()}
    return load_config(DEPLOY / "compose" / "node.yaml", environ=env)


def test_services_and_their_images(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"receiver", "worker", "redis", "postgres", "orthanc", "ohif"}
    assert compose["services"]["orthanc"]["image"].startswith("jodogne/orthanc")
    for name in NODE_SERVICES:
        build = compose["services"][name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_node_commands_parse_with_the_cli(compose: dict[str, Any]) -> None:
    entrypoint = next(i for i in dockerfile_instructions(DEPLOY / "Dockerfile") if i.keyword == "ENTRYPOINT")
    assert entrypoint.exec_form() == ["dicom-node"]
    receiver = parse_cli(compose["services"]["receiver"]["command"])
    assert receiver.command == "serve" and receiver.no_workers
    worker = parse_cli(compose["services"]["worker"]["command"])
    assert worker.command == "worker"
    for name in NODE_SERVICES:
        service = compose["services"][name]
        assert "entrypoint" not in service  # the image's ENTRYPOINT runs the command
        command = service["command"]
        config_path = command[command.index("--config") + 1]
        assert _container_path(service, "./compose/node.yaml") == config_path


def test_worker_consumes_every_queue_the_configuration_uses(compose: dict[str, Any]) -> None:
    from dicom_node.cli.worker import default_queues

    command = compose["services"]["worker"]["command"]
    queues = command[command.index("--queues") + 1].split(",")
    config = _node_config(compose["services"]["worker"])
    assert sorted(queues) == sorted(default_queues(config))  # every pipeline routed to, plus forwarding


def test_mounted_config_validates_and_wires_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in NODE_SERVICES:
        config = _node_config(services[name])
        check_pipelines(config)
        assert config.execution.backend == "celery"
        database = urlsplit(config.storage.database_url)
        assert database.scheme == "postgresql+psycopg"
        assert database.hostname == "postgres" and database.password == SECRETS["POSTGRES_PASSWORD"]
        assert database.path.lstrip("/") == services["postgres"]["environment"]["POSTGRES_DB"]
        assert database.username == services["postgres"]["environment"]["POSTGRES_USER"]
        assert config.execution.broker is not None
        broker = urlsplit(config.execution.broker.get_secret_value())
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
        assert broker.password == SECRETS["REDIS_PASSWORD"]
        assert f"--requirepass {SECRETS['REDIS_PASSWORD']}" in " ".join(services["redis"]["command"])
        # storage: the same named volume at the configured path in receiver and worker
        assert _container_path(services[name], "storage") == str(config.storage.path)
        for profile in config.anonymizer.profiles.values():
            assert profile.key_file is not None and profile.key_file.is_relative_to(config.storage.path)
    pacs = _node_config(services["receiver"]).destinations["pacs"]
    orthanc = json.loads((DEPLOY / "compose" / "orthanc.json").read_text())
    assert (pacs.host, pacs.port, pacs.ae_title) == ("orthanc", orthanc["DicomPort"], orthanc["DicomAet"])
    node = _node_config(services["receiver"]).node
    assert orthanc["DicomModalities"]["node"] == [node.ae_title, "receiver", node.port]
    published = {p.rsplit(":", 1)[1] for p in services["receiver"]["ports"]}
    assert published == {str(node.port), str(_node_config(services["receiver"]).web.port)}


def test_health_gates_the_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            check = services[dependency]["healthcheck"]
            assert check.get("disable") is not True and check["test"][0] in ("CMD", "CMD-SHELL"), dependency
    assert set(services["receiver"]["depends_on"]) == {"postgres", "redis"}
    assert set(services["worker"]["depends_on"]) == {"postgres", "redis", "receiver"}
    probe = " ".join(services["receiver"]["healthcheck"]["test"])
    paths = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", probe)
    routes = {getattr(route, "path", None) for route in health_router.routes}
    web_port = _node_config(services["receiver"]).web.port
    assert paths == [(str(web_port), "/readyz")] and "/readyz" in routes


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, (name, source)
            else:
                assert (COMPOSE.parent / source).exists(), source
    assert {"storage", "postgres-data", "redis-data", "orthanc-data"} <= declared


def test_secrets_come_only_from_the_environment() -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    example = env_file(DEPLOY / ".env.example")
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text(encoding="utf-8")))
    assert required == set(SECRETS)
    assert all(example[name] == "" for name in required)  # placeholders only, never a value
    for name in required:
        with pytest.raises(MissingVariableError, match=name):
            interpolate(raw, {k: v for k, v in SECRETS.items() if k != name})
    for value in SECRETS.values():
        assert value not in COMPOSE.read_text()
    compose_node_yaml = yaml.safe_load((DEPLOY / "compose" / "node.yaml").read_text())
    assert "database" not in compose_node_yaml["storage"] and "broker" not in compose_node_yaml["execution"]
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


@pytest.fixture
def demo_orthanc(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The real Orthanc (Debian package) on deploy/compose/orthanc.json, moved to free loopback ports and a
    temporary folder; the password comes from ORTHANC_PASSWORD as in the compose service."""
    exe = shutil.which("Orthanc")
    if exe is None:
        pytest.fail("Orthanc (Debian package orthanc) is not installed; run `make system-deps`")
    config = json.loads((DEPLOY / "compose" / "orthanc.json").read_text())
    http_port, dicom_port = free_port(), free_port()
    config.update(
        {
            "HttpPort": http_port,
            "DicomPort": dicom_port,
            "StorageDirectory": str(tmp_path / "db"),
            "IndexDirectory": str(tmp_path / "db"),
            "RemoteAccessAllowed": False,
        }
    )
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("ab")
    env = {"PATH": "/usr/bin:/bin", "ORTHANC_PASSWORD": SECRETS["ORTHANC_PASSWORD"]}
    process = subprocess.Popen([exe, str(path)], stdout=log, stderr=log, env=env, cwd=tmp_path)
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "orthanc.log").read_text(errors="replace")[-2000:])
            return port_open(http_port) and port_open(dicom_port)

        wait_for(up, timeout=60, what="Orthanc on the compose configuration")
        yield http_port, dicom_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_ohif_shows_the_demo_pacs_through_its_dicomweb(compose: dict[str, Any]) -> None:
    """The ohif service serves the OHIF site fetched by `make ohif` with our same-origin app-config and
    proxies DICOMweb to the orthanc service's HTTP port with the demo credentials from the environment."""
    ohif, orthanc = compose["services"]["ohif"], compose["services"]["orthanc"]
    assert orthanc["image"].startswith("jodogne/orthanc-plugins:")  # the image with the DICOMweb plugin
    assert ohif["depends_on"] == {"orthanc": {"condition": "service_healthy"}}
    assert all(p.startswith("127.0.0.1:") for p in ohif["ports"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in ohif["volumes"]}
    assert mounts["/usr/share/nginx/html"] == "../.ohif/dist"
    assert mounts["/etc/ohif/app-config.js"] == "../dicom_node/viewer/app-config.js"
    template = (COMPOSE.parent / mounts["/etc/nginx/templates/default.conf.template"]).read_text()
    config = json.loads((DEPLOY / "compose" / "orthanc.json").read_text())
    assert f"proxy_pass http://orthanc:{config['HttpPort']}/dicom-web/;" in template
    assert 'Authorization "Basic ${ORTHANC_AUTH}"' in template
    assert "alias /etc/ohif/app-config.js;" in template
    assert "ORTHANC_AUTH=" in " ".join(ohif["command"]) and "ORTHANC_PASSWORD" in ohif["environment"]
    assert config["DicomWeb"]["Enable"] is True and config["DicomWeb"]["Root"] == "/dicom-web/"


def _status(port: int, password: str, path: str = "/system") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    request.add_header("Authorization", "Basic " + b64encode(f"orthanc:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_demo_orthanc_takes_its_password_from_the_environment(demo_orthanc: tuple[int, int]) -> None:
    http_port, _ = demo_orthanc
    assert _status(http_port, SECRETS["ORTHANC_PASSWORD"]) == 200
    assert _status(http_port, "${ORTHANC_PASSWORD}") == 401
    assert _status(http_port, "wrong") == 401
    # the DICOMweb plugin (loaded from the configured plugin folder) answers what OHIF asks for
    assert _status(http_port, SECRETS["ORTHANC_PASSWORD"], "/dicom-web/studies") == 200
    assert _status(http_port, "wrong", "/dicom-web/studies") == 401
