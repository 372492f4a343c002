"""Time one pipeline run stage by stage, the way the node runs it (the pipeline's own read, run, writers)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def time_stages(
    pipeline_name: str,
    folder: Path,
    settings: Mapping[str, Any],
    analysis: str,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Seconds spent reading, analysing (labelled ``analysis``) and writing the outputs for one series,
    by ``clock``: wall time by default, ``time.process_time`` for this process's CPU seconds."""
    from inference import registry
    from inference.dicom_out import write_outputs

    pipeline = registry.load(pipeline_name, settings)
    started = clock()
    series = pipeline.read(folder)
    read = clock()
    result = pipeline.run(series)
    analysed = clock()
    projection = bool(getattr(pipeline, "seg_on_projection", False))
    outputs = write_outputs(series, result, pipeline_name, pipeline.algorithm, seg_on_projection=projection)
    written = clock()
    kinds = " + ".join("SC" if ds.Modality == "OT" else str(ds.Modality) for ds in outputs)
    return {"read + decode": read - started, analysis: analysed - read, kinds: written - analysed}
