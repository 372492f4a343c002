"""The event-driven association reactor (``dicom_node.network.reactor``), tested on its own.

A pynetdicom AE served by :class:`EventDrivenRequestHandler` (as the receiver serves it) meets real
peers: DCMTK's echoscu releases or aborts, a pynetdicom requestor stays silent until the network
timeout drops it, or stays idle while the reactor's wake-ups are counted. The guard tests fail when the
pynetdicom methods the reactor copies change upstream (``reactor_upstream.REPLACED``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import AssociationSocket, ThreadedAssociationServer

from dicom_node.network import reactor, reactor_upstream
from dicom_node.network.reactor import EventDrivenDUL, EventDrivenRequestHandler
from tests.support.dcmtk import echoscu
from tests.support.ports import wait_for


@dataclass
class Served:
    """An in-process SCP on the event-driven reactor, and the association events it saw."""

    ae: AE
    server: ThreadedAssociationServer
    events: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def idle(self) -> bool:
        return not self.server.active_associations


def serve(network_timeout: float | None = 30) -> Served:
    ae = AE(ae_title="AI_NODE")
    ae.add_supported_context(Verification)
    ae.network_timeout = network_timeout
    events: list[str] = []

    def record(name: str) -> Callable[[Event], Any]:
        def handler(event: Event) -> int:
            events.append(name)
            return 0x0000

        return handler

    handlers: list[Any] = [
        (evt.EVT_C_ECHO, record("echo")),
        (evt.EVT_RELEASED, record("released")),
        (evt.EVT_ABORTED, record("aborted")),
    ]
    server = ae.make_server(
        ("127.0.0.1", 0), evt_handlers=handlers, request_handler=EventDrivenRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ae._servers.append(server)
    return Served(ae, server, events)


@pytest.fixture
def scp() -> Iterator[Served]:
    served = serve()
    yield served
    served.ae.shutdown()


def test_a_released_association_is_answered_and_its_threads_end(scp: Served) -> None:
    result = echoscu(scp.port)
    assert result.returncode == 0, result.stderr
    wait_for(scp.idle, timeout=10, what="the association threads to end")
    assert scp.events == ["echo", "released"]


def test_an_aborted_association_ends_without_a_release(scp: Served) -> None:
    result = echoscu(scp.port, "--abort")
    assert result.returncode == 0, result.stderr
    wait_for(scp.idle, timeout=10, what="the association threads to end")
    assert scp.events == ["echo", "aborted"]


def test_a_silent_peer_is_aborted_at_the_network_timeout() -> None:
    served = serve(network_timeout=0.5)
    requestor = AE(ae_title="SILENT")
    requestor.add_requested_context(Verification)
    try:
        assoc = requestor.associate("127.0.0.1", served.port, ae_title="AI_NODE")
        assert assoc.is_established
        wait_for(lambda: assoc.is_aborted, timeout=20, what="the network timeout to abort")
        wait_for(served.idle, timeout=10, what="the association threads to end")
        assert served.events == ["aborted"]
    finally:
        requestor.shutdown()
        served.ae.shutdown()


def test_an_idle_association_waits_instead_of_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the timer check pushed out to 30 s, the DUL thread of an idle association looks at its
    socket only when something arrives (pynetdicom's loop would look about 1000 times a second), and an
    echo and a release are still served at once: the wake-ups come from the work, not the timer."""
    monkeypatch.setattr(reactor, "TIMER_CHECK_S", 30.0)
    looks = 0
    original = EventDrivenDUL._select

    def counting_select(self: EventDrivenDUL) -> None:
        nonlocal looks
        looks += 1
        original(self)

    monkeypatch.setattr(EventDrivenDUL, "_select", counting_select)
    served = serve()
    requestor = AE(ae_title="IDLE")
    requestor.add_requested_context(Verification)
    requestor.dimse_timeout = 10  # far below the 30 s timer: only a wake-up can answer in time
    requestor.acse_timeout = 10
    try:
        assoc = requestor.associate("127.0.0.1", served.port, ae_title="AI_NODE")
        assert assoc.is_established
        before = looks
        time.sleep(1.0)  # idle: no PDU, no primitive, no timer due
        idle_looks = looks - before
        status = assoc.send_c_echo()
        assert status is not None and status.Status == 0x0000
        assoc.release()
        assert assoc.is_released
        wait_for(served.idle, timeout=10, what="the association threads to end")
        assert served.events == ["echo", "released"]
        assert idle_looks <= 2, f"{idle_looks} looks at the socket in an idle second"
    finally:
        requestor.shutdown()
        served.ae.shutdown()


# -- the guard: the upstream methods the reactor copies have not changed ------------------------------
def test_the_copied_pynetdicom_methods_are_unchanged_upstream() -> None:
    assert reactor_upstream.drift() == [], (
        "pynetdicom changed methods that dicom_node/network/reactor.py copies or overrides: port the "
        "change into the copy, then update the hashes in reactor_upstream.REPLACED"
    )


def test_the_guard_fails_on_a_modified_copy_of_an_upstream_method() -> None:
    name = "pynetdicom.dul:DULServiceProvider.run_reactor"
    upstream = reactor_upstream.upstream_source(name)
    modified = upstream.replace("time.sleep(self._run_loop_delay)", "time.sleep(0.002)")
    assert modified != upstream  # the copy really differs (the 1 ms poll the reactor replaces)

    def source(qualified: str) -> str:
        return modified if qualified == name else reactor_upstream.upstream_source(qualified)

    assert reactor_upstream.drift(source=source) == [name]


def test_the_private_pynetdicom_names_the_reactor_uses_exist() -> None:
    assert reactor_upstream.missing_private_names() == []
    assoc = reactor.EventDrivenAssociation(AE(), MODE_ACCEPTOR)
    raw = socket.socket()
    owners: dict[str, Any] = {
        "Association": assoc,
        "DULServiceProvider": assoc.dul,
        "AssociationSocket": AssociationSocket(assoc, client_socket=raw),
        "ThreadedAssociationServer": serve().server,
    }
    try:
        for owner, names in reactor_upstream.PRIVATE_ATTRIBUTES.items():
            assert [n for n in names if not hasattr(owners[owner], n)] == [], owner
    finally:
        raw.close()
        assoc.dul._wake_recv.close()  # the DUL thread, never started, would close them on exit
        assoc.dul._wake_send.close()
        owners["ThreadedAssociationServer"].shutdown()
        owners["ThreadedAssociationServer"].server_close()
