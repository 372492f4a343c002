"""Benchmark: per-radiograph latency of the `rds` pipeline, writers included, on CPU.

    .venv/bin/python bench/pipelines_rds.py [--repeat 5] [--threads 2] [--net-threads N] [--size 2048]
        [--source DICOM_FOLDER]

A synthetic neonatal chest phantom is written once as a ``--size`` x ``--size`` 12-bit MONOCHROME1 CR
(or ``--source`` names a folder with one real radiograph). The pipeline and its bundle (the shipped
demonstration weights) are loaded once, as in a worker process; then the whole path the node runs
(`registry.run_pipeline`: read + decode, segment, classify + Grad-CAM, SEG + SR + SC) is timed ``--repeat``
times with the process on ``--threads`` torch CPU threads (default 2, the target machine, as `dicom-node
worker` sets them); the pipeline runs its two small networks on its own ``threads`` setting (default 1,
see :func:`inference.pipelines.rds.model.torch_threads`; ``--net-threads`` overrides it). Prints the
median and best, this process's CPU seconds, the stages of one run (wall and CPU), whether the goal
(< 1 s per radiograph) is met and the load average (on a shared machine wall times grow with the
others' load; CPU seconds much less).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from stages import time_stages

GOAL_S = 1.0


def _time(folder: Path, settings: dict[str, Any], repeat: int) -> dict[str, float]:
    from inference import registry

    registry.run_pipeline("rds", folder, settings)  # warm-up: bundle load, first decode
    times, cpu_times = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        registry.run_pipeline("rds", folder, settings)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
    stages = time_stages("rds", folder, settings, "segment + classify + Grad-CAM")
    cpu_stages = time_stages("rds", folder, settings, "segment + classify + Grad-CAM", time.process_time)
    median, best, cpu_median = statistics.median(times), min(times), statistics.median(cpu_times)
    print(f"per radiograph: median {median:.2f} s, best {best:.2f} s over {repeat} runs")
    print(f"CPU time of this process per radiograph: median {cpu_median:.2f} s (both threads summed)")
    for name, seconds in stages.items():
        print(f"  {name}: {seconds:.2f} s wall, {cpu_stages[name]:.2f} s CPU")
    print(f"goal < {GOAL_S:.0f} s: {'met' if median < GOAL_S else 'NOT met'} (ratio {GOAL_S / median:.2f}x)")
    load = os.getloadavg()[0]
    contended = " (CPU-contended: wall times are inflated)" if load > (os.cpu_count() or 1) else ""
    print(f"load average (1 min) {load:.2f} on {os.cpu_count()} cores{contended}")
    return {"median_s": median, "best_s": best, "cpu_median_s": cpu_median, "load_1min": load, **stages}


def run(
    repeat: int = 5,
    threads: int = 2,
    size: int = 2048,
    source: Path | None = None,
    net_threads: int | None = None,
) -> dict[str, float]:
    import torch

    from inference.pipelines.rds.phantom import make_case
    from inference.pipelines.rds.phantom_dicom import write_phantom_cr

    torch.set_num_threads(threads)
    settings: dict[str, Any] = {"device": "cpu"}
    if net_threads is not None:
        settings["params"] = {"threads": net_threads}
    if source is not None:
        print(f"radiograph from {source}; {threads} thread(s)")
        return _time(source, settings, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cr"
        case = make_case(np.random.default_rng(0), size, rds=True)
        path = write_phantom_cr(folder / "cr.dcm", case, spacing_mm=100.0 / size)
        megabytes = path.stat().st_size / 1e6
        print(f"phantom CR {size}x{size} 12-bit MONOCHROME1, {megabytes:.1f} MB; {threads} thread(s)")
        return _time(folder, settings, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=2048, help="phantom side in pixels")
    parser.add_argument("--source", type=Path, default=None, help="folder with one real radiograph instead")
    parser.add_argument(
        "--net-threads", type=int, default=None, help="the pipeline's threads setting (default: its own, 1)"
    )
    args = parser.parse_args(argv)
    run(args.repeat, args.threads, args.size, args.source, args.net_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
