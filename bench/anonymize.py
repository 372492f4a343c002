"""Benchmark: files/s of `dicom-node anonymize` vs dicognito on the same generated corpus.

    .venv/bin/python bench/anonymize.py [--count 2000] [--jobs 1] [--repeat 3] [--keep DIR]

The corpus is generated: mixed CT / MR / CR instances (64x64 pixels) with nested sequences (referenced
images, request attributes, code sequences) and private tags, one folder per series. Both tools read each
file, anonymise it and write it; ours also runs the residual-PHI check on every output against its
source before releasing it (fail closed, as every batch does), and the run fails if anything is
quarantined. The comparison is at equal parallelism: ``--jobs N`` runs our batch with
N worker processes and dicognito in N processes (one dicognito per process over its share of the files);
the default N = 1 compares one core with one core. Each tool runs ``--repeat`` times, alternating, into
fresh output folders, and the best rate of each is reported (the machine may be shared). dicognito is
optional: `.venv/bin/pip install dicognito` (not a dependency of dicom-node); without it only our rate is
printed. The goal is a ratio of at least 5x.

On a shared machine the load from other processes changes between runs; the bench also prints the CPU
time per file of each tool (user + system, all processes), which is less sensitive to it.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

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
    ds.file_meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[modality])
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
    if summary.failed or summary.refused or summary.skipped:
        raise SystemExit(f"our run did not anonymise everything: {summary}")
    return summary.files_per_second


def _dicognito_files(job: tuple[Path, Path, list[Path]]) -> int:
    import pydicom
    from dicognito.anonymizer import Anonymizer as Dicognito

    source, output, files = job
    anonymizer = Dicognito(seed="bench")
    for path in files:
        ds = pydicom.dcmread(path)
        anonymizer.anonymize(ds)
        target = output / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target)
    return len(files)


def bench_dicognito(source: Path, output: Path, jobs: int) -> float | None:
    if importlib.util.find_spec("dicognito") is None:
        print(
            "dicognito is not installed: `.venv/bin/pip install dicognito` to compare; skipped",
            file=sys.stderr,
        )
        return None
    started = time.monotonic()
    files = sorted(source.rglob("*.dcm"))
    if jobs <= 1:
        done = _dicognito_files((source, output, files))
    else:
        # by series folder, as for our batch: each process keeps its own consistent UID mapping
        shares: list[list[Path]] = [files[i::jobs] for i in range(jobs)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = sum(pool.map(_dicognito_files, [(source, output, share) for share in shares]))
    return done / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="number of generated files (default 2000)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for EACH tool (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool, best kept (default 3)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anon-bench-") as tmp:
        root = args.keep or Path(tmp)
        source = root / "corpus"
        print(f"generating {args.count} files ...", file=sys.stderr)
        generate(source, args.count)
        ours: list[float] = []
        theirs: list[float] = []
        cpu: dict[str, list[float]] = {"ours": [], "dicognito": []}
        for run in range(max(1, args.repeat)):
            started = _cpu_seconds()
            ours.append(bench_ours(source, root / f"ours-{run}", args.jobs))
            cpu["ours"].append(_cpu_seconds() - started)
            started = _cpu_seconds()
            rate = bench_dicognito(source, root / f"dicognito-{run}", args.jobs)
            if rate is not None:
                theirs.append(rate)
                cpu["dicognito"].append(_cpu_seconds() - started)
            shutil.rmtree(root / f"ours-{run}", ignore_errors=True)
            shutil.rmtree(root / f"dicognito-{run}", ignore_errors=True)
        runs = ", ".join(f"{r:.0f}" for r in ours)
        print(f"dicom-node anonymize ({args.jobs} process(es)): {max(ours):8.1f} files/s  (runs: {runs})")
        if theirs:
            runs = ", ".join(f"{r:.0f}" for r in theirs)
            print(
                f"dicognito            ({args.jobs} process(es)): {max(theirs):8.1f} files/s  (runs: {runs})"
            )
            pairs = [a / b for a, b in zip(ours, theirs, strict=True)]
            print(
                f"ratio at equal processes: {statistics.median(pairs):.1f}x median of runs side by side "
                f"({', '.join(f'{r:.1f}' for r in pairs)}); best vs best {max(ours) / max(theirs):.1f}x "
                "(goal >= 5x)"
            )
            per_file = {k: 1000 * min(v) / args.count for k, v in cpu.items()}
            print(
                f"CPU time per file (user+system, all processes, best run): ours {per_file['ours']:.2f} ms, "
                f"dicognito {per_file['dicognito']:.2f} ms: {per_file['dicognito'] / per_file['ours']:.1f}x "
                "(independent of other load on the machine)"
            )
    return 0


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (the worker pools)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    sys.exit(main())
