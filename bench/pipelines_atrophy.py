"""Benchmark of the ``atrophy`` pipeline: whole pipeline on a real 3D T1, wall time per step and peak memory.

Usage: ``python bench/pipelines_atrophy.py [SERIES_FOLDER] [--threads N]`` (default: the XA30 enhanced
3D T1 in tests/data, 2 threads). Goal (issue 6): < 90 s and < 8 GB on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERIES = ROOT / "tests" / "data" / "dcm_qa_xa30" / "In" / "5_anat-T1w_acq-tfl"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("series", nargs="?", type=Path, default=DEFAULT_SERIES)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(args.threads)
    from inference.dicom_out import write_outputs
    from inference.pipelines.atrophy.conform import conform
    from inference.pipelines.atrophy.pipeline import AtrophyPipeline, _source_array
    from inference.pipelines.atrophy.segment import minmax
    from inference.series_reader import read_series

    steps: list[tuple[str, float]] = []
    started = time.perf_counter()

    def mark(name: str) -> None:
        steps.append((name, time.perf_counter() - started - sum(s for _, s in steps)))

    pipeline = AtrophyPipeline({})
    mark("load bundles")
    series = read_series(args.series)
    mark("read series")
    array, source = _source_array(series)
    conformed, _ = conform(array, source)
    mark("conform")
    brain = pipeline.segmenter.extract_brain(minmax(conformed))
    mark("brain extraction (MindGrab)")
    pipeline.segmenter.parcellate(conformed, brain)
    mark("parcellation (104 labels)")
    result = pipeline.run(series)
    mark("whole pipeline.run again")
    outputs = write_outputs(series, result, "atrophy", pipeline.algorithm)
    mark(f"write {len(outputs)} outputs")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"atrophy benchmark: {args.series.name}, {args.threads} thread(s)")
    for name, seconds in steps:
        print(f"  {name:32s} {seconds:7.1f} s")
    print(f"  peak memory (max RSS)          {peak_gb:7.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(run())
