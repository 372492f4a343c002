"""Real scanner series against dcm2niix's reference NIfTIs (dcm_qa, dcm_qa_nih, dcm_qa_xa30, Philips).

For every series with a reference: same shape, identical voxel values (within 1e-3 relative where
dcm2niix stores scaled floating-point values: Philips) and an affine equal within 1e-3 after bringing
our RAS output into the reference's axis orientation with nibabel's orientation tools (dcm2niix flips
the row axis; that is a relabelling of the same voxels, not a resampling).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from dicom_node.errors import InputError
from inference.cli import volume as volume_cli
from inference.volume import Volume, load_series, to_nifti

DATA = Path(__file__).resolve().parents[1] / "data"

# (series folder, dcm2niix reference, what the case exercises)
CASES = [
    ("dcm_qa/In/Orientation/ax/axasc35", "dcm_qa/Ref/ax_asc_35sl_6.nii.gz", "mosaic, oblique"),
    ("dcm_qa/In/Orientation/axmb/AxAsc36mb2a", "dcm_qa/Ref/fMRI_MB_asc_25.nii.gz", "mosaic, JPEG lossless"),
    ("dcm_qa_nih/In/20180918GE/mr_0004", "dcm_qa_nih/Ref/DCM2NIIX_regression_test_4.nii.gz", "GE 4D slices"),
    ("dcm_qa_nih/In/20180918Si/mr_0003", "dcm_qa_nih/Ref/EPI_PE=AP_3.nii.gz", "mosaic, 5 tiles"),
    ("dcm_qa_xa30/In/5_anat-T1w_acq-tfl", "dcm_qa_xa30/Ref/5_anat-T1w_acq-tfl.nii.gz", "enhanced MR"),
    (
        "dcm_qa_philips/In/Magdeburg_2014/fmri",
        "dcm_qa_philips/Ref/EPI_asc_CLEAR_201.nii.gz",
        "Philips classic 4D, precise scaling",
    ),
    ("dcm_qa_philips_enh/In/cl/1901", "dcm_qa_philips_enh/Ref/1901_WIP_3DpCASL_cl.nii.gz", "Philips classic"),
    (
        "dcm_qa_philips_enh/In/enh",
        "dcm_qa_philips_enh/Ref/1901_WIP_3DpCASL_enh_real.nii.gz",
        "Philips enhanced",
    ),
]
IDS = [case[2] for case in CASES]


def load_nifti(path: Path) -> nib.Nifti1Image:
    image = nib.load(path)
    assert isinstance(image, nib.Nifti1Image)
    return image


def as_reference(data: np.ndarray, affine_ras: np.ndarray, reference: nib.Nifti1Image) -> tuple:
    """Our array/affine relabelled into the reference's axis orientation (flips/permutations only)."""
    transform = ornt_transform(io_orientation(affine_ras), io_orientation(reference.affine))
    return apply_orientation(data, transform), affine_ras @ inv_ornt_aff(transform, data.shape)


def assert_matches_reference(data: np.ndarray, affine_ras: np.ndarray, reference_path: Path) -> None:
    reference = load_nifti(reference_path)
    expected = np.asarray(reference.dataobj)
    ours, affine = as_reference(data, affine_ras, reference)
    assert ours.shape == expected.shape
    if expected.dtype.kind == "f":  # dcm2niix's scl_slope / scl_inter (Philips precise values)
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3 * scale)
    else:
        assert np.array_equal(ours, expected)
    np.testing.assert_allclose(affine, reference.affine, atol=1e-3, rtol=0)


@pytest.fixture(scope="module")
def volumes() -> dict[str, Volume]:
    return {folder: load_series(DATA / folder) for folder, _, _ in CASES}


@pytest.mark.parametrize(("folder", "reference", "kind"), CASES, ids=IDS)
def test_volume_matches_dcm2niix(volumes: dict[str, Volume], folder: str, reference: str, kind: str) -> None:
    volume = volumes[folder]
    assert_matches_reference(volume.array, volume.affine_ras(), DATA / reference)


