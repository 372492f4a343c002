"""The one bundle writer: every trainer and converter writes its MONAI bundle with :func:`write_bundle`.

Layout (MONAI bundle specification): ``configs/metadata.json``, ``configs/<name>.json`` (``inference``
with ``network_def``; more where a pipeline needs them), ``models/model.pt``, ``docs/README.md``,
``LICENSE`` and, when the training data's licence binds the weights, ``docs/data_license.txt``.

``metadata.json``: the library versions (``monai_version``, ``pytorch_version``, ``numpy_version``,
``required_packages_version``) come from the installed distributions, never from the caller; the keys
MONAI requires are those of the library's own template (``monai.bundle.utils.DEFAULT_METADATA``); the
tensor specifiers follow the schema named in ``schema``. MONAI's ``verify_metadata`` is not called: it
downloads that schema at run time (tests/inference/test_bundle_writer.py guards what we check instead).
"""

from __future__ import annotations

import datetime
import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_node.errors import InputError
from inference.bundle.reader import METADATA, WEIGHTS, read_metadata, read_network

README = Path("docs/README.md")
LICENSE = Path("LICENSE")
DATA_LICENSE = Path("docs/data_license.txt")

SCHEMA_URL = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json"
)
# What the MONAI bundle schema (SCHEMA_URL) requires of every input and output tensor.
TENSOR_KEYS = ("type", "format", "num_channels", "spatial_shape", "dtype", "value_range")
# The keys the writer derives or fills itself; a card's ``blocks`` may not set them.
_LIBRARIES = {"monai_version": "monai", "pytorch_version": "torch", "numpy_version": "numpy"}
WRITER_KEYS = frozenset(
    {"schema", "version", "changelog", "name", "task", "description", "authors", "copyright"}
    | {"data_source", "network_data_format", "required_packages_version", *_LIBRARIES}
)


@dataclass(frozen=True)
class BundleCard:
    """What a trainer or converter says about its bundle; the writer adds the library versions.

    ``inputs`` / ``outputs``: MONAI tensor specifiers (each with :data:`TENSOR_KEYS`); ``licence``: the
    text of ``LICENSE`` (the weights); ``data_source``: what they were trained on; ``data_licence``: the
    training data's licence (``docs/data_license.txt``), when it binds the weights; ``blocks``: the
    pipeline's own top-level metadata entries; ``packages``: distributions the bundle needs beyond
    MONAI, torch and numpy (their installed versions go to ``required_packages_version``).
    """

    name: str
    version: str
    task: str
    description: str
    inputs: Mapping[str, Mapping[str, Any]]
    outputs: Mapping[str, Mapping[str, Any]]
    licence: str
    data_source: str
    authors: str = "dicom-node"
    copyright: str = "dicom-node contributors"
    data_licence: str | None = None
    changelog: Mapping[str, str] = field(default_factory=dict)
    blocks: Mapping[str, Any] = field(default_factory=dict)
    packages: Sequence[str] = ("dicom-node",)
    notes: Sequence[str] = ()  # extra paragraphs of docs/README.md


DATA_LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENCE", "SOURCE.md")


