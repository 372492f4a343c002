"""`make demo` (dicom-node demo --real-data tests/data): the real series reach rds, atrophy and fmri.

The whole demo with real data runs the atrophy network (about a minute); this checks what decides it,
cheaply: the copies are Part 10 files, and with the demo's configuration each real series fires exactly
the rule of its mission pipeline while the synthetic MR keeps going to the research copy only.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from dicom_node.demo.flow import demo_config
from dicom_node.demo.real import REAL_RULES, REAL_SERIES, real_inputs
from dicom_node.routing.rules import compile_rules, evaluate
from dicom_node.samples import Patient, mr_series

DATA = Path(__file__).resolve().parents[1] / "data"


def _pipelines(rules: list, path: Path) -> list[str | None]:
    header = dcmread(path, stop_before_pixels=True)
    return [d.rule.config.pipeline for d in evaluate(rules, header) if d.fired]


def test_each_real_series_fires_its_mission_pipeline(tmp_path: Path) -> None:
    copies = real_inputs(DATA, tmp_path / "real")
    rules = compile_rules(demo_config(tmp_path, 4242, REAL_RULES).rules)
    by_pipeline: dict[str, list[Path]] = {}
    for path in copies:
        assert path.read_bytes()[128:132] == b"DICM"  # Part 10, as Orthanc and the node want
        by_pipeline.setdefault(path.parent.name, []).append(path)
    assert sorted(by_pipeline) == sorted(p for p, _ in REAL_SERIES)
    for pipeline, paths in by_pipeline.items():
        for path in paths:
            assert _pipelines(rules, path) == [pipeline], (pipeline, path)
    synthetic = mr_series(tmp_path / "mr", Patient(name="DEMO^MRI"), slices=2, size=16)
    assert _pipelines(rules, synthetic[0]) == [None]  # the anonymised research copy, no pipeline