@pytest.mark.parametrize(("folder", "reference", "kind"), CASES[2:4], ids=IDS[2:4])
def test_to_nifti_file_matches_dcm2niix(
    volumes: dict[str, Volume], folder: str, reference: str, kind: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.nii.gz"
    to_nifti(volumes[folder], out)
    written = load_nifti(out)
    assert written.header["sform_code"] == 1
    repetition_time = load_nifti(DATA / reference).header.get_zooms()[3]
    assert written.header.get_zooms()[3] == pytest.approx(repetition_time, abs=1e-4)
    assert_matches_reference(np.asarray(written.dataobj), written.affine, DATA / reference)


def test_time_series_keeps_every_time_point(volumes: dict[str, Volume]) -> None:
    """GE fMRI: 150 files at 15 positions → 15 x 10, each slice's time points in acquisition order."""
    volume = volumes["dcm_qa_nih/In/20180918GE/mr_0004"]
    assert volume.array.shape == (64, 64, 15, 10)
    by_uid = {str(ds.SOPInstanceUID): ds for ds in volume.datasets}
    for k in range(15):
        instances = [int(by_uid[ref.sop_instance_uid].InstanceNumber) for ref in volume.frames[k]]
        assert instances == sorted(instances)
    assert len({ref.sop_instance_uid for row in volume.frames for ref in row}) == 150


@pytest.mark.parametrize("folder", [CASES[2][0], CASES[4][0]], ids=["GE slices", "enhanced MR"])
def test_frame_refs_point_at_the_source_position(volumes: dict[str, Volume], folder: str) -> None:
    """Slice k of the volume is where its source frame says it is (the map SEG writers rely on)."""
    volume = volumes[folder]
    by_uid = {str(ds.SOPInstanceUID): ds for ds in volume.datasets}
    for k, row in enumerate(volume.frames):
        for ref in row:
            ds = by_uid[ref.sop_instance_uid]
            if ref.frame_number is None:
                position = ds.ImagePositionPatient
            else:
                frame = ds.PerFrameFunctionalGroupsSequence[ref.frame_number - 1]
                position = frame.PlanePositionSequence[0].ImagePositionPatient
            expected = volume.affine @ np.array([0.0, 0.0, k, 1.0])
            np.testing.assert_allclose(np.asarray(position, dtype=float), expected[:3], atol=1e-3)


def test_enhanced_frames_are_numbered_from_one(volumes: dict[str, Volume]) -> None:
    volume = volumes["dcm_qa_xa30/In/5_anat-T1w_acq-tfl"]
    numbers = sorted(row[0].frame_number or 0 for row in volume.frames)
    assert numbers == list(range(1, 97))
    assert "PixelData" not in volume.datasets[0]


def test_mosaic_refs_name_their_tile(volumes: dict[str, Volume]) -> None:
    volume = volumes["dcm_qa_nih/In/20180918Si/mr_0003"]
    assert [row[0].mosaic_tile for row in volume.frames] == [0, 1, 2, 3, 4]
    assert all(ref.frame_number is None for row in volume.frames for ref in row)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    volume_cli.add_arguments(parser)
    return volume_cli.run(parser.parse_args(list(argv)))


def test_cli_writes_nifti_like_dcm2niix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, reference, _ = CASES[3]
    out = tmp_path / "epi.nii.gz"
    assert run_cli(str(DATA / folder), str(out)) == 0
    written = load_nifti(out)
    assert_matches_reference(np.asarray(written.dataobj), written.affine, DATA / reference)
    captured = capsys.readouterr()  # a log event: stderr once logging is configured, else stdout
    assert "72 x 72 x 5 x 2" in captured.err + captured.out


def test_cli_refuses_a_folder_with_two_series(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds 2 series"):
        run_cli(str(DATA / "dcm_qa_nih/In"), str(tmp_path / "x.nii.gz"))


def test_cli_refuses_a_missing_folder_and_a_bad_output_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        run_cli(str(tmp_path / "absent"), str(tmp_path / "x.nii.gz"))
    with pytest.raises(InputError, match=r"\.nii"):
        run_cli(str(DATA / CASES[3][0]), str(tmp_path / "x.png"))


def test_cli_through_the_main_entry_point(tmp_path: Path) -> None:
    cli = pytest.importorskip("dicom_node.cli")
    try:
        cli.build_parser()
    except ModuleNotFoundError as exc:  # other subcommands are still being written
        pytest.skip(f"dicom-node CLI incomplete: {exc}")
    out = tmp_path / "t1.nii.gz"
    assert cli.main(["volume", str(DATA / CASES[4][0]), str(out)]) == 0
    assert cli.main(["volume", str(tmp_path / "absent"), str(out)]) == 2
    written = load_nifti(out)
    assert_matches_reference(np.asarray(written.dataobj), written.affine, DATA / CASES[4][1])
