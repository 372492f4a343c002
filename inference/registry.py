"""The pipeline registry: the one door through which the node runs a pipeline.

The node depends only on two functions here, and they stay stable:

- :func:`names` lists the known pipelines without importing torch (config validation at start-up);
- :func:`run_pipeline` runs one pipeline on a folder holding one series (all files of one series
  revision) and returns the DICOM datasets to send (SEG / SR / SC), fully built and valid.

Pipelines are built once per process and per settings, then reused (models stay in memory).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from dicom_node.errors import InputError, PipelineError
from inference.pipeline_params import PipelineParams, validate_params
from inference.study_context import StudyContext

if TYPE_CHECKING:
    from inference.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineInfo:
    """What the node knows about a pipeline without importing it (no torch).

    ``demo_input``: "module:function" writing synthetic input series into a folder, ``function(folder)
    -> list[Path]`` (no real patient), for ``dicom-node demo`` (:func:`write_demo_input`).
    ``source_pixels_in``: SOP Class UIDs of the outputs that show the source images' pixels (e.g. an SC
    summary with the photograph on it). The node sends such outputs only back to the PACS the series came
    from (:mod:`dicom_node.dispatch.photo_containment`); empty = no output shows the source's pixels.
    ``params``: "module:Class", the pipeline's typed params model (:mod:`inference.pipeline_params`, in a
    light module: pydantic only), validated by the node's configuration at start (:func:`params_model`).
    ``check_params``: "module:function" with further checks of ``pipelines.<name>.params`` that need no
    model (e.g. reading the files they name; raises ConfigError), run by the node at start.
    """

    name: str
    accepts: str
    target: str  # "module:function" building the pipeline object from its settings
    demo_input: str | None = None
    source_pixels_in: frozenset[str] = frozenset()
    check_params: str | None = None
    params: str = "inference.pipeline_params:NoParams"


BUILTIN: dict[str, PipelineInfo] = {
    "atrophy": PipelineInfo(
        name="atrophy",
        accepts="3D T1 brain MR (MPRAGE/TFL/BRAVO/FSPGR): 10 regional volumes + atrophy flags (research)",
        target="inference.pipelines.atrophy:build",
        check_params="inference.pipelines.atrophy:check_params",
        params="inference.pipelines.atrophy.params_model:AtrophyParamsModel",
    ),
    "dermatitis": PipelineInfo(
        name="dermatitis",
        accepts="skin photographs (VL Photographic / Secondary Capture, modality XC/OT/SC; RGB or YBR, JPEG)",
        target="inference.pipelines.dermatitis.pipeline:build",
        # Photographs show faces and tattoos: the SC summary carries the (scaled-down) photograph.
        source_pixels_in=frozenset(
            {
                "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage (the summary)
                "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture Image Storage
            }
        ),
        params="inference.pipelines.dermatitis.params_model:DermatitisParams",
    ),
    "fmri": PipelineInfo(
        name="fmri",
        accepts="resting-state BOLD EPI (4D MR: classic slices, Siemens mosaic, enhanced multi-frame)",
        target="inference.pipelines.fmri:build",
        params="inference.pipelines.fmri.params_model:FmriParams",
    ),
    "qc": PipelineInfo(
        name="qc",
        accepts="any image series (CT, MR, CR/DX, ...): a model-free check of the route",
        target="inference.pipelines.qc:build",
    ),
    "rds": PipelineInfo(
        name="rds",
        accepts="neonatal chest radiograph (CR/DX, one image): lungs; RDS probability for newborns only",
        demo_input="inference.pipelines.rds.phantom_dicom:demo_input",
        target="inference.pipelines.rds.pipeline:build",
        params="inference.pipelines.rds.params_model:RdsParams",
    ),
}

_cache: dict[tuple[str, str], Pipeline] = {}
_lock = threading.Lock()


def names() -> list[str]:
    return sorted(BUILTIN)


def info(name: str) -> PipelineInfo:
    try:
        return BUILTIN[name]
    except KeyError:
        raise InputError(f"unknown pipeline {name!r}; known: {', '.join(names())}") from None


def params_model(name: str) -> type[PipelineParams]:
    """The typed params model of pipeline ``name`` (imports only its light module: no torch)."""
    module_name, _, cls = info(name).params.partition(":")
    model: type[PipelineParams] = getattr(importlib.import_module(module_name), cls)
    return model


def parse_params(name: str, params: Mapping[str, Any]) -> PipelineParams:
    """``pipelines.<name>.params`` validated by the pipeline's model (ConfigError naming the key); light."""
    return validate_params(params_model(name), name, params)


def check_params(name: str, params: Mapping[str, Any]) -> PipelineParams:
    """Validate ``pipelines.<name>.params`` the way the pipeline will read them (ConfigError naming the
    key if not): its typed model, then its further checks; return the validated model."""
    model = parse_params(name, params)
    target = info(name).check_params
    if target is not None:
        module_name, _, func = target.partition(":")
        getattr(importlib.import_module(module_name), func)(params)
    return model


def load(name: str, settings: Mapping[str, Any] | None = None) -> Pipeline:
    """The pipeline object for ``name`` and ``settings``, built on first use in this process."""
    target = info(name).target
    settings = dict(settings or {})
    key = (name, repr(sorted((k, str(v)) for k, v in settings.items())))
    with _lock:
        if key not in _cache:
            module_name, _, func = target.partition(":")
            factory = getattr(importlib.import_module(module_name), func)
            _cache[key] = factory(settings)
        return _cache[key]


def run_pipeline(name: str, series_dir: Path, settings: Mapping[str, Any] | None = None) -> list[Dataset]:
    """Run pipeline ``name`` on the series in ``series_dir``; return the output datasets.

    Raises InputError when the folder holds no usable series, PipelineError when the pipeline fails.
    """
    from inference.dicom_out import write_outputs

    pipeline = load(name, settings)
    started = time.monotonic()
    series = pipeline.read(Path(series_dir))
    if series.context is None:
        series = dataclasses.replace(series, context=StudyContext.beside(Path(series_dir)))
    try:
        result = pipeline.run(series)
        seg_on_projection = bool(getattr(pipeline, "seg_on_projection", False))
        outputs = write_outputs(series, result, name, pipeline.algorithm, seg_on_projection=seg_on_projection)
    except (InputError, PipelineError):
        raise
    except Exception as exc:  # a pipeline bug must fail the job with a reason, not the worker
        raise PipelineError(f"pipeline {name} failed: {type(exc).__name__}: {exc}") from exc
    log.info(
        "pipeline finished",
        extra={"pipeline": name, "outputs": len(outputs), "seconds": round(time.monotonic() - started, 3)},
    )
    return outputs


def write_demo_input(name: str, folder: Path) -> list[Path]:
    """Write the demonstration input of pipeline ``name`` into ``folder``; return the files written."""
    target = info(name).demo_input
    if target is None:
        raise InputError(f"pipeline {name!r} has no demonstration input")
    module_name, _, func = target.partition(":")
    return list(getattr(importlib.import_module(module_name), func)(Path(folder)))
