"""DICOM TLS: DCMTK echoscu/storescu with +tls against the node, with a test CA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dicom_node.node import Node
from tests.support.dcmtk import echoscu, storescu
from tests.support.pki import make_pki, self_signed


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_required_and_verified(start_node: Callable[..., Node], pki: Path, ct_files: list[Path]) -> None:
    node = start_node(
        node={
            "tls": {
                "cert": str(pki / "server.crt"),
                "key": str(pki / "server.key"),
                "ca": str(pki / "ca.crt"),
                "require_client_cert": True,
            }
        }
    )
    tls = ["+tls", str(pki / "client.key"), str(pki / "client.crt"), "+cf", str(pki / "ca.crt")]
    assert echoscu(node.port, *tls).returncode == 0
    stored = storescu(node.port, ct_files, *tls)
    assert stored.returncode == 0, stored.stderr
    assert node.ledger.counts()["instances"] == len(ct_files)
    assert echoscu(node.port).returncode != 0  # a plain connection is refused
    # a client without a certificate signed by our CA is refused too
    self_signed(pki, "intruder")
    intruder = ["+tls", str(pki / "intruder.key"), str(pki / "intruder.crt"), "+cf", str(pki / "ca.crt")]
    assert echoscu(node.port, *intruder).returncode != 0
