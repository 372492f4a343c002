"""Benchmark: files/s of `dicom-node anonymize` vs dicognito on the same generated corpus.

    .venv/bin/python bench/anonymize.py [--count 2000] [--jobs N] [--keep DIR]

The corpus is generated: mixed CT / MR / CR instances (64x64 pixels) with nested sequences (referenced
images, request attributes, code sequences) and private tags, one folder per series. Both tools read each
file, anonymise it and write it. dicognito is optional: `.venv/bin/pip install dicognito` (not a
dependency of dicom-node); without it only our rate is printed. The goal is a ratio of at least 5x.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from anonymizer.batch import run_batch
from anonymizer.settings import ProfileSettings

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
}


def _instance(
    modality: str, patient: int, study: str, series: str, number: int, rng: np.random.Generator
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, study + ".1"
    ds.PatientName, ds.PatientID = f"Doe{patient}^Jane^Q", f"PID{patient:05d}"
    ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = "19610203", "F", "063Y"
    ds.AccessionNumber, ds.StudyID = f"ACC{patient:06d}", "1"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240105"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = modality, "ACME", "Imager 9"
    ds.InstitutionName, ds.InstitutionAddress = "General Hospital", "1 Main St, Springfield"
    ds.ReferringPhysicianName, ds.OperatorsName = "House^Gregory", "Tech^Tina"
    ds.StationName, ds.DeviceSerialNumber = "CT01", "SN-4711"
    ds.StudyDescription, ds.SeriesDescription = "Chest routine", f"{modality} series"
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-D3000", "SRT", "Chest"
    ds.AnatomicRegionSequence = [code]
    request = Dataset()
    request.RequestedProcedureID, request.AccessionNumber = f"RP{patient}", ds.AccessionNumber
    request.RequestingPhysician = "Wilson^James"
    request.RequestedProcedureCodeSequence = [code]
    ds.RequestAttributesSequence = [request]
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, generate_uid()
    ds.ReferencedImageSequence = [ref]
    ds.OtherPatientIDsSequence = [Dataset()]
    ds.OtherPatientIDsSequence[0].PatientID = f"MRN{patient}"
    block = ds.private_block(0x0009, "ACME PRIVATE", create=True)
    block.add_new(0x01, "LO", f"Doe{patient} scanned by Tech")
    block.add_new(0x02, "DS", "1.5")
    block.add_new(0x03, "OB", rng.bytes(64))
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, (64, 64), dtype=np.uint16).tobytes()
    return ds


def generate(root: Path, count: int) -> None:
    rng = np.random.default_rng(7)
    per_series = 20
    for index in range(count):
        series_index, number = divmod(index, per_series)
        modality = ("CT", "MR", "CR")[series_index % 3]
        patient = series_index // 2
        study = f"1.2.826.0.1.3680043.8.498.{patient + 1}"
        series = f"{study}.{series_index + 1}"
        folder = root / f"p{patient:04d}" / f"s{series_index:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        _instance(modality, patient, study, series, number + 1, rng).save_as(
            folder / f"{number:04d}.dcm", enforce_file_format=True
        )


def bench_ours(source: Path, output: Path, jobs: int) -> float:
    profile = ProfileSettings(options=[])
    summary = run_batch(source, output, profile, b"bench-key-0123456789abcdef012345", jobs=jobs)
    if summary.failed or summary.refused:
        raise SystemExit(f"our run did not anonymise everything: {summary}")
    return summary.files_per_second


def bench_dicognito(source: Path, output: Path) -> float | None:
    try:
        from dicognito.anonymizer import Anonymizer as Dicognito
    except ImportError:
        print(
            "dicognito is not installed: `.venv/bin/pip install dicognito` to compare; skipped",
            file=sys.stderr,
        )
        return None
    import pydicom

    anonymizer = Dicognito(seed="bench")
    files = sorted(p for p in source.rglob("*.dcm"))
    started = time.monotonic()
    for path in files:
        ds = pydicom.dcmread(path)
        anonymizer.anonymize(ds)
        target = output / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target)
    return len(files) / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="number of generated files (default 2000)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="our worker processes")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anon-bench-") as tmp:
        root = args.keep or Path(tmp)
        source = root / "corpus"
        print(f"generating {args.count} files ...", file=sys.stderr)
        generate(source, args.count)
        ours = bench_ours(source, root / "ours", args.jobs)
        print(f"dicom-node anonymize (--jobs {args.jobs}): {ours:8.1f} files/s")
        theirs = bench_dicognito(source, root / "dicognito")
        if theirs is not None:
            print(f"dicognito (1 process):          {theirs:8.1f} files/s")
            print(f"ratio: {ours / theirs:.1f}x (goal >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
