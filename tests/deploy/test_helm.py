"""deploy/helm/dicom-node: rendered offline (tests/deploy/helm_render.py, a subset of Helm's template
language: helm itself is not installed here), every manifest parses, the containers' args are the real
CLI's, the ConfigMap's node.yaml validates with the Secret's values applied, and the wiring between the
objects (names, ports, volumes, probes, GPU requests, security) holds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from dicom_node import __version__
from dicom_node.config import Config, build_config
from dicom_node.node import check_pipelines
from dicom_node.web.health import router as health_router
from tests.deploy.helm_render import RequiredValueError, TemplateError, parse, render_chart
from tests.deploy.manifests import CHART, parse_cli

SECRETS = {
    "secrets": {
        "databasePassword": "db-pass-1",
        "brokerUrl": "redis://:broker-pass-2@redis-master:6379/0",
        "anonymizerKey": "0123456789abcdef" * 4,
    }
}


def _merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def manifests(*overrides: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object, like `helm template rel deploy/helm/dicom-node --set ...`."""
    rendered = render_chart(CHART, _merge(SECRETS, *overrides))
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for name, text in rendered.items():
        if not name.endswith(".yaml"):
            continue
        for document in yaml.safe_load_all(text):
            if document is None:
                continue
            assert {"apiVersion", "kind", "metadata"} <= set(document), name
            key = (document["kind"], document["metadata"]["name"])
            assert key not in objects, f"{key} rendered twice"
            objects[key] = document
    return objects


def _container(objects: Mapping[tuple[str, str], dict[str, Any]], deployment: str) -> dict[str, Any]:
    (container,) = objects[("Deployment", deployment)]["spec"]["template"]["spec"]["containers"]
    return container


