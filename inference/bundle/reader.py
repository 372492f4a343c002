"""The one bundle reader: load a MONAI bundle (configs/metadata.json, configs/inference.json,
models/model.pt) once per process.

A bundle's ``$`` expressions are code: bundles are loaded only from the paths in the node
configuration (``pipelines.<name>.bundle``), never from received data. ``metadata.json`` is validated
(version, network data format) against what the pipeline expects before the network is built.

The network is built from the ``network_def`` entry of ``inference.json`` (``network`` as fallback),
its weights read with ``torch.load(weights_only=True)``, moved to CUDA when present (else CPU) and put
in eval mode. Inference is deterministic: fixed seeds, deterministic algorithms, no cuDNN autotuning.
:meth:`Bundle.build` builds a second network of the same bundle (the RDS classifier);
:func:`read_metadata`, :func:`read_config`, :func:`read_weights` and :func:`read_network` read one
part of a bundle.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicom_node.errors import InputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

METADATA = Path("configs/metadata.json")
INFERENCE_CONFIGS = (Path("configs/inference.json"), Path("configs/inference.yaml"))
WEIGHTS = Path("models/model.pt")
NETWORK_KEYS = ("network_def", "network")
SEED = 0


@dataclass(frozen=True)
class Expectation:
    """What a pipeline needs from a bundle's metadata (None = anything)."""

    input_channels: int | None = None
    output_channels: int | None = None
    spatial_dims: int | None = None


@dataclass
class Bundle:
    """A loaded bundle: its metadata, the network in eval mode on ``device``, and where it came from."""

    path: Path
    metadata: dict[str, Any]
    network: torch.nn.Module
    device: torch.device
    config_path: Path

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.path.name))

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """Run the network on ``batch`` (N, C, ...) without gradients; returns the output on the CPU."""
        import torch

        with torch.inference_mode():
            return self.network(batch.to(self.device)).detach().cpu()

    def build(self, key: str, weights_key: str) -> torch.nn.Module:
        """Another network of the bundle: config entry ``key``, weights ``model.pt[weights_key]``."""
        network = _instantiate(self.path, self.config_path, key, weights_key)
        return network.to(self.device).eval()


_cache: dict[tuple[str, str], Bundle] = {}
_lock = threading.Lock()
_loads = 0


def select_device(preference: str = "auto") -> torch.device:
    """``cuda`` when asked for or when ``auto`` and a GPU is present, else ``cpu``."""
    import torch

    if preference not in ("auto", "cpu", "cuda"):
        raise InputError(f"device {preference!r}: expected auto, cpu or cuda")
    if preference == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA device is available")
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def make_deterministic() -> None:
    """Seed every generator and ask torch for deterministic kernels (done once per load)."""
    import torch
    from monai.utils import set_determinism

    set_determinism(seed=SEED)
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def _channels(entry: Mapping[str, Any] | None) -> int | None:
    if not entry:
        return None
    value = entry.get("num_channels")
    return int(value) if value is not None else None


def validate_metadata(path: Path, metadata: Mapping[str, Any], expect: Expectation | None = None) -> None:
    """Raise InputError naming the bundle and the problem when metadata.json does not fit."""
    where = path / METADATA
    if not isinstance(metadata.get("version"), str) or not metadata["version"]:
        raise InputError(f"{where}: 'version' (a non-empty string) is required")
    data_format = metadata.get("network_data_format")
    if not isinstance(data_format, Mapping):
        raise InputError(f"{where}: 'network_data_format' with 'inputs' and 'outputs' is required")
    inputs, outputs = data_format.get("inputs"), data_format.get("outputs")
    if not isinstance(inputs, Mapping) or not inputs or not isinstance(outputs, Mapping) or not outputs:
        raise InputError(f"{where}: 'network_data_format' needs non-empty 'inputs' and 'outputs'")
    if expect is None:
        return
    first_input = next(iter(inputs.values()))
    first_output = next(iter(outputs.values()))
    checks = (
        ("input channels", expect.input_channels, _channels(first_input)),
        ("output channels", expect.output_channels, _channels(first_output)),
        ("spatial dims", expect.spatial_dims, len(first_input.get("spatial_shape", [])) or None),
    )
    for what, wanted, found in checks:
        if wanted is not None and found != wanted:
            raise InputError(f"{where}: the pipeline needs {what} = {wanted}, the bundle declares {found}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object")
    return value


