"""`dicom-node volume SERIES_DIR OUT.nii.gz`: load one series as a volume and export it as NIfTI."""

from __future__ import annotations

import argparse
from pathlib import Path

from dicom_node.errors import InputError
from dicom_node.logsetup import get_logger

log = get_logger("inference.cli.volume")
HELP = "load one DICOM series (folder) as a volume and write it as NIfTI (RAS), to compare with other tools"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("series_dir", type=Path, help="folder holding the DICOM files of one series")
    parser.add_argument("out", type=Path, help="output file, .nii or .nii.gz")
    parser.add_argument(
        "--philips-scaling",
        choices=("precise", "display"),
        default="precise",
        help="Philips MR: precise floating-point values (private scale slope, as dcm2niix; default) or "
        "display values (Rescale Slope / Intercept)",
    )


def run(args: argparse.Namespace) -> int:
    import nibabel as nib

    from inference.volume import load_series, to_nifti

    series_dir: Path = args.series_dir
    out: Path = args.out
    if not series_dir.exists():
        raise InputError(f"{series_dir}: no such file or folder")
    if not out.name.endswith((".nii", ".nii.gz")):
        raise InputError(f"{out}: the output name must end in .nii or .nii.gz")
    log.info("volume_loading", path=str(series_dir))
    volume = load_series(series_dir, philips_scaling=args.philips_scaling)
    out.parent.mkdir(parents=True, exist_ok=True)
    to_nifti(volume, out)
    axes = "".join(nib.aff2axcodes(volume.affine_ras()))
    spacing = " x ".join(f"{s:.4g}" for s in volume.spacing)
    log.info(
        "volume_written",
        path=str(out),
        modality=volume.modality,
        shape=" x ".join(map(str, volume.array.shape)),
        dtype=str(volume.array.dtype),
        spacing_mm=spacing,
        axes=axes,
        files=len(volume.datasets),
    )
    return 0