def _resolved_env(
    objects: Mapping[tuple[str, str], dict[str, Any]], container: dict[str, Any]
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: secretKeyRef read from the rendered Secret,
    $(VAR) replaced by variables defined before it."""
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            value = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = objects[("Secret", ref["name"])]["stringData"][ref["key"]]
        env[item["name"]] = value
    return env


def _node_config(objects: Mapping[tuple[str, str], dict[str, Any]], deployment: str) -> Config:
    container = _container(objects, deployment)
    configmap = next(o for (kind, _), o in objects.items() if kind == "ConfigMap")
    data = yaml.safe_load(configmap["data"]["node.yaml"])
    return build_config(data, environ=_resolved_env(objects, container))


def test_chart_metadata_matches_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "dicom-node"
    assert chart["appVersion"] == __version__


def test_default_render_has_the_expected_objects() -> None:
    objects = manifests()
    assert sorted(objects) == [
        ("ConfigMap", "rel-dicom-node"),
        ("Deployment", "rel-dicom-node-receiver"),
        ("Deployment", "rel-dicom-node-worker"),
        ("PersistentVolumeClaim", "rel-dicom-node-storage"),
        ("Secret", "rel-dicom-node"),
        ("Service", "rel-dicom-node"),
    ]
    assert objects[("PersistentVolumeClaim", "rel-dicom-node-storage")]["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]


@pytest.mark.parametrize("missing", ["databasePassword", "brokerUrl", "anonymizerKey"])
def test_install_without_a_secret_value_fails(missing: str) -> None:
    with pytest.raises(RequiredValueError, match=missing):
        manifests({"secrets": {missing: ""}})


def test_existing_secret_replaces_the_charts_own() -> None:
    objects = render_chart(CHART, {"secrets": {"existingSecret": "site-keys"}})
    assert "kind: Secret" not in objects["secret.yaml"]
    deployment = yaml.safe_load(objects["receiver-deployment.yaml"])
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs == {"site-keys"}


def test_container_args_parse_with_the_cli() -> None:
    objects = manifests()
    receiver = parse_cli(_container(objects, "rel-dicom-node-receiver")["args"])
    assert receiver.command == "serve" and receiver.no_workers
    worker = parse_cli(_container(objects, "rel-dicom-node-worker")["args"])
    assert worker.command == "worker" and worker.concurrency == 1 and worker.threads is None
    tuned = parse_cli(
        _container(manifests({"worker": {"concurrency": 3, "threads": 2}}), "rel-dicom-node-worker")["args"]
    )
    assert (tuned.concurrency, tuned.threads) == (3, 2)
    for deployment in ("rel-dicom-node-receiver", "rel-dicom-node-worker"):
        container = _container(objects, deployment)
        args = parse_cli(container["args"])
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
        assert str(args.config) == mount["mountPath"]


def test_without_workers_the_receivers_run_the_jobs() -> None:
    objects = manifests({"worker": {"enabled": False}, "receiver": {"replicas": 1}})
    assert ("Deployment", "rel-dicom-node-worker") not in objects
    args = parse_cli(_container(objects, "rel-dicom-node-receiver")["args"])
    assert not args.no_workers
    config = _node_config(objects, "rel-dicom-node-receiver")
    assert config.execution.backend == "local" and config.execution.broker is None
    assert "broker-url" not in objects[("Secret", "rel-dicom-node")]["stringData"]


@pytest.mark.parametrize("deployment", ["rel-dicom-node-receiver", "rel-dicom-node-worker"])
def test_configmap_validates_with_the_secret_applied(deployment: str) -> None:
    from dicom_node.cli.worker import default_queues

    objects = manifests()
    config = _node_config(objects, deployment)
    check_pipelines(config)
    assert config.execution.backend == "celery"
    database = urlsplit(config.storage.database_url)
    assert database.scheme == "postgresql+psycopg" and database.password == "db-pass-1"
    assert config.execution.broker is not None
    assert config.execution.broker.get_secret_value() == SECRETS["secrets"]["brokerUrl"]
    longest = max(p.timeout_s for p in config.pipelines.values())
    assert config.execution.visibility_timeout_s > longest  # a long job is not redelivered while it runs
    worker_args = parse_cli(_container(objects, "rel-dicom-node-worker")["args"])
    assert sorted(worker_args.queues.split(",")) == sorted(default_queues(config))
    container = _container(objects, deployment)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["storage"] == str(config.storage.path)
    secret_volume = next(
        v
        for v in objects[("Deployment", deployment)]["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "secrets"
    )
    for profile in config.anonymizer.profiles.values():
        assert profile.key_file is not None and profile.key_file.parent == Path(mounts["secrets"])
        assert profile.key_file.name in [item["path"] for item in secret_volume["secret"]["items"]]


def test_objects_refer_to_each_other_by_the_right_names() -> None:
    objects = manifests()
    secret = objects[("Secret", "rel-dicom-node")]
    for deployment in ("rel-dicom-node-receiver", "rel-dicom-node-worker"):
        spec = objects[("Deployment", deployment)]["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        pod = spec["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        assert {m["name"] for m in container["volumeMounts"]} == set(volumes)
        assert ("PersistentVolumeClaim", volumes["storage"]["persistentVolumeClaim"]["claimName"]) in objects
        assert ("ConfigMap", volumes["config"]["configMap"]["name"]) in objects
        assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
        for item in volumes["secrets"]["secret"]["items"]:
            assert item["key"] in secret["stringData"]
        for env in container["env"]:
            if "valueFrom" in env:
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
        assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}  # writable /tmp under a read-only root
    service = objects[("Service", "rel-dicom-node")]
    receiver_pod = objects[("Deployment", "rel-dicom-node-receiver")]["spec"]["template"]
    assert service["spec"]["selector"].items() <= receiver_pod["metadata"]["labels"].items()
    worker_pod = objects[("Deployment", "rel-dicom-node-worker")]["spec"]["template"]
    assert not service["spec"]["selector"].items() <= worker_pod["metadata"]["labels"].items()
    container_ports = {
        p["name"]: p["containerPort"] for p in _container(objects, "rel-dicom-node-receiver")["ports"]
    }
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(container_ports) == {"dicom", "web"}
    config = _node_config(objects, "rel-dicom-node-receiver")
    assert container_ports == {"dicom": config.node.port, "web": config.web.port}
    assert config.web.bind == "0.0.0.0" and config.node.bind == "0.0.0.0"


def test_probes_hit_the_health_routes_of_the_web_app() -> None:
    container = _container(manifests(), "rel-dicom-node-receiver")
    routes = {getattr(route, "path", None) for route in health_router.routes}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/healthz", "/readyz"} <= routes


def test_gpu_requests_are_off_by_default_and_configurable() -> None:
    default = _container(manifests(), "rel-dicom-node-worker")["resources"]
    assert not any("nvidia.com/gpu" in section for section in default.values())
    gpu = _container(manifests({"worker": {"gpu": {"enabled": True, "count": 2}}}), "rel-dicom-node-worker")
    assert gpu["resources"]["requests"]["nvidia.com/gpu"] == 2
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert gpu["resources"]["requests"]["memory"] == "4Gi"  # the other requests stay
    other = manifests({"worker": {"gpu": {"enabled": True, "resourceName": "amd.com/gpu"}}})
    assert _container(other, "rel-dicom-node-worker")["resources"]["limits"]["amd.com/gpu"] == 1
    receiver = _container(manifests({"worker": {"gpu": {"enabled": True}}}), "rel-dicom-node-receiver")
    assert "nvidia.com/gpu" not in str(receiver["resources"])


def test_pods_run_as_non_root_without_privileges() -> None:
    objects = manifests()
    for deployment in ("rel-dicom-node-receiver", "rel-dicom-node-worker"):
        pod = objects[("Deployment", deployment)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]


def test_config_change_rolls_the_pods() -> None:
    def checksum(objects: Mapping[tuple[str, str], dict[str, Any]]) -> str:
        return str(
            objects[("Deployment", "rel-dicom-node-receiver")]["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
        )

    assert checksum(manifests()) != checksum(manifests({"config": {"series": {"complete_after_s": 5}}}))


def test_the_renderer_refuses_what_it_does_not_implement() -> None:
    """The offline renderer fails loudly rather than rendering a construct wrongly."""
    with pytest.raises(TemplateError):
        parse("{{- range .Values.x }}{{ . }}{{- end }}", {})
    with pytest.raises(TemplateError):
        parse("{{ if .a }}", {})
