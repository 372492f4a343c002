"""Every pipeline run once per test session on the real series in tests/data, shared by the tests.

A case is one pipeline on one source series. Its folder holds ``source/`` (the source instances,
rewritten as DICOM Part 10 files: some real files lack the preamble, which Orthanc and OHIF's loaders
need) and ``out/`` (the SEG/SR/SC the pipeline wrote). Runs happen on first use (the atrophy one takes
about a minute), so a session that collects only some tests runs only what they need.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Case:
    name: str
    pipeline: str
    source: Path | None  # a file or a folder of one series; None: generated (no real data exists)
    mission: bool = False  # a mission pipeline's case: opened in the real browser as well

    def files(self) -> list[Path]:
        assert self.source is not None
        if self.source.is_file():
            return [self.source]
        return sorted(p for p in self.source.iterdir() if p.is_file() and p.suffix != ".txt")


CASES: tuple[Case, ...] = (
    Case("qc-xa30-t1", "qc", DATA / "dcm_qa_xa30/In/5_anat-T1w_acq-tfl"),
    Case("qc-dx", "qc", DATA / "cxr/highdicom/dx_image.dcm"),
    Case("rds-rsna-cr", "rds", DATA / "cxr/torchxrayvision/rsna_cr_jpeg_baseline.dcm", mission=True),
    Case("rds-dx", "rds", DATA / "cxr/highdicom/dx_image.dcm"),
    Case("atrophy-xa30-t1", "atrophy", DATA / "dcm_qa_xa30/In/5_anat-T1w_acq-tfl", mission=True),
    Case("fmri-siemens-mosaic", "fmri", DATA / "dcm_qa_nih/In/20180918Si/mr_0003", mission=True),
    Case("fmri-ge-classic", "fmri", DATA / "dcm_qa_nih/In/20180918GE/mr_0004"),
    Case("fmri-mosaic-35", "fmri", DATA / "dcm_qa/In/Orientation/ax/axasc35"),
    # tests/data holds no photograph: a generated one (the pipeline's own synthetic skin texture)
    Case("dermatitis-synthetic-photo", "dermatitis", None),
)
BY_NAME = {case.name: case for case in CASES}


@dataclass
class Run:
    case: Case
    folder: Path
    seconds: float = 0.0
    series: Any = None
    result: Any = None
    datasets: list[pydicom.Dataset] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def source(self) -> Path:
        return self.folder / "source"

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def check(self) -> Run:
        """This run, or a test failure that says why the pipeline did not produce outputs."""
        assert self.error is None, f"{self.case.pipeline} on {self.case.name} failed: {self.error}"
        return self


def _copy_part10(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(files):
        ds = pydicom.dcmread(path, force=True)
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(folder / f"src{index:04d}.dcm", enforce_file_format=True)


def _photograph(folder: Path) -> None:
    from inference.pipelines.dermatitis import synthetic
    from inference.pipelines.dermatitis.samples import write_photograph

    folder.mkdir(parents=True, exist_ok=True)
    grid = np.broadcast_to(np.asarray((3, 0, 2)), (6, 8, 3)).copy()
    write_photograph(folder, synthetic.photograph(grid, 640, 480, seed=5).pixels, jpeg=True)


def run_case(case: Case, folder: Path) -> Run:
    """Run ``case`` as the node does (registry, read, run, write_outputs); keep series and result too."""
    from inference import registry
    from inference.dicom_out import write_outputs

    run = Run(case, folder)
    if case.source is None:
        _photograph(run.source)
    else:
        _copy_part10(case.files(), run.source)
    run.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        pipeline = registry.load(case.pipeline, {"device": "cpu"})
        run.series = pipeline.read(run.source)
        run.result = pipeline.run(run.series)
        on_projection = bool(getattr(pipeline, "seg_on_projection", False))
        run.datasets = write_outputs(
            run.series, run.result, case.pipeline, pipeline.algorithm, seg_on_projection=on_projection
        )
    except Exception as exc:  # reported by the tests that use this case, not by every test
        run.error = f"{type(exc).__name__}: {exc}"
    run.seconds = time.monotonic() - started
    for ds in run.datasets:
        path = run.out / f"{ds.Modality}-{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        run.outputs.append(path)
    return run


class RealRuns:
    """Lazily run and cache each case for the session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Run:
        with self._lock:
            if name not in self._runs:
                self._runs[name] = run_case(BY_NAME[name], self.root / name)
            return self._runs[name]
