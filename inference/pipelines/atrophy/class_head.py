"""The optional trained class head of the atrophy pipeline (``params.head``): dementia / MCI / normal.

A head bundle is written by ``dicom-node train atrophy``. A demonstration head (trained on synthetic data)
gives its class as text, never as a coded diagnosis (docs/outputs.md).
"""

from __future__ import annotations

from pathlib import Path

from pydicom.sr.coding import Code

from inference.pipeline import Finding, Note
from inference.pipelines.atrophy.features import RegionalFeatures

LOCAL_SCHEME = "99DCMNODE"
COGNITIVE_CLASS = Code("COGCLASS", LOCAL_SCHEME, "Cognitive status class (trained head)")
CLASS_CODES = (
    Code("DEMENTIA", LOCAL_SCHEME, "Dementia"),
    Code("MCI", LOCAL_SCHEME, "Mild cognitive impairment"),
    Code("17621005", "SCT", "Normal"),
)
# With a demonstration head (trained on synthetic data) the class, and every other verdict of that run
# (the output is a demonstration: no coded diagnosis in it), are text.
DEMONSTRATION_CAVEAT = "demonstration weights (class head trained on synthetic data), not a diagnosis"


class ClassHead:
    """A head bundle written by ``dicom-node train atrophy``: gives the dementia / MCI / normal class."""

    def __init__(self, path: Path, device: str) -> None:
        from inference.bundle import load_bundle
        from inference.pipelines.atrophy.head_bundle import head_block

        self.bundle = load_bundle(path, device)
        block = head_block(path, self.bundle.metadata)
        self.names: list[str] = [str(n) for n in block["class_names"]]
        self.demonstration = bool(block.get("demonstration", False))

    def classify(self, features: RegionalFeatures) -> tuple[Finding | Note, str]:
        """The class and the summary line: a coded finding with its probability, or for a demonstration
        head (trained on synthetic data) a Note, never a coded diagnosis."""
        from inference.pipelines.atrophy.head import predict

        _, probabilities = predict(self.bundle.network, features.vector()[None, :])
        index = int(probabilities[0].argmax())
        probability = float(probabilities[0, index])
        note = ", DEMONSTRATION weights" if self.demonstration else ""
        line = (
            f"Dementia / MCI / normal class (trained head {self.bundle.version}{note}, research): "
            f"{self.names[index]} (p {probability:.2f})"
        )
        found = Finding(COGNITIVE_CLASS, CLASS_CODES[index], probability=round(probability, 4))
        return (Note(found.as_text(DEMONSTRATION_CAVEAT)) if self.demonstration else found), line
