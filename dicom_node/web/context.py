"""What the web app reads and acts on: the node's parts, or the same parts without a running node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from dicom_node.config import Config
from dicom_node.ingest import Ingestor
from dicom_node.ledger import Ledger
from dicom_node.routing.rules import Rule, compile_rules
from dicom_node.storage import Storage
from dicom_node.web.phi import load_key

if TYPE_CHECKING:
    from dicom_node.node import Node


@dataclass
class WebParts:
    config: Config
    ledger: Ledger
    storage: Storage
    rules: list[Rule]
    active_associations: Callable[[], int] = lambda: 0
    receiving: Callable[[], bool] | None = None  # None: no receiver in this process (not checked)
    wake_workers: Callable[[], None] = lambda: None
    ingestor: Ingestor | None = None  # None: no receiver in this process (STOW-RS answers 503)

    @cached_property
    def pseudonym_key(self) -> bytes:
        return load_key(self.storage.root)

    @classmethod
    def from_node(cls, node: Node) -> WebParts:
        return cls(
            config=node.config,
            ledger=node.ledger,
            storage=node.storage,
            rules=node.rules,
            active_associations=lambda: node.receiver.active_associations,
            receiving=lambda: node.port is not None,
            wake_workers=node.executor.wake,
            ingestor=node.ingestor,
        )

    @classmethod
    def offline(cls, config: Config, ledger: Ledger, storage: Storage) -> WebParts:
        """Parts for a web server beside a node in another process (no receiver, no workers here)."""
        return cls(config=config, ledger=ledger, storage=storage, rules=compile_rules(config.rules))


def as_parts(node_or_parts: Node | WebParts) -> WebParts:
    if isinstance(node_or_parts, WebParts):
        return node_or_parts
    return WebParts.from_node(node_or_parts)
