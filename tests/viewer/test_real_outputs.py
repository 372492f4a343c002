"""Every pipeline's outputs on the real series in tests/data are valid DICOM and a PACS takes them.

The same session runs as the OHIF checks (tests/support/real_runs.py): each SEG / SR / SC passes
dciodvfy with no error, whatever the source header carried, and a real Orthanc accepts every one over
C-STORE (DCMTK storescu, the way the node's dispatcher delivers them).
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from tests.inference.dicom_checks import assert_valid
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc
from tests.support.real_runs import CASES, RealRuns


def _codes(ds: pydicom.Dataset) -> list[pydicom.Dataset]:
    """Every code item (concept names, coded values, units) anywhere in ``ds``."""
    found: list[pydicom.Dataset] = []
    for element in ds:
        if element.VR != "SQ":
            continue
        for item in element.value:
            if element.keyword.endswith("CodeSequence"):
                found.append(item)
            found += _codes(item)
    return found


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_outputs_pass_dciodvfy_and_reach_orthanc_over_c_store(
    name: str, real_runs: RealRuns, orthanc: Orthanc, tmp_path: Path
) -> None:
    run = real_runs.get(name).check()
    assert run.outputs, f"{name}: no outputs"
    for path in run.outputs:
        assert_valid(pydicom.dcmread(path), tmp_path)
    for path in run.outputs:  # OHIF reads CodeValue only: a code over 16 characters (LongCodeValue) is lost
        ds = pydicom.dcmread(path)
        long = [code for code in _codes(ds) if "CodeValue" not in code]
        assert not long, f"{path.name}: codes without CodeValue: {long}"
    sent = storescu(orthanc.dicom_port, run.outputs, "-R", aec=orthanc.ae_title)  # contexts of the files
    assert sent.returncode == 0, sent.stderr
    stored = set(orthanc.sop_instance_uids())
    assert {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in run.outputs} <= stored
