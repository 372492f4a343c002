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


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_outputs_pass_dciodvfy_and_reach_orthanc_over_c_store(
    name: str, real_runs: RealRuns, orthanc: Orthanc, tmp_path: Path
) -> None:
    run = real_runs.get(name).check()
    assert run.outputs, f"{name}: no outputs"
    for path in run.outputs:
        assert_valid(pydicom.dcmread(path), tmp_path)
    sent = storescu(orthanc.dicom_port, run.outputs, "-R", aec=orthanc.ae_title)  # contexts of the files
    assert sent.returncode == 0, sent.stderr
    stored = set(orthanc.sop_instance_uids())
    assert {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in run.outputs} <= stored
