"""Demonstration weights never produce a coded diagnosis: the writers refuse one, naming the pipeline.

What counts as a coded diagnosis (a class, a grade, present / absent, a verdict) and what is a process
code (not evaluated, a reason, the run's quality) is decided in one place, ``inference.pipeline``
(docs/outputs.md, "Demonstration weights").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.sr.coding import Code

from dicom_node.errors import PipelineError
from inference.dicom_out import new_context, write_outputs, write_sc_pages, write_sr
from inference.pipeline import (
    NOT_EVALUATED,
    REASON_NOT_ASSESSED,
    RUN_QUALITY,
    SIGNIFICANCE_UNDETERMINED,
    AlgorithmInfo,
    Finding,
    Measurement,
    Result,
    Series,
    as_demonstration,
)
from inference.pipelines.atrophy.assessment import BELOW_RANGE, NORMALITY, REASON_QC, WITHIN_NORMAL_LIMITS
from inference.pipelines.dermatitis.signs import SEVERITY, SIGNS
from inference.pipelines.fmri.report import NOT_ASSESSED, NOT_NORMALISED, OVERALL, class_code
from inference.pipelines.rds.pipeline import PRESENT, RDS
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid, roundtrip, sr_items, sr_text_values
from tests.inference.pipeline_series import write_slices

DEMO = AlgorithmInfo(name="demo-net", version="1", demonstration=True)
REAL = AlgorithmInfo(name="real-net", version="1")
VOLUME = Code("118565006", "SCT", "Volume")
ML = Code("mL", "UCUM", "milliliter")
LOSS = Code("LOSSVSAGEING", "99DCMNODE", "Loss beyond normal ageing")
SIGNIFICANT = Code("386134007", "SCT", "Significant")

DIAGNOSES = [
    Finding(RDS, PRESENT, probability=0.9),
    Finding(SIGNS[0].code, SEVERITY[2], probability=0.71),
    Finding(NORMALITY, BELOW_RANGE, region=1),
    Finding(NORMALITY, WITHIN_NORMAL_LIMITS),
    Finding(OVERALL, class_code(1, ("control", "patient"))),
    Finding(LOSS, SIGNIFICANT),
    Finding(Code("NEW", "99DCMNODE", "A concept no pipeline has yet"), Code("X", "99DCMNODE", "x")),
]
PROCESS = [
    Finding(NORMALITY, NOT_EVALUATED, region=1),
    Finding(REASON_NOT_ASSESSED, REASON_QC, region=1),
    Finding(RUN_QUALITY, NOT_ASSESSED),
    Finding(RUN_QUALITY, NOT_NORMALISED),
    Finding(LOSS, SIGNIFICANCE_UNDETERMINED),
]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Series:
    folder = tmp_path_factory.mktemp("ct")
    write_slices(folder, frames=3)
    return read_series(folder)


@pytest.mark.parametrize("finding", DIAGNOSES, ids=lambda f: f"{f.concept.meaning}={f.value.meaning}")
def test_classes_grades_and_verdicts_are_coded_diagnoses(finding: Finding) -> None:
    assert finding.is_coded_diagnosis  # also a concept nobody listed: a new pipeline cannot slip


@pytest.mark.parametrize("finding", PROCESS, ids=lambda f: f"{f.concept.meaning}={f.value.meaning}")
def test_not_evaluated_reasons_and_run_quality_are_process_codes(finding: Finding) -> None:
    assert not finding.is_coded_diagnosis


def test_writers_refuse_a_coded_diagnosis_of_demonstration_weights(series: Series) -> None:
    result = Result(measurements=[Measurement(VOLUME, 3.0, ML)], findings=[*PROCESS, DIAGNOSES[1]])
    with pytest.raises(PipelineError, match=r"pipeline 'dermatitis' .*Erythema = Moderate"):
        write_outputs(series, result, "dermatitis", DEMO)
    context = new_context("dermatitis", DEMO)
    for writer in (write_sr, write_sc_pages):  # each writer, also when called on its own
        with pytest.raises(PipelineError, match="demonstration weights"):
            writer(series, result, context)
    assert write_outputs(series, result, "dermatitis", REAL)  # real weights: the coded grade is written


def test_demonstration_result_with_process_codes_and_notes_is_written(series: Series, tmp_path: Path) -> None:
    findings, notes = as_demonstration([*PROCESS, DIAGNOSES[1], DIAGNOSES[2]], "demonstration weights, test")
    assert findings == PROCESS
    assert [n.text for n in notes] == [
        "Erythema: Moderate (p 0.71), demonstration weights, test",
        "Normality: Abnormally Low, demonstration weights, test",
    ]
    assert notes[1].region == 1
    result = Result(measurements=[Measurement(VOLUME, 3.0, ML)], findings=findings, notes=notes)
    outputs = write_outputs(series, result, "test", DEMO)
    sr = roundtrip(next(ds for ds in outputs if ds.Modality == "SR"))
    assert [w for w in assert_valid(sr, tmp_path) if "99DCMNODE" not in w] == []
    values = {str(i.ConceptCodeSequence[0].CodeMeaning) for i in sr_items(sr, "CODE")}
    assert "Not Evaluated" in values and "Moderate" not in values and "Abnormally Low" not in values
    texts = sr_text_values(sr)
    assert notes[0].text in texts and f"region 1: {notes[1].text}" in texts  # no segments: "region N"
