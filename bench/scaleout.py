"""Scale-out throughput: series/minute with 1 and with 2 `dicom-node worker` processes (celery backend).

`bench/scaleout.py [--series N] [--slices S] [--size PX]` generates N CT series once, then for each worker
count: a fresh redis-server, a `dicom-node serve --no-workers` receiver (execution.backend: celery) and
its ledger; all series are sent and routed to the CPU-bound ``qc`` pipeline before any worker starts;
then K worker processes (``--concurrency 1 --threads 1`` each) drain the queue. The rate is measured in
the ledger: from the first job claimed to the last job finished. Prints both rates and the ratio (goal:
≥ 1.8× with 2 workers on 2 cores). Needs redis-server and DCMTK (storescu). On a machine shared with
other work the ratio is noisy: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import create_engine, func, select  # noqa: E402

from dicom_node.ledger import schema as t  # noqa: E402
from dicom_node.samples import Patient, ct_series  # noqa: E402
from tests.scaleout.services import RedisServer, WorkerProcess  # noqa: E402
from tests.support.dcmtk import storescu  # noqa: E402
from tests.support.node import ReceiverProcess  # noqa: E402
from tests.support.ports import wait_for  # noqa: E402


def job_states(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(t.jobs.c.state, func.count()).group_by(t.jobs.c.state)
            return {str(state): int(n) for state, n in conn.execute(query).all()}
    finally:
        engine.dispose()


def busy_window(url: str) -> float:
    """Seconds from the first claim of a job to the last job's final state change."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            first = conn.execute(
                select(func.min(t.events.c.ts)).where(t.events.c.message.like("queued → running%"))
            ).scalar_one()
            last = conn.execute(select(func.max(t.jobs.c.updated_at))).scalar_one()
            return float(last) - float(first)
    finally:
        engine.dispose()


def run_once(series: list[list[Path]], workers: int, workdir: Path) -> float:
    """Series per minute with ``workers`` worker processes on the already generated ``series``."""
    redis = RedisServer(workdir / "redis")
    redis.start()
    receiver = ReceiverProcess(
        workdir / "node",
        execution={"backend": "celery", "broker": redis.url, "lease_s": 60},
        rules=[{"name": "qc", "match": {"Modality": "CT"}, "pipeline": "qc"}],
        web={"enabled": False},
        logging={"level": "warning", "file": str(workdir / "node.log")},
    )
    url = f"sqlite:///{receiver.data['storage']['path']}/ledger.db"
    started: list[WorkerProcess] = []
    try:
        receiver.start()
        for files in series:
            result = storescu(receiver.port, files)
            if result.returncode != 0:
                raise RuntimeError(f"storescu failed: {result.stderr[-500:]}")
        wait_for(lambda: job_states(url).get("queued", 0) == len(series), timeout=120, what="routing")
        for i in range(workers):
            worker = WorkerProcess(
                receiver.config_path, receiver.workdir, f"bench{i}", "--concurrency", "1", "--threads", "1"
            )
            worker.start()
            started.append(worker)
        wait_for(
            lambda: job_states(url).get("delivered", 0) + job_states(url).get("failed", 0) == len(series),
            timeout=1800,
            interval=0.5,
            what="all jobs to finish",
        )
        if job_states(url).get("failed"):
            raise RuntimeError(f"jobs failed; see {workdir / 'node.log'}")
        return len(series) * 60.0 / busy_window(url)
    finally:
        for worker in started:
            worker.stop()
        receiver.stop()
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=12)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scaleout-bench-") as tmp:
        root = Path(tmp)
        series = [
            ct_series(root / "input" / f"s{i}", Patient(), slices=args.slices, size=args.size)
            for i in range(args.series)
        ]
        rates: dict[int, float] = {}
        for workers in (1, 2):
            began = time.monotonic()
            rates[workers] = run_once(series, workers, root / f"run{workers}")
            print(
                f"{workers} worker process(es): {rates[workers]:7.1f} series/min "
                f"({args.series} series of {args.slices}×{args.size}², qc; run took "
                f"{time.monotonic() - began:.0f} s)",
                flush=True,
            )
        ratio = rates[2] / rates[1]
        verdict = "meets" if ratio >= 1.8 else "below"
        print(f"ratio 2/1 workers: {ratio:.2f}× ({verdict} the ≥ 1.8× goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
