"""Philips scaling on real Philips headers: precise floating-point values by default (as dcm2niix),
display values on request, per frame for enhanced images, and nothing changed without the private
scale slope or on other vendors' images."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from inference.cli import volume as volume_cli
from inference.volume import load_series
from inference.volume.philips import frame_scale_slope, scale_slope

DATA = Path(__file__).resolve().parents[1] / "data"
CLASSIC = DATA / "dcm_qa_philips/In/Magdeburg_2014/fmri"
ENHANCED = DATA / "dcm_qa_philips_enh/In/enh"
SCALE_TAG = 0x2005100E


def copy_series(source: Path, target: Path, edit: object = None) -> Path:
    """A copy of a series folder, each dataset passed through ``edit`` (a callable) first."""
    target.mkdir()
    for path in sorted(source.iterdir()):
        if edit is None:
            shutil.copy(path, target / path.name)
            continue
        ds = pydicom.dcmread(path)
        edit(ds)  # type: ignore[operator]
        ds.save_as(target / path.name)
    return target


def display_values(folder: Path) -> np.ndarray:
    return np.asarray(load_series(folder, philips_scaling="display").array, dtype=np.float64)


def test_classic_precise_is_display_over_rescale_times_private_slope() -> None:
    ds = pydicom.dcmread(next(CLASSIC.iterdir()), stop_before_pixels=True)
    rs, ss = float(ds.RescaleSlope), scale_slope(ds)
    assert ss is not None and ss != 1.0
    display = display_values(CLASSIC)
    precise = np.asarray(load_series(CLASSIC).array, dtype=np.float64)  # the default
    np.testing.assert_allclose(precise, display / (rs * ss), rtol=1e-6)
    assert not np.allclose(precise, display)


def test_classic_without_the_private_slope_keeps_display_values(tmp_path: Path) -> None:
    folder = copy_series(CLASSIC, tmp_path / "s", lambda ds: ds.__delitem__(SCALE_TAG))
    np.testing.assert_array_equal(load_series(folder).array, load_series(CLASSIC, "display").array)


def test_other_vendors_are_not_rescaled(tmp_path: Path) -> None:
    def relabel(ds: pydicom.Dataset) -> None:
        ds.Manufacturer = "OTHER"

    folder = copy_series(CLASSIC, tmp_path / "s", relabel)
    np.testing.assert_array_equal(load_series(folder).array, load_series(CLASSIC, "display").array)


def test_enhanced_uses_each_frames_private_slope(tmp_path: Path) -> None:
    [path] = list(ENHANCED.iterdir())
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    frame_slopes = [frame_scale_slope(f) for f in ds.PerFrameFunctionalGroupsSequence]
    assert None not in frame_slopes

    def edit(target: pydicom.Dataset) -> None:
        # frame 1 gets twice its slope: its precise values halve; no private data at all elsewhere
        first = target.PerFrameFunctionalGroupsSequence[0]
        first.private_block(0x2005, "Philips MR Imaging DD 005")[0x0F].value[0][SCALE_TAG].value *= 2
        for frame in target.PerFrameFunctionalGroupsSequence[1:]:
            del frame[0x2005140F]

    reference = load_series(ENHANCED)
    edited = load_series(copy_series(ENHANCED, tmp_path / "e", edit))
    display = load_series(ENHANCED, "display")
    k = next(i for i, row in enumerate(reference.frames) if row[0].frame_number == 1)
    np.testing.assert_allclose(edited.array[:, :, k], reference.array[:, :, k] / 2, rtol=1e-6)
    others = [i for i in range(reference.array.shape[2]) if i != k]
    np.testing.assert_array_equal(edited.array[:, :, others], display.array[:, :, others])


def test_cli_option_writes_display_values(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    volume_cli.add_arguments(parser)
    out = tmp_path / "display.nii.gz"
    assert volume_cli.run(parser.parse_args([str(CLASSIC), str(out), "--philips-scaling", "display"])) == 0
    image = nib.load(out)
    assert isinstance(image, nib.Nifti1Image)
    written = np.asarray(image.dataobj, dtype=np.float64)
    np.testing.assert_allclose(written, display_values(CLASSIC), rtol=1e-5)
    with pytest.raises(SystemExit):
        parser.parse_args([str(CLASSIC), str(out), "--philips-scaling", "other"])
