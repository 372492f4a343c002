"""The C-STORE / C-ECHO SCP (pynetdicom).

The store handler never decodes pixel data and never runs a pipeline: it hands the encoded bytes to
the :class:`~dicom_node.ingest.Ingestor` and maps the outcome to a DIMSE status in one place
(:func:`store_status`). Association-level policy (allowed callers and hosts, the called AE title when
``node.require_called_ae`` is set, the free-space floor, the association limit) is applied when the
association is requested, with a proper A-ASSOCIATE-RJ. Every accepted connection reads and writes
under ``node.network_timeout_s``, so a peer that stalls mid-PDU is dropped and frees its slot, and
with ``TCP_NODELAY`` (see :func:`dicom_node.network.tcp.no_delay`).
Associations run event-driven (:mod:`dicom_node.network.reactor`): their threads block until there is
work instead of polling, which is what lets many concurrent senders share the GIL with the ingest path.

Every storage SOP class is accepted, private ones included (pynetdicom's unrestricted storage
service), in the transfer syntax the sender proposes first; bytes are stored exactly as received.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from pydicom.dataset import Dataset
from pynetdicom import AE, _config, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StorageCommitmentPushModel,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from dicom_node.config import NodeConfig
from dicom_node.errors import InvalidDatasetError, StorageError, StorageFullError
from dicom_node.ingest import Ingestor
from dicom_node.logsetup import get_logger
from dicom_node.network.reactor import EventDrivenRequestHandler
from dicom_node.network.tcp import no_delay
from dicom_node.network.tls import server_context
from dicom_node.storage import Storage

log = get_logger("dicom_node.receiver")

# DIMSE statuses of the Storage Service Class (PS3.4 B.2.3)
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
OUT_OF_RESOURCES_STORAGE = 0xA701
CANNOT_UNDERSTAND = 0xC000
MISSING_UID = 0xC001
PROCESSING_FAILURE = 0x0110


def _status(code: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds


def store_status(exc: BaseException) -> Dataset:
    """Map an ingest failure to the status the sender sees (one place for every handler)."""
    if isinstance(exc, StorageFullError):
        return _status(OUT_OF_RESOURCES, "storage full on the receiving node")
    if isinstance(exc, InvalidDatasetError):
        code = MISSING_UID if "missing" in str(exc) else CANNOT_UNDERSTAND
        return _status(code, str(exc))
    if isinstance(exc, StorageError):
        return _status(OUT_OF_RESOURCES_STORAGE, "cannot store the instance")
    return _status(PROCESSING_FAILURE, "internal error in the receiving node")


class TimedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server, with the network timeout on every accepted connection.

    Python hands back accepted sockets in blocking mode, so without this a peer that stops in the middle
    of a PDU keeps its association thread (and a slot of ``max_associations``) forever: pynetdicom's
    timers are only checked between PDUs. TLS handshakes move from the accepting thread to the
    connection's own thread, so a peer that never finishes its handshake cannot stop others connecting.
    """

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        assert self.socket is not None
        client, address = self.socket.accept()
        client.settimeout(self.ae.network_timeout)
        no_delay(client)
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address

    def process_request_thread(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: tuple[str, int] | str,
    ) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (OSError, ssl.SSLError) as exc:
                log.warning("tls_handshake_failed", host=str(client_address[0]), reason=str(exc))
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)


class SharedListenerServer(TimedAssociationServer):
    """A server whose listening socket several processes accept on (``node.receiver_processes``).

    The node binds once; its extra receiver processes inherit the socket (``inherited_fd``) instead of
    binding, so no other program can join the port (as it could with ``SO_REUSEPORT``). The socket is
    non-blocking: every process wakes for a new connection, one accepts it, and the others' ``accept``
    fails with ``EAGAIN``, which ``socketserver`` ignores, instead of blocking their acceptor thread.
    """

    inherited_fd: ClassVar[int | None] = None

    def server_bind(self) -> None:
        if self.inherited_fd is None:
            super().server_bind()
        else:
            assert self.socket is not None
            self.socket.close()  # the one socketserver made; ours is already bound and listening
            self.socket = socket.socket(fileno=self.inherited_fd)
            self.server_address = self.socket.getsockname()
        assert self.socket is not None
        self.socket.setblocking(False)


def _server_class(shared: bool, listen_fd: int | None) -> type[TimedAssociationServer]:
    if listen_fd is not None:
        return type("InheritedListenerServer", (SharedListenerServer,), {"inherited_fd": listen_fd})
    return SharedListenerServer if shared else TimedAssociationServer


CommitmentHandler = Callable[[Event], tuple[int, Dataset | None]]


