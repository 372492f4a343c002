"""deploy/Dockerfile: its entry point and default command are the real CLI's, the image's baked-in
node.yaml validates, and its HEALTHCHECK command succeeds against a real `dicom-node serve`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dicom_node.config import load_config
from tests.deploy.manifests import (
    DEPLOY,
    REPO,
    Instruction,
    docker_env,
    dockerfile_instructions,
    dockerignore_excludes,
    parse_cli,
)
from tests.support.node import DICOM_NODE
from tests.support.ports import free_port, port_open, wait_for

DOCKERFILE = DEPLOY / "Dockerfile"


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return dockerfile_instructions(DOCKERFILE)


def _one(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert found, f"no {keyword} in the Dockerfile"
    return found[-1]  # the final stage's


def _baked_config(instructions: list[Instruction]) -> tuple[Path, str]:
    """(source in the repo, destination in the image) of the node.yaml the image carries."""
    for instruction in instructions:
        if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
            *sources, destination = instruction.arguments.split()
            if destination.endswith("node.yaml"):
                return REPO / sources[0], destination
    raise AssertionError("the image copies no node.yaml")


def test_entrypoint_and_default_command_are_the_cli(instructions: list[Instruction]) -> None:
    entrypoint = _one(instructions, "ENTRYPOINT").exec_form()
    command = _one(instructions, "CMD").exec_form()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["dicom-node"] and "dicom-node" in scripts
    args = parse_cli(command)
    assert args.command == "serve"
    _, destination = _baked_config(instructions)
    assert str(args.config) == destination == "/etc/dicom-node/node.yaml"


def test_baked_config_validates_with_the_image_environment(instructions: list[Instruction]) -> None:
    source, _ = _baked_config(instructions)
    env = {k: v for k, v in docker_env(instructions).items() if k.startswith("DICOM_NODE__")}
    config = load_config(source, environ=env)
    volumes = yaml.safe_load(_one(instructions, "VOLUME").arguments)
    assert [str(config.storage.path)] == volumes == ["/var/lib/dicom-node"]
    assert config.web.bind == "0.0.0.0"  # reachable from outside the container
    exposed = {int(p) for p in _one(instructions, "EXPOSE").arguments.split()}
    assert exposed == {config.node.port, config.web.port} == {11112, 8080}
    assert config.execution.backend == "local"  # the bare image needs no external service


def test_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    user = _one(instructions, "USER").arguments
    assert user.split(":")[0] not in ("0", "root")
    final_stage = instructions[max(i for i, x in enumerate(instructions) if x.keyword == "FROM") :]
    assert final_stage.index(_one(instructions, "USER")) < final_stage.index(_one(instructions, "ENTRYPOINT"))


def test_torch_is_pinned_to_the_projects_version_and_variant_is_a_build_argument(
    instructions: list[Instruction],
) -> None:
    inference = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "inference"
    ]
    pinned = next(r for r in inference if r.startswith("torch=="))
    args = {
        i.arguments.split("=", 1)[0]: i.arguments.split("=", 1)[1] for i in instructions if i.keyword == "ARG"
    }
    assert f"torch=={args['TORCH_VERSION']}" == pinned
    assert args["TORCH_VARIANT"] == "cpu"
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/${TORCH_VARIANT}"
    runs = " ".join(i.arguments for i in instructions if i.keyword == "RUN")
    assert '--index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in runs
    extras = re.search(r"\.\[([a-z,]+)\]", runs)
    assert extras is not None and set(extras.group(1).split(",")) == {"inference", "scale"}


def test_build_context_holds_what_the_copies_need(instructions: list[Instruction]) -> None:
    ignore = REPO / ".dockerignore"
    for instruction in instructions:
        if instruction.keyword != "COPY" or instruction.arguments.startswith("--from"):
            continue
        *sources, _ = instruction.arguments.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert not dockerignore_excludes(ignore, source), f"{source} is left out of the build context"
    for heavy in (".venv/bin/python", "var/ledger.db", "tests/conftest.py", ".git/HEAD", "build/x"):
        assert dockerignore_excludes(ignore, heavy), heavy


def _healthcheck_argv(instructions: list[Instruction]) -> list[str]:
    text = _one(instructions, "HEALTHCHECK").arguments
    command = text[text.index("CMD ") + 4 :]
    argv = Instruction("CMD", command).exec_form()
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


@pytest.fixture
def served_image_config(tmp_path: Path, instructions: list[Instruction]) -> Iterator[dict[str, str]]:
    """`dicom-node serve` on the image's node.yaml, as the image's CMD starts it (ports and storage moved
    to free loopback ports and a temporary folder through the same environment overrides)."""
    source, _ = _baked_config(instructions)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_NODE__")}
    env.update({k: v for k, v in docker_env(instructions).items() if k.startswith("DICOM_NODE__")})
    dicom_port, web_port = free_port(), free_port()
    env.update(
        {
            "DICOM_NODE__STORAGE__PATH": str(tmp_path / "var"),
            "DICOM_NODE__STORAGE__MIN_FREE_GB": "0.05",
            "DICOM_NODE__NODE__BIND": "127.0.0.1",
            "DICOM_NODE__NODE__PORT": str(dicom_port),
            "DICOM_NODE__WEB__BIND": "127.0.0.1",
            "DICOM_NODE__WEB__PORT": str(web_port),
        }
    )
    command = _one(instructions, "CMD").exec_form()
    command[command.index("--config") + 1] = str(source)
    log = (tmp_path / "serve.log").open("ab")
    process = subprocess.Popen([str(DICOM_NODE), *command], stdout=log, stderr=log, env=env, cwd=tmp_path)
    try:

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "serve.log").read_text(errors="replace")[-2000:])
            return port_open(web_port) and port_open(dicom_port)

        wait_for(listening, timeout=90, what="dicom-node serve (image defaults)")
        yield env
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_healthcheck_passes_on_a_running_node_and_fails_without_one(
    instructions: list[Instruction], served_image_config: dict[str, str]
) -> None:
    argv = _healthcheck_argv(instructions)
    healthy = subprocess.run(argv, env=served_image_config, capture_output=True, timeout=30)
    assert healthy.returncode == 0, healthy.stderr
    closed = {**served_image_config, "DICOM_NODE__WEB__PORT": str(free_port())}
    unhealthy = subprocess.run(argv, env=closed, capture_output=True, timeout=30)
    assert unhealthy.returncode != 0


def test_compose_and_helm_probes_answer_on_a_running_node(served_image_config: dict[str, str]) -> None:
    from tests.deploy.helm_render import render_chart
    from tests.deploy.manifests import CHART

    port = served_image_config["DICOM_NODE__WEB__PORT"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    test = compose["services"]["receiver"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    argv = [sys.executable, *(arg.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for arg in test[2:])]
    assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    secrets = {"databasePassword": "x", "brokerUrl": "redis://r:6379/0", "anonymizerKey": "00" * 32}
    receiver = yaml.safe_load(render_chart(CHART, {"secrets": secrets})["receiver-deployment.yaml"])
    (container,) = receiver["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = container[probe]["httpGet"]["path"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            assert response.status == 200, (probe, path)