def data_licence_in(folder: Path) -> str | None:
    """The licence note of a training data folder (its LICENSE or SOURCE.md), if it has one."""
    found = next((Path(folder) / n for n in DATA_LICENCE_FILES if (Path(folder) / n).is_file()), None)
    return found.read_text(encoding="utf-8", errors="replace") if found else None


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution`` without a local label (``2.13.0+cpu`` -> ``2.13.0``)."""
    try:
        return importlib.metadata.version(distribution).split("+")[0]
    except importlib.metadata.PackageNotFoundError as exc:
        raise InputError(f"bundle: package {distribution!r} is not installed") from exc


def library_versions(packages: Sequence[str] = ()) -> dict[str, Any]:
    """``monai_version``, ``pytorch_version``, ``numpy_version`` and ``required_packages_version``."""
    versions: dict[str, Any] = {key: installed_version(name) for key, name in _LIBRARIES.items()}
    versions["required_packages_version"] = {name: installed_version(name) for name in packages}
    return versions


def bundle_metadata(card: BundleCard) -> dict[str, Any]:
    """``metadata.json`` for ``card``: MONAI's required keys (checked against the library's own
    template, ``monai.bundle.utils.DEFAULT_METADATA``), the derived versions, then the card's blocks."""
    from monai.bundle.utils import DEFAULT_METADATA

    clash = sorted(WRITER_KEYS & set(card.blocks))
    if clash:
        raise ValueError(f"bundle {card.name!r}: blocks may not set {clash} (the writer does)")
    metadata: dict[str, Any] = {
        "schema": SCHEMA_URL,
        "version": card.version,
        "changelog": dict(card.changelog)
        or {card.version: f"written by dicom-node on {datetime.date.today()}"},
        "name": card.name,
        "task": card.task,
        "description": card.description,
        "authors": card.authors,
        "copyright": card.copyright,
        **library_versions(card.packages),
        "data_source": card.data_source,
        "network_data_format": {"inputs": dict(card.inputs), "outputs": dict(card.outputs)},
        **card.blocks,
    }
    missing = sorted(set(DEFAULT_METADATA) - set(metadata))
    if missing:
        raise ValueError(f"bundle {card.name!r}: MONAI's metadata template also needs {missing}")
    for side in ("inputs", "outputs"):
        for key, spec in metadata["network_data_format"][side].items():
            absent = [k for k in TENSOR_KEYS if k not in spec]
            if not absent and not all(isinstance(v, (int, float)) for v in spec["value_range"]):
                absent = ["a numeric value_range"]
            if not absent and not isinstance(spec.get("channel_def", {}), Mapping):
                absent = ["a channel_def mapping"]
            if absent:
                raise ValueError(f"bundle {card.name!r}: {side}.{key} needs {absent}")
    return metadata


def _readme(card: BundleCard, metadata: Mapping[str, Any]) -> str:
    lines = [f"# {card.name}", "", f"Version {card.version}. {card.description}", "", f"Task: {card.task}."]
    for side in ("inputs", "outputs"):
        lines += ["", f"{side.capitalize()}:", ""]
        for key, spec in metadata["network_data_format"][side].items():
            shape = "x".join(str(n) for n in spec["spatial_shape"]) or "-"
            lines.append(
                f"- `{key}`: {spec['type']} ({spec['format']}), {spec['num_channels']} channel(s), {shape}"
            )
    versions = ", ".join(f"{name} {metadata[key]}" for key, name in _LIBRARIES.items())
    lines += ["", f"Trained on: {card.data_source}.", "", f"Written with {versions}.", ""]
    lines += [f"{note}\n" for note in card.notes]
    lines += ["Licence: see ../LICENSE" + (" and data_license.txt." if card.data_licence else "."), ""]
    return "\n".join(lines)


def _cpu(value: Any) -> Any:
    """A state dict (or a mapping of them) as contiguous CPU tensors, detached from any graph."""
    if isinstance(value, Mapping):
        return {key: _cpu(item) for key, item in value.items()}
    if hasattr(value, "detach"):
        return value.detach().cpu().contiguous().clone()
    return value


def write_bundle(
    out: Path,
    card: BundleCard,
    *,
    configs: Mapping[str, Mapping[str, Any]],
    weights: Mapping[str, Any],
) -> Path:
    """Write the MONAI bundle folder ``out`` (created or overwritten), then read it back: the metadata
    validated, ``network_def`` built with the saved weights.

    ``configs``: ``configs/<name>.json`` files; ``inference`` (with ``network_def``) is required.
    ``weights``: the state dict saved as ``models/model.pt`` (or a mapping of state dicts, ``model``
    being the one ``network_def`` loads).
    """
    from monai.bundle import ConfigParser
    from monai.networks.utils import save_state

    if "network_def" not in configs.get("inference", {}):
        raise ValueError(f"bundle {card.name!r}: configs['inference'] needs a 'network_def'")
    metadata = bundle_metadata(card)
    out = Path(out)
    for folder in ("configs", "models", "docs"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    ConfigParser.export_config_file(metadata, out / METADATA, indent=2)
    for name, config in configs.items():
        ConfigParser.export_config_file(dict(config), out / "configs" / f"{name}.json", indent=2)
    save_state(_cpu(weights), out / WEIGHTS)  # atomic: a temporary file, then a rename
    (out / README).write_text(_readme(card, metadata), encoding="utf-8")
    (out / LICENSE).write_text(card.licence.rstrip() + "\n", encoding="utf-8")
    if card.data_licence:
        (out / DATA_LICENSE).write_text(card.data_licence.rstrip() + "\n", encoding="utf-8")
    read_metadata(out)
    read_network(out)  # what the reader will build: network_def with these weights, strictly
    return out
