"""`dicom-node viewer`: look at a folder of DICOM files (the demo PACS by default) in OHIF, on loopback."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

HELP = "serve DICOM folders (default: the demo's studies and results) in the OHIF viewer on 127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path("var/demo/studies"), Path("var/demo/pacs")],
        help="DICOM files or folders (default: the demo's sources and its PACS, where the results went)",
    )
    parser.add_argument("--port", type=int, default=0, help="OHIF's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--orthanc-port", type=int, default=0, help="Orthanc's HTTP port (default: free)")
    parser.add_argument(
        "--ohif-dist", type=Path, default=None, help="OHIF 3.13.2 site (default: .ohif/dist from `make ohif`)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("var/viewer"), help="Orthanc storage, logs")


def run(args: argparse.Namespace) -> int:
    from dicom_node.errors import InputError
    from dicom_node.viewer import OhifServer

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise InputError(f"no such file or folder: {', '.join(missing)} (run `make demo` for the demo PACS)")
    server = OhifServer(args.workdir, args.ohif_dist, http_port=args.port, orthanc_port=args.orthanc_port)
    server.start()
    try:
        stored = server.upload(args.paths)
        print(f"{stored} DICOM instances loaded from {', '.join(map(str, args.paths))}")
        print(f"OHIF viewer: {server.url}/   (Orthanc: {server.orthanc_url}/app/explorer.html)")
        print("Ctrl-C stops both servers.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        server.stop()
    return 0
