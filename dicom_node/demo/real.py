"""Real inputs for the demo: one series per mission pipeline from the repository's tests/data.

The RSNA chest CR (rds; routed by the demo's existing neonatal-cxr rule), the Siemens XA30 enhanced 3D
T1 (atrophy) and the Siemens mosaic resting-state EPI (fmri), each with its SOURCE.md and licence beside
it in tests/data. They are copied as DICOM Part 10 files (some lack the preamble) and sent to the node
with the synthetic studies; the results land in the demo PACS, where `dicom-node viewer` shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.uid import ImplicitVRLittleEndian

# (pipeline, path under the data folder)
REAL_SERIES: tuple[tuple[str, str], ...] = (
    ("rds", "cxr/torchxrayvision/rsna_cr_jpeg_baseline.dcm"),
    ("atrophy", "dcm_qa_xa30/In/5_anat-T1w_acq-tfl"),
    ("fmri", "dcm_qa_nih/In/20180918Si/mr_0003"),
)

# rules for the real MR series (the CR matches the demo's neonatal-cxr rule): a 3D T1 (Siemens "tfl",
# BIDS "T1w") goes to atrophy, a Siemens mosaic (the EPI time series) to fmri
REAL_RULES: list[dict[str, Any]] = [
    {
        "name": "brain-t1-atrophy",
        "match": {"Modality": "MR", "MRAcquisitionType": "3D", "SeriesDescription": {"regex": "(?i)t1w|tfl"}},
        "pipeline": "atrophy",
        "send_to": ["pacs"],
    },
    {
        "name": "rest-epi-fmri",
        "match": {"Modality": "MR", "ImageType": {"contains": "MOSAIC"}},
        "pipeline": "fmri",
        "send_to": ["pacs"],
    },
]


def real_inputs(data: Path, folder: Path) -> list[Path]:
    """Copies of the real series under ``folder`` (Part 10); a missing data folder is an error."""
    copied: list[Path] = []
    for pipeline, relative in REAL_SERIES:
        source = data / relative
        if not source.exists():
            raise FileNotFoundError(f"{source} not found (real inputs: the repository's tests/data)")
        files = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.suffix == ".dcm")
        target = folder / pipeline
        target.mkdir(parents=True, exist_ok=True)
        for index, path in enumerate(files):
            ds = dcmread(path, force=True)
            if "TransferSyntaxUID" not in ds.file_meta:
                ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            out = target / f"{index:04d}.dcm"
            ds.save_as(out, enforce_file_format=True)
            copied.append(out)
    return copied
