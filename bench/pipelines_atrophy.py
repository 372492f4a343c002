"""Benchmark of the ``atrophy`` pipeline: whole pipeline on a real 3D T1, wall time per step and peak memory.

Usage: ``python bench/pipelines_atrophy.py [SERIES] [--threads N] [--brain-extractor auto|deepbet|mindgrab]``
(default: the XA30 enhanced 3D T1 in tests/data, 2 threads, the pipeline's default extractor: deepbet when
installed). Goal (issue 6): < 90 s and < 8 GB on 2 CPU cores. The pipeline runs once; its steps are timed by
wrapping the segmenter's methods and the module's conform/resample (same code path).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
DEFAULT_SERIES = ROOT / "tests" / "data" / "dcm_qa_xa30" / "In" / "5_anat-T1w_acq-tfl"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("series", nargs="?", type=Path, default=DEFAULT_SERIES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--brain-extractor", default="auto", choices=("auto", "deepbet", "mindgrab"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(args.threads)
    from inference.dicom_out import write_outputs
    from inference.pipelines.atrophy import pipeline as atrophy_pipeline
    from inference.pipelines.atrophy.pipeline import AtrophyPipeline
    from inference.series_reader import read_series

    steps: dict[str, float] = {}

    def timed(name: str, function: Callable[..., T]) -> Callable[..., T]:
        """``function``, adding its wall time to ``steps[name]`` (instrumentation, same code path)."""

        def wrapper(*a: object, **k: object) -> T:
            begin = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - begin

        return wrapper

    begin = time.perf_counter()
    pipeline = AtrophyPipeline({"params": {"brain_extractor": args.brain_extractor}})
    load_s = time.perf_counter() - begin
    segmenter = pipeline.segmenter
    extraction = f"brain extraction ({segmenter.extractor})"
    segmenter.extract_brain = timed(extraction, segmenter.extract_brain)  # type: ignore[method-assign]
    segmenter.parcellate = timed("parcellation (N4 + 104 labels)", segmenter.parcellate)  # type: ignore[method-assign]
    atrophy_pipeline.conform = timed("conform (resample + scale)", atrophy_pipeline.conform)
    atrophy_pipeline.resample = timed("labels back to the source grid", atrophy_pipeline.resample)
    atrophy_pipeline.intracranial = timed("eTIV (affine to MNI152)", atrophy_pipeline.intracranial)
    begin = time.perf_counter()
    series = read_series(args.series)
    read_s = time.perf_counter() - begin
    begin = time.perf_counter()
    result = pipeline.run(series)
    run_s = time.perf_counter() - begin
    begin = time.perf_counter()
    outputs = write_outputs(series, result, "atrophy", pipeline.algorithm)
    write_s = time.perf_counter() - begin
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"atrophy benchmark: {args.series.name}, {args.threads} thread(s), load average {os.getloadavg()}")
    print(f"  {'load bundles':34s} {load_s:7.1f} s")
    print(f"  {'read series':34s} {read_s:7.1f} s")
    for name, seconds in steps.items():
        print(f"    {name:32s} {seconds:7.1f} s")
    print(f"  {'pipeline.run (all of the above)':34s} {run_s:7.1f} s")
    print(f"  {f'write {len(outputs)} outputs':34s} {write_s:7.1f} s")
    total = load_s + read_s + run_s + write_s
    print(f"  {'total':34s} {total:7.1f} s   (goal < 90 s: ratio {total / 90.0:.2f})")
    print(f"  {'peak memory (max RSS)':34s} {peak_gb:7.2f} GB (goal < 8 GB: ratio {peak_gb / 8.0:.2f})")
    for line in result.summary:
        print(f"  | {line}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
