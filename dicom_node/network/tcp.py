"""TCP options for DICOM connections, in and out.

Nagle's algorithm holds back a small segment while an earlier one is unacknowledged, and the peer
delays its ACK (40 ms on Linux). A C-STORE is a few PDUs written one after the other, the last of them
usually short, so with Nagle on every object waits for a delayed ACK: measured on loopback with 32 KB CT
instances, pynetdicom's SCU sends 19 objects/s to a DCMTK ``storescp`` with Nagle on and 109 with it
off. Every DICOM connection the node opens or accepts therefore sets ``TCP_NODELAY`` (DCMTK does the
same when its ``TCP_NODELAY`` environment variable is set; Orthanc sets it by default).
"""

from __future__ import annotations

import socket

from pynetdicom.events import Event


def no_delay(sock: socket.socket) -> None:
    """Turn Nagle's algorithm off on ``sock`` (no-op on sockets that are not TCP)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def no_delay_on_open(event: Event) -> None:
    """pynetdicom ``EVT_CONN_OPEN`` handler for outgoing associations: :func:`no_delay` on the socket."""
    transport = event.assoc.dul.socket
    if transport is not None and transport.socket is not None:
        no_delay(transport.socket)