def read_metadata(path: Path, expect: Expectation | None = None) -> dict[str, Any]:
    """The bundle's ``configs/metadata.json``, validated (and checked against ``expect``)."""
    metadata = _read_json(Path(path) / METADATA)
    validate_metadata(Path(path), metadata, expect)
    return metadata


def read_config(path: Path) -> dict[str, Any]:
    """The bundle's ``configs/inference.json`` as plain JSON (nothing evaluated)."""
    return _read_json(_config_path(Path(path)))


def read_weights(path: Path) -> Any:
    """The bundle's ``models/model.pt`` (a state dict, or a mapping of them), on the CPU."""
    import torch

    weights = Path(path) / WEIGHTS
    if not weights.is_file():
        raise InputError(f"{weights}: model weights are missing")
    return torch.load(weights, map_location="cpu", weights_only=True)


def read_network(path: Path, key: str | None = None, weights_key: str | None = None) -> torch.nn.Module:
    """Build config entry ``key`` of the bundle at ``path`` with its weights, on the CPU, not cached."""
    return _instantiate(Path(path), _config_path(Path(path)), key, weights_key)


def _config_path(path: Path) -> Path:
    found = next((path / c for c in INFERENCE_CONFIGS if (path / c).is_file()), None)
    if found is None:
        raise InputError(f"{path}: configs/inference.json is missing")
    return found


def _instantiate(path: Path, config_path: Path, key: str | None, weights_key: str | None) -> torch.nn.Module:
    """Build config entry ``key`` (None: ``network_def`` or ``network``) and load its weights."""
    import torch
    from monai.bundle import ConfigParser

    state = read_weights(path)
    parser = ConfigParser()
    parser.read_meta(str(path / METADATA))
    parser.read_config(str(config_path))
    parser["bundle_root"] = str(path)
    key = key or next((k for k in NETWORK_KEYS if k in parser), None)
    if key is None or key not in parser:
        raise InputError(f"{config_path}: no {key or 'network_def'!r} entry")
    try:
        network = parser.get_parsed_content(key, instantiate=True)
        wanted = weights_key or "model"
        if isinstance(state, Mapping) and isinstance(state.get(wanted), Mapping):
            state = state[wanted]
        elif weights_key is not None:
            raise InputError(f"{path / WEIGHTS}: no {weights_key!r} weights")
        network.load_state_dict(state)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot build {key!r}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(network, torch.nn.Module):
        raise InputError(f"{config_path}: {key!r} is not a torch.nn.Module")
    return network


def _build(path: Path, device: torch.device, expect: Expectation | None) -> Bundle:
    if not path.is_dir():
        raise InputError(f"{path}: bundle folder not found")
    metadata = read_metadata(path, expect)
    config_path = _config_path(path)
    make_deterministic()
    network = _instantiate(path, config_path, None, None).to(device).eval()
    return Bundle(path=path, metadata=metadata, network=network, device=device, config_path=config_path)


def load_bundle(path: Path, device: str = "auto", expect: Expectation | None = None) -> Bundle:
    """The bundle at ``path`` on ``device``: built on first use in this process, then reused."""
    global _loads
    resolved = Path(path).resolve()
    chosen = select_device(device)
    key = (str(resolved), str(chosen))
    with _lock:
        bundle = _cache.get(key)
        if bundle is None:
            bundle = _build(resolved, chosen, expect)
            _cache[key] = bundle
            _loads += 1
            log.info(
                "bundle loaded",
                extra={"bundle": bundle.name, "version": bundle.version, "device": str(chosen)},
            )
        elif expect is not None:
            validate_metadata(resolved, bundle.metadata, expect)
        return bundle


def loads_in_this_process() -> int:
    """How many bundles this process has built (a reused bundle does not count)."""
    return _loads
