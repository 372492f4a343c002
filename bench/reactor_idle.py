"""Idle CPU of the event-driven association reactor against pynetdicom's stock one, in one run.

Serves N idle associations with each reactor in turn (same process, same AE settings): the associations
are held open by pynetdicom requestors in a child process, so only the acceptor side's CPU is counted.
For each, the process's CPU time over a quiet window is measured; the result is CPU seconds per
association per second and the ratio stock / event-driven.

    PYTHONPATH=$PWD python bench/reactor_idle.py [--associations 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import threading
import time

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import RequestHandler

from dicom_node.network.reactor import EventDrivenRequestHandler

# The child: open N associations, say so, hold them until its stdin closes, release them.
HOLDER = textwrap.dedent(
    """
    import sys
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification
    port, count = int(sys.argv[1]), int(sys.argv[2])
    ae = AE(ae_title="IDLE")
    ae.add_requested_context(Verification)
    ae.network_timeout = None
    held = [ae.associate("127.0.0.1", port, ae_title="BENCH") for _ in range(count)]
    print(sum(a.is_established for a in held), flush=True)
    sys.stdin.read()
    for a in held:
        a.release()
    """
)


def idle_cpu(handler: type[RequestHandler], associations: int, seconds: float) -> float:
    """CPU seconds per association per second while ``associations`` idle ones are served."""
    ae = AE(ae_title="BENCH")
    ae.add_supported_context(Verification)
    ae.maximum_associations = associations
    ae.network_timeout = None
    server = ae.make_server(("127.0.0.1", 0), request_handler=handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ae._servers.append(server)
    port = int(server.server_address[1])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(port), str(associations)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        established = int(holder.stdout.readline())
        if established != associations:
            raise RuntimeError(f"only {established} of {associations} associations were established")
        time.sleep(1.0)  # let the associations settle
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        holder.stdin.close()
        holder.wait(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
        ae.shutdown()
    return cpu / wall / associations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--associations", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    stock = idle_cpu(RequestHandler, args.associations, args.seconds)
    event_driven = idle_cpu(EventDrivenRequestHandler, args.associations, args.seconds)
    print(f"idle associations: {args.associations}, window: {args.seconds:.0f} s, cpus: {os.cpu_count()}")
    print(f"pynetdicom stock reactor : {stock * 1000:8.3f} ms CPU per association per second")
    print(f"event-driven reactor     : {event_driven * 1000:8.3f} ms CPU per association per second")
    print(f"ratio stock / event-driven: {stock / event_driven if event_driven else float('inf'):.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
