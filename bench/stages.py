"""Time one pipeline run stage by stage, the way the node runs it (the pipeline's own read, run, writers)."""

from __future__ import annotations

import time
from pathlib import Path


def time_stages(
    pipeline_name: str, folder: Path, settings: dict[str, str], analysis: str
) -> dict[str, float]:
    """Seconds spent reading, analysing (labelled ``analysis``) and writing the outputs for one series."""
    from inference import registry
    from inference.dicom_out import write_outputs

    pipeline = registry.load(pipeline_name, settings)
    started = time.perf_counter()
    series = pipeline.read(folder)
    read = time.perf_counter()
    result = pipeline.run(series)
    analysed = time.perf_counter()
    projection = bool(getattr(pipeline, "seg_on_projection", False))
    outputs = write_outputs(series, result, pipeline_name, pipeline.algorithm, seg_on_projection=projection)
    written = time.perf_counter()
    kinds = " + ".join("SC" if ds.Modality == "OT" else str(ds.Modality) for ds in outputs)
    return {"read + decode": read - started, analysis: analysed - read, kinds: written - analysed}
