"""Event-driven association reactors: pynetdicom's acceptor, without its millisecond polling.

pynetdicom runs two threads per association, and both poll: the DUL reactor sleeps 1 ms between looks
at its socket and queues, and the association reactor sleeps 1 ms between looks for a DIMSE message.
With 20 concurrent senders that is 40 threads waking 40,000 times a second to find nothing, all
contending for the GIL with the threads that do the work (measured: about half of the node's CPU time
under load). Here both threads block until something happens instead:

* the DUL thread waits in ``select`` on its socket and on a wake-up socket pair, which a put into its
  queues (primitives to send, state-machine events) or a stop request writes to while it waits;
* the association thread waits on an event that the DIMSE message queue, the DUL's queue towards the
  user, and the DUL thread's exit set.

Both still wake every :data:`TIMER_CHECK_S` to check pynetdicom's ARTIM and network-idle timers.
PDUs are read in as few ``recv`` calls as the kernel allows (pynetdicom reads 4 KiB at a time).
Everything else, the state machine and the order of the checks, is pynetdicom's own.
The pynetdicom methods copied here are guarded by :mod:`dicom_node.network.reactor_upstream` (a test
fails when their source changes); docs/reactor-upstream.md proposes the change upstream.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import ssl
import threading
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime
from typing import Any, cast

from pynetdicom import evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.transport import AssociationSocket, RequestHandler

from dicom_node.logsetup import get_logger

log = get_logger("dicom_node.reactor")

# How often an idle reactor still wakes, for the ARTIM and network-idle timers (seconds)
TIMER_CHECK_S = 0.05


class SignallingQueue(queue.Queue[Any]):
    """A queue that calls ``signal`` after every put (wakes whoever waits on it elsewhere)."""

    def __init__(self, signal: Callable[[], None]) -> None:
        super().__init__()
        self._signal = signal

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._signal()


class WholePDUSocket(AssociationSocket):
    """pynetdicom's association socket, reading a PDU in as few ``recv`` calls as the kernel allows.

    pynetdicom reads in 4 KiB pieces; each is a system call that gives up and takes back the GIL, which
    under many concurrent associations costs more than the copy. Same contract: returns fewer bytes than
    asked for only when the peer closed the connection.
    """

    def recv(self, nr_bytes: int) -> bytearray:
        assert self.socket is not None
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        nr_read = 0
        while nr_read < nr_bytes:
            received = self.socket.recv_into(view[nr_read:], nr_bytes - nr_read)
            if not received:
                break
            nr_read += received
        view.release()
        del buffer[nr_read:]
        return buffer


class EventDrivenDUL(DULServiceProvider):
    """The DUL reactor blocking in ``select`` (socket + wake-up pair) instead of sleeping 1 ms a loop."""

    def __init__(self, assoc: Association, on_user_item: Callable[[], None]) -> None:
        super().__init__(assoc)
        self._wake_recv, self._wake_send = socket.socketpair()
        self._wake_recv.setblocking(False)
        self._wake_send.setblocking(False)
        self.event_queue = SignallingQueue(self.wake)
        self.to_provider_queue = SignallingQueue(self.wake)
        self.to_user_queue = SignallingQueue(on_user_item)
        self._on_exit = on_user_item
        self._waiting = False  # set (under the GIL) before the reactor's last look at its queues

    def wake(self) -> None:
        """Wake the reactor if it waits (puts by the reactor's own thread, while it runs, cost nothing)."""
        if not self._waiting:
            return
        with contextlib.suppress(OSError):  # full (a wake-up is already pending) or closed
            self._wake_send.send(b"\0")

    def kill_dul(self) -> None:
        super().kill_dul()
        self.wake()

    def stop_dul(self) -> bool:
        if self.state_machine.current_state == "Sta1":
            self._kill_thread = True
            self.wake()
            while self.is_alive() and threading.current_thread() is not self:
                self.join(TIMER_CHECK_S)
            return True
        return False

    def _has_work(self) -> bool:
        return bool(self._kill_thread or self.to_provider_queue.queue or self.event_queue.queue)

    def _wait_for_work(self) -> None:
        """Block until the socket has data, a queue got an item, a stop was asked, or a timer is due.

        ``_waiting`` is raised before the queues are looked at once more: a put that comes after that
        look sees the flag and writes to the wake-up pair; one that comes before it is found by the look.
        """
        self._waiting = True
        try:
            if not self._has_work():
                self._select()
        finally:
            self._waiting = False

    def _select(self) -> None:
        watched: list[Any] = [self._wake_recv]
        transport = self.socket
        raw = transport.socket if transport is not None and transport._is_connected else None
        if raw is not None:
            if isinstance(raw, ssl.SSLSocket) and raw.pending():
                return
            watched.append(raw)
        try:
            readable, _, _ = select.select(watched, [], [], TIMER_CHECK_S)
        except (OSError, ValueError):  # socket closed under us: the transport check reports it
            return
        if self._wake_recv in readable:
            with contextlib.suppress(OSError):
                while self._wake_recv.recv(4096):
                    pass

    def run_reactor(self) -> None:
        """pynetdicom's DUL loop (``DULServiceProvider.run_reactor``) with the sleep replaced by a wait."""
        try:
            self._run()
        finally:
            self._wake_recv.close()
            self._wake_send.close()
            self._on_exit()

    def _run(self) -> None:
        self._idle_timer.start()
        self.socket = cast(AssociationSocket, self.socket)
        idle = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
            if idle:
                self._wait_for_work()
            if self._kill_thread:
                break
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                if self._process_recv_primitive():
                    pass
                elif self._is_transport_event():
                    self._idle_timer.restart()
            except Exception as exc:
                log.error("dul_reactor_failed", error=f"{type(exc).__name__}: {exc}")
                abort_pdu = A_ABORT_RQ()
                abort_pdu.source = 0x02
                abort_pdu.reason_diagnostic = 0x00
                with contextlib.suppress(OSError):
                    self.socket.send(abort_pdu.encode())
                self.assoc.is_aborted = True
                self.assoc.is_established = False
                self.assoc._kill = True
                self._kill_thread = True
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                idle = True
                continue
            self.state_machine.do_action(event)
            idle = False


class EventDrivenAssociation(Association):
    """An acceptor whose reactor waits for DIMSE messages and DUL events instead of polling every 1 ms."""

    def __init__(self, ae: Any, mode: str) -> None:
        super().__init__(ae, mode)
        self._wakeup = threading.Event()
        self.dul = EventDrivenDUL(self, self._wakeup.set)
        # pynetdicom's __init__ set the network timeout on the DUL it made; a new DUL starts at 60 s
        self.network_timeout = self.network_timeout
        self.dimse.msg_queue = SignallingQueue(self._wakeup.set)

    def kill(self) -> None:
        self._wakeup.set()
        super().kill()

    def _run_reactor(self) -> None:
        """pynetdicom's acceptor loop (``Association._run_reactor``) with the sleep replaced by a wait."""
        self._is_paused = False
        while not self._kill:
            self._wakeup.wait(TIMER_CHECK_S)
            self._wakeup.clear()

            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False

            while not self._kill:  # every DIMSE message waiting, not one per wake-up
                context_id, msg = self.dimse.get_msg(block=False)
                if not msg:
                    break
                self._serve_request(msg, cast(int, context_id))

            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return

            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)  # so that EVT_ACSE_RECV fires
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return

            if not self.dul.is_alive():
                self.kill()
                return

            if self.dul.idle_timer_expired():
                log.warning("association_network_timeout")
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()


