"""Ingest benchmark: the node (durable: fsync + ledger before Success) against DCMTK storescp.

Sends the same generated series (default 300 × 512×512 16-bit CT) with DCMTK ``storescu`` to
``dicom-node serve`` and to ``storescp`` in one run, first with one sender, then with 8 concurrent
senders, and prints instances/s for both and the ratio node / storescp (goal ≥ 1.2). With several
senders storescp runs with ``--fork`` (one process per association): without it storescp takes one
association at a time and the others wait, which is not a fair reference.

    .venv/bin/python bench/ingest.py [--count 300] [--size 512] [--senders 8]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers import start_node, start_storescp  # noqa: E402
from dicom_node.samples import Patient, ct_series  # noqa: E402


def send(port: int, aec: str, groups: list[list[Path]]) -> float:
    """Run one storescu per group at once; return the elapsed seconds (all must succeed)."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["storescu", "-aec", aec, "127.0.0.1", str(port), *map(str, group)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for group in groups
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"storescu failed: {err.decode(errors='replace')[-500:]}")
    return time.perf_counter() - started


def measure(label: str, start: object, workdir: Path, groups: list[list[Path]], aec: str) -> float:
    run_dir = Path(tempfile.mkdtemp(dir=workdir, prefix=label))
    proc, port = start(run_dir)  # type: ignore[operator]
    try:
        elapsed = send(port, aec, groups)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)
    return sum(len(g) for g in groups) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    for tool in ("storescu", "storescp"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: install DCMTK (make system-deps)", file=sys.stderr)
            return 2
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"generating {args.count} x {args.size}x{args.size} 16-bit CT in {workdir}", file=sys.stderr)
    files = ct_series(workdir / "series", Patient(), slices=args.count, size=args.size)
    single = [files]
    parallel = [files[i :: args.senders] for i in range(args.senders)]
    rows = []
    for name, groups in (("1 sender", single), (f"{args.senders} senders", parallel)):
        storescp = partial(start_storescp, fork=len(groups) > 1)
        reference = measure("storescp", storescp, workdir, groups, "STORESCP")
        ours = measure("node", start_node, workdir, groups, "AI_NODE")
        rows.append((name, ours, reference))
    print(f"{'run':12} {'dicom-node (inst/s)':>20} {'storescp (inst/s)':>18} {'ratio':>7}")
    for name, ours, reference in rows:
        print(f"{name:12} {ours:20.1f} {reference:18.1f} {ours / reference:7.2f}")
    print("dicom-node acknowledges only after fsync of file and folder and a committed ledger row;")
    print("storescp writes without fsync (--fork with several senders). Goal: ratio >= 1.2.")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
