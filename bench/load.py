"""Load benchmark: many concurrent senders against `dicom-node serve` and DCMTK storescp in one run.

Each of ``--senders`` DCMTK ``storescu`` processes (default 20, all at once) opens one association and
sends its own series of ``--count`` instances (default 500; distinct SOP Instance UIDs); storescu's
log, stamped to the millisecond, gives every C-STORE's latency from request to response. The same
senders run against DCMTK ``storescp --fork`` (one child per association) and then against the node
(fsync of file and folder and a committed ledger row before each Success), with one receiver process
and with ``--receiver-processes`` (``node.receiver_processes``, default one per core). For each it prints
throughput, p50/p99 C-STORE latency, peak RSS (the whole process tree, sampled every 0.2 s while the
senders run), and RSS flatness: mean RSS of the last quarter of the run over the first quarter. It
exits 1 if any C-STORE got a status other than Success or went unanswered.

    .venv/bin/python bench/load.py                  # 20 × 500 instances of 128×128 CT
    .venv/bin/python bench/load.py --quick          # 20 × 50, for a quick check
    .venv/bin/python bench/load.py --senders 8 --count 200 --size 256
    .venv/bin/python bench/load.py --quick --no-fsync   # context only: the node without storage.fsync

Goal (PRODUCT): no failure status, node throughput ≥ 1.2 × storescp, node RSS flat.

Both receivers run with their defaults, and so do the senders: DCMTK keeps Nagle's algorithm on unless
``TCP_NODELAY=1`` is in its environment, so each storescu waits for a delayed ACK (40 ms) once per
C-STORE and ``storescp --fork`` a second time (about 11 C-STOREs/s per association with the machine
idle); the node sets ``TCP_NODELAY`` on its side. Both see the same senders.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers import start_node, start_storescp  # noqa: E402
from dicom_node.samples import Patient, ct_series  # noqa: E402

# storescu's own log with millisecond timestamps: the time of each request and of its response
_LOG_CONFIG = """\
log4cplus.rootLogger = INFO, console
log4cplus.appender.console = log4cplus::ConsoleAppender
log4cplus.appender.console.layout = log4cplus::PatternLayout
log4cplus.appender.console.layout.ConversionPattern = %D{%H:%M:%S.%q} %m%n
"""
_STAMPED = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) (.*)$")


@dataclass
class SenderResult:
    latencies: list[float]
    failures: list[str]


def parse_storescu_log(text: str) -> SenderResult:
    """C-STORE latencies (request sent → response received) and non-Success responses."""
    latencies: list[float] = []
    failures: list[str] = []
    sent_at: float | None = None
    for line in text.splitlines():
        m = _STAMPED.match(line)
        if not m:
            continue
        h, mi, sec, ms, message = m.groups()
        at = int(h) * 3600 + int(mi) * 60 + int(sec) + int(ms) / 1000
        if message.startswith("Sending Store Request"):
            sent_at = at
        elif message.startswith("Received Store Response") and sent_at is not None:
            latencies.append((at - sent_at) % 86400)  # a run across midnight
            if "(Success)" not in message:
                failures.append(message)
            sent_at = None
        elif message.startswith(("Association Rejected", "Association Aborted", "Store SCU Failed")):
            failures.append(message)
    return SenderResult(latencies, failures)


def send_all(
    port: int, aec: str, groups: list[list[str]], log_config: Path
) -> tuple[float, list[SenderResult]]:
    """One storescu per group, all at once (one association each); elapsed seconds and their results.

    Each storescu logs to its own file, not a pipe: a pipe read one sender after the other fills up
    (64 KiB, ~240 C-STOREs of log) and stalls the senders not being read, which then lose their
    association to the receiver's timeout.
    """
    logs = [log_config.with_name(f"storescu-{i}.log") for i in range(len(groups))]
    started = time.perf_counter()
    procs = []
    for group, log_path in zip(groups, logs, strict=True):
        with log_path.open("w") as log_file:
            procs.append(
                subprocess.Popen(
                    [
                        "storescu",
                        "-lc",
                        str(log_config),
                        "-aet",
                        "LOADSCU",
                        "-aec",
                        aec,
                        "127.0.0.1",
                        str(port),
                        *group,
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
    for proc in procs:
        proc.wait()
    elapsed = time.perf_counter() - started
    results = [parse_storescu_log(log_path.read_text(errors="replace")) for log_path in logs]
    for proc, result in zip(procs, results, strict=True):
        if proc.returncode != 0 and not result.failures:
            result.failures.append(f"storescu exited with {proc.returncode}")
    return elapsed, results


class RssSampler:
    """Samples the resident memory of a process and its children every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._rss())
            except psutil.NoSuchProcess:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return max(self.samples, default=0) / 2**20

    @property
    def growth(self) -> float:
        """Mean RSS of the last quarter of the samples over the first quarter (1.0 = flat)."""
        quarter = max(1, len(self.samples) // 4)
        first, last = self.samples[:quarter], self.samples[-quarter:]
        return statistics.fmean(last) / statistics.fmean(first) if first else float("nan")


@dataclass
class RunFigures:
    label: str
    instances: int
    seconds: float
    p50_ms: float
    p99_ms: float
    peak_rss_mib: float
    rss_growth: float
    failures: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.instances / self.seconds


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_against(
    label: str,
    start: Callable[[Path], tuple[subprocess.Popen[bytes], int]],
    aec: str,
    workdir: Path,
    groups: list[list[str]],
) -> RunFigures:
    run_dir = Path(tempfile.mkdtemp(dir=workdir, prefix=label))
    log_config = run_dir / "storescu-log.cfg"
    log_config.write_text(_LOG_CONFIG)
    proc, port = start(run_dir)
    try:
        with RssSampler(proc.pid) as rss:
            seconds, results = send_all(port, aec, groups, log_config)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)
    latencies = [x for r in results for x in r.latencies]
    return RunFigures(
        label=label,
        instances=len(latencies),
        seconds=seconds,
        p50_ms=1000 * _percentile(latencies, 0.50) if latencies else float("nan"),
        p99_ms=1000 * _percentile(latencies, 0.99) if latencies else float("nan"),
        peak_rss_mib=rss.peak_mib,
        rss_growth=rss.growth,
        failures=[f for r in results for f in r.failures],
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--count", type=int, default=500, help="instances per sender")
    parser.add_argument("--size", type=int, default=128, help="rows and columns of each CT instance")
    parser.add_argument("--quick", action="store_true", help="50 instances per sender (overrides --count)")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="run the node with storage.fsync off (what durability costs; not the goal's configuration)",
    )
    parser.add_argument(
        "--receiver-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="node.receiver_processes for the node run (default: one per core); with more than 1, the "
        "node also runs once with a single process for comparison",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    count = 50 if args.quick else args.count
    if shutil.which("storescp") is None or shutil.which("storescu") is None:
        print("storescp/storescu not found: install DCMTK (make system-deps)", file=sys.stderr)
        return 2
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    total = args.senders * count
    print(f"generating {args.senders} x {count} CT instances of {args.size}x{args.size}", file=sys.stderr)
    groups = [
        [str(p) for p in ct_series(workdir / f"series{i}", Patient(), slices=count, size=args.size)]
        for i in range(args.senders)
    ]
    counts = sorted({1, max(1, args.receiver_processes)})
    figures = [
        run_against("storescp", lambda d: start_storescp(d, fork=True), "STORESCP", workdir, groups),
        *(
            run_against(
                f"dicom-node x{n}",
                lambda d, n=n: start_node(
                    d, max_associations=args.senders + 4, fsync=not args.no_fsync, receiver_processes=n
                ),
                "AI_NODE",
                workdir,
                groups,
            )
            for n in counts
        ),
    ]
    print(f"{args.senders} senders x {count} instances = {total} C-STOREs per receiver")
    print(
        f"{'receiver':14} {'inst/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>13} "
        f"{'RSS last/first q':>17} {'failures':>9}"
    )
    for f in figures:
        print(
            f"{f.label:14} {f.throughput:8.1f} {f.p50_ms:8.2f} {f.p99_ms:8.2f} {f.peak_rss_mib:13.1f} "
            f"{f.rss_growth:17.2f} {len(f.failures):9d}"
        )
    reference, node = figures[0], figures[-1]
    print(
        f"throughput ratio {node.label} / storescp: {node.throughput / reference.throughput:.2f} "
        "(goal >= 1.2)"
    )
    if args.no_fsync:
        print("dicom-node ran with storage.fsync OFF (context only): a committed ledger row before Success;")
    else:
        print("dicom-node acknowledges after fsync of file and folder and a committed ledger row;")
    print("storescp --fork writes without fsync, one process per association (RSS: the whole tree).")
    shutil.rmtree(workdir, ignore_errors=True)
    failures = [x for f in figures for x in f.failures]
    for failure in failures[:20]:
        print(f"FAILED {failure}", file=sys.stderr)
    missing = [f.label for f in figures if f.instances != total]
    if missing:
        print(f"not every C-STORE was answered by: {', '.join(missing)}", file=sys.stderr)
    return 1 if failures or missing else 0


if __name__ == "__main__":
    sys.exit(main())