class EventDrivenRequestHandler(RequestHandler):
    """pynetdicom's request handler, creating :class:`EventDrivenAssociation` acceptors.

    ``_create_association`` is pynetdicom's own (``RequestHandler._create_association``), class aside.
    """

    def _create_association(self) -> Association:
        assoc = EventDrivenAssociation(self.ae, MODE_ACCEPTOR)
        assoc._server = self.server
        assoc.name = f"AcceptorThread@{datetime.now():%Y%m%d%H%M%S}"
        assoc.set_socket(WholePDUSocket(assoc, client_socket=self.request))
        assoc.acceptor.maximum_length = self.ae.maximum_pdu_size
        assoc.acceptor.ae_title = self.server.ae_title
        assoc.acceptor.address_info = self.local
        assoc.acceptor.implementation_class_uid = self.ae.implementation_class_uid
        assoc.acceptor.implementation_version_name = self.ae.implementation_version_name
        assoc.acceptor.supported_contexts = deepcopy(self.server.contexts)
        assoc.requestor.address_info = self.remote
        for event, handlers in self.server._handlers.items():
            if event.is_intervention and handlers:
                assoc.bind(event, *handlers)
            elif isinstance(event, evt.NotificationEvent):
                for handler in handlers:
                    function, args = cast(tuple[Callable[..., Any], list[Any] | None], handler)
                    assoc.bind(event, function, args)
        return assoc
