"""What :mod:`dicom_node.network.reactor` copies from pynetdicom, and a check that it has not moved.

The reactor replaces a few pynetdicom methods with copies that wait instead of polling, and relies on
pynetdicom's private names. :data:`REPLACED` records the hash of the upstream source each copy was made
from; :func:`drift` names those whose source differs in the installed pynetdicom, so that an upgrade
that changes them fails a test (``tests/node/test_reactor.py``) instead of silently diverging.
When pynetdicom is upgraded: compare each drifted method with its copy in ``reactor.py``, port the
change, then update the hash here. See docs/reactor-upstream.md.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

# "module:Qualified.name" -> sha256 (first 16 hex digits) of its inspect.getsource, dedented.
# Copied (the loop with its 1 ms sleep replaced by a wait):
#   DULServiceProvider.run_reactor, Association._run_reactor, RequestHandler._create_association;
# overridden (extended, calling the upstream one) or relied upon for the attributes the copies use:
#   the others.
REPLACED: dict[str, str] = {
    "pynetdicom.dul:DULServiceProvider.run_reactor": "780cd7ed323ef3bb",
    "pynetdicom.association:Association._run_reactor": "cbf8d3c3eb37093a",
    "pynetdicom.transport:RequestHandler._create_association": "4ad65038b9aedd36",
    "pynetdicom.transport:AssociationSocket.recv": "0c5fbc85ac69f1b2",
    "pynetdicom.dul:DULServiceProvider.__init__": "6ba6c0a89a5ab52a",
    "pynetdicom.dul:DULServiceProvider.stop_dul": "2d3c60aed053f592",
    "pynetdicom.dul:DULServiceProvider.kill_dul": "81a5917503d167bf",
    "pynetdicom.association:Association.__init__": "37cd0192fe87ffd1",
    "pynetdicom.association:Association.kill": "531f3ec8d4df979a",
    "pynetdicom.transport:AssociationSocket.__init__": "bdf9c81c82dd508f",
    "pynetdicom.transport:ThreadedAssociationServer.__init__": "c8e7a80c8793ae78",
}

# Private names of pynetdicom the reactor reads or calls, by the upstream object that defines them.
PRIVATE_NAMES: dict[str, tuple[str, ...]] = {
    "pynetdicom.association:Association": ("_serve_request", "_run_reactor"),
    "pynetdicom.dul:DULServiceProvider": ("_process_recv_primitive", "_is_transport_event"),
    "pynetdicom._globals": ("MODE_ACCEPTOR",),
}
# Private attributes set in the __init__ of upstream objects (covered by the __init__ hashes above).
PRIVATE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Association": ("_dul_ready", "_reactor_checkpoint", "_is_paused", "_kill", "_server"),
    "DULServiceProvider": ("_idle_timer", "_kill_thread"),
    "AssociationSocket": ("_is_connected",),
    "ThreadedAssociationServer": ("_handlers",),
}


def resolve(name: str) -> Any:
    """The object named ``module:Qualified.name`` (or a bare ``module``)."""
    module_name, _, qualname = name.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split(".") if qualname else ():
        target = getattr(target, part)
    return target


def source_hash(source: str) -> str:
    return hashlib.sha256(textwrap.dedent(source).encode()).hexdigest()[:16]


def upstream_source(name: str) -> str:
    return inspect.getsource(resolve(name))


def drift(
    recorded: Mapping[str, str] = REPLACED, source: Callable[[str], str] = upstream_source
) -> list[str]:
    """The names in ``recorded`` whose source (from ``source``) no longer has the recorded hash."""
    return [name for name, digest in recorded.items() if source_hash(source(name)) != digest]


def missing_private_names() -> list[str]:
    """``owner.name`` for each private name in :data:`PRIVATE_NAMES` the installed pynetdicom lacks."""
    return [
        f"{owner}.{name}"
        for owner, names in PRIVATE_NAMES.items()
        for name in names
        if not hasattr(resolve(owner), name)
    ]
