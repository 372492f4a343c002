"""The import contracts between dicom_node, inference and anonymizer hold (``.importlinter``).

Runs import-linter's ``lint-imports`` on the repository: a new import across the layers fails here,
naming the importing line. The contracts list, by name, every module of ``dicom_node`` outside its shared
surface (and every module of ``inference`` the node may not import); so that the lists cannot rot, a new
module that is not listed fails here too, and no contract may excuse an import (``ignore_imports``).
"""

from __future__ import annotations

import ast
import configparser
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
# What inference and anonymizer may import of dicom_node (besides dicom_node/__init__.py's constants).
SHARED_SURFACE = {"dicom_node.errors", "dicom_node.logsetup"}
# What the node may import of inference: the registry, the pipeline contract and the study context.
PIPELINE_CONTRACT = {"inference.registry", "inference.pipeline", "inference.study_context"}
PROJECT = {"dicom_node", "inference", "anonymizer"}


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    exe = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert exe, "import-linter is not installed (it is in the dev extra of pyproject.toml)"
    return exe


def _contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    prefix = "importlinter:contract:"
    return {name[len(prefix) :]: parser[name] for name in parser.sections() if name.startswith(prefix)}


def _children(package: str) -> set[str]:
    """The modules and subpackages directly under ``package`` (its ``__init__`` aside)."""
    return {f"{package}.{module.name}" for module in pkgutil.iter_modules([str(ROOT / package)])}


def test_the_layer_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [_lint_imports(), "--config", str(CONFIG), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    contracts = _contracts()
    assert len(contracts) >= 4
    assert result.stdout.count(" KEPT") == len(contracts), result.stdout  # every contract was checked


def test_no_contract_excuses_an_import() -> None:
    excused = [name for name, contract in _contracts().items() if "ignore_imports" in contract]
    assert excused == [], f"ignore_imports in {excused}: fix the import instead (docs/architecture.md)"


def test_every_module_of_the_node_outside_the_shared_surface_is_forbidden() -> None:
    contract = _contracts()["shared-surface"]
    assert set(contract["source_modules"].split()) == {"inference", "anonymizer"} | SHARED_SURFACE
    listed = set(contract["forbidden_modules"].split())
    expected = _children("dicom_node") - SHARED_SURFACE
    assert listed == expected, (
        f"list {sorted(expected - listed)} (and remove {sorted(listed - expected)}) under forbidden_modules "
        "of the shared-surface contract in .importlinter, or make it part of the shared surface in "
        "docs/architecture.md"
    )


def test_every_module_of_inference_outside_the_pipeline_contract_is_forbidden_to_the_node() -> None:
    contract = _contracts()["node-through-registry"]
    assert contract["source_modules"].split() == ["dicom_node"]
    listed = set(contract["forbidden_modules"].split())
    expected = _children("inference") - PIPELINE_CONTRACT
    assert listed == expected, (
        f"list {sorted(expected - listed)} (and remove {sorted(listed - expected)}) under forbidden_modules "
        "of the node-through-registry contract in .importlinter"
    )


def test_the_node_constants_import_nothing_of_the_project() -> None:
    """dicom_node/__init__.py is shared surface; a forbidden contract cannot single it out: checked here."""
    tree = ast.parse((ROOT / "dicom_node" / "__init__.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level
    }
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert not relative
    assert not {name.split(".")[0] for name in imported} & PROJECT