class Receiver:
    def __init__(
        self,
        config: NodeConfig,
        storage: Storage,
        ingestor: Ingestor,
        commitment_reports: CommitmentHandler | None = None,
    ) -> None:
        self.config = config
        self.commitment_reports = commitment_reports  # N-EVENT-REPORTs of Storage Commitment
        self.storage = storage
        self.ingestor = ingestor
        self._server: ThreadedAssociationServer | None = None
        self._active = 0
        self._lock = threading.Lock()
        self.received = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, listen_fd: int | None = None) -> int:
        """Start listening (non-blocking); returns the bound port (useful with port 0).

        ``listen_fd``: accept on this inherited, already listening socket instead of binding one (an
        extra receiver process, see :mod:`dicom_node.network.receiver_processes`).
        """
        _config.UNRESTRICTED_STORAGE_SERVICE = True
        ae = AE(ae_title=self.config.ae_title)
        ae.add_supported_context(Verification)
        if self.commitment_reports is not None:  # the archive reports as the SCP: accept its proposed roles
            ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        ae.maximum_associations = self.config.max_associations
        ae.acse_timeout = self.config.acse_timeout_s
        ae.dimse_timeout = self.config.dimse_timeout_s
        ae.network_timeout = self.config.network_timeout_s
        ae.maximum_pdu_size = self.config.maximum_pdu_size
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_RELEASED, self._on_closed),
            (evt.EVT_ABORTED, self._on_closed),
        ]
        if self.commitment_reports is not None:
            handlers.append((evt.EVT_N_EVENT_REPORT, self.commitment_reports))
        ssl_context = server_context(self.config.tls) if self.config.tls else None
        server = ae.make_server(
            (self.config.bind, self.config.port),
            evt_handlers=handlers,
            ssl_context=ssl_context,
            server_class=_server_class(self.config.receiver_processes > 1, listen_fd),
            request_handler=EventDrivenRequestHandler,
        )
        stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        threading.Thread(target=server.serve_forever, name=f"AcceptorServer@{stamp}", daemon=True).start()
        ae._servers.append(server)  # as AE.start_server does, so that AE.shutdown() stops it
        self._server = server
        port = int(server.server_address[1])
        log.info(
            "receiver_listening",
            ae_title=self.config.ae_title,
            port=port,
            tls=bool(ssl_context),
            pid=os.getpid(),
            inherited=listen_fd is not None,
        )
        return port

    @property
    def listen_fd(self) -> int:
        """The listening socket's descriptor (for the extra receiver processes to inherit)."""
        if self._server is None or self._server.socket is None:
            raise RuntimeError("the receiver is not listening")
        return int(self._server.socket.fileno())

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    @property
    def active_associations(self) -> int:
        return self._active

    # -- association policy ---------------------------------------------------------------------
    def _peer_allowed(self, ae_title: str, host: str) -> bool:
        allowed = self.config.allowed_calling_aets
        if not allowed:
            return True
        return any(p.ae_title == ae_title and (p.host is None or p.host == host) for p in allowed)

    def _on_requested(self, event: Event) -> None:
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling = str(primitive.calling_ae_title).strip() if primitive is not None else ""
        called = str(primitive.called_ae_title).strip() if primitive is not None else ""
        host = str(assoc.requestor.address)
        if self.config.require_called_ae and called != self.config.ae_title:
            log.warning(
                "association_rejected",
                calling_ae=calling,
                called_ae=called,
                host=host,
                reason="called AE is not this node",
            )
            assoc.acse.send_reject(0x01, 0x01, 0x07)  # permanent, service user, called AE not recognised
            assoc.kill()
            return
        if not self._peer_allowed(calling, host):
            log.warning(
                "association_rejected", calling_ae=calling, host=host, reason="calling AE not allowed"
            )
            assoc.acse.send_reject(0x01, 0x01, 0x03)  # permanent, service user, calling AE not recognised
            assoc.kill()  # wait until the A-ASSOCIATE-RJ is on the wire before the socket closes
            return
        if not self.storage.has_room():
            log.warning(
                "association_rejected", calling_ae=calling, host=host, reason="free space below floor"
            )
            assoc.acse.send_reject(0x02, 0x03, 0x02)  # transient, provider (presentation), local limit
            assoc.kill()

    def _on_established(self, event: Event) -> None:
        with self._lock:
            self._active += 1
        log.info(
            "association_established",
            calling_ae=str(event.assoc.requestor.ae_title).strip(),
            host=str(event.assoc.requestor.address),
            pid=os.getpid(),
        )

    def _on_closed(self, event: Event) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)

    # -- DIMSE ----------------------------------------------------------------------------------
    def _on_echo(self, event: Event) -> int:
        return SUCCESS

    def _on_store(self, event: Event) -> int | Dataset:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            encoded = event.encoded_dataset(include_meta=True)
            result = self.ingestor.store(encoded, calling)
        except Exception as exc:
            status = store_status(exc)
            level = "error" if not isinstance(exc, InvalidDatasetError | StorageFullError) else "warning"
            getattr(log, level)(
                "store_failed",
                calling_ae=calling,
                status=f"0x{int(status.Status):04X}",
                reason=str(exc),
                sop_class=str(event.request.AffectedSOPClassUID),
                exc_info=level == "error",
            )
            return status
        self.received += 1
        log.debug(
            "stored",
            calling_ae=calling,
            series_id=result.series_id,
            revision=result.revision,
            duplicate=result.duplicate,
        )
        return SUCCESS
