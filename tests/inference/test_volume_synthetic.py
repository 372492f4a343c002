"""Small synthetic series written with pydicom: geometry traps, rescale, 4D, 2D radiographs, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ComputedRadiographyImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

from inference.volume import VolumeError, load_series

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SERIES = generate_uid()


def image(
    pixels: np.ndarray, sop_class: UID = MRImageStorage, series: str = SERIES, **attributes: Any
) -> Dataset:
    """A minimal single-frame image dataset holding ``pixels`` (rows x columns, uint16 or int16)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SOPClassUID = sop_class
    ds.SeriesInstanceUID = series
    ds.Modality = "MR"
    ds.SeriesDescription = "synthetic"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    ds.PixelData = pixels.tobytes()
    for key, value in attributes.items():
        setattr(ds, key, value)
    return ds


def slice_image(k: int, pixels: np.ndarray, position: Any, **attributes: Any) -> Dataset:
    defaults = {"ImageOrientationPatient": list(AXIAL), "PixelSpacing": [0.5, 0.8], "InstanceNumber": k + 1}
    return image(pixels, ImagePositionPatient=[float(v) for v in position], **{**defaults, **attributes})


def write(folder: Path, datasets: list[Dataset]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, ds in enumerate(datasets):
        ds.save_as(folder / f"im{i:04d}.dcm", enforce_file_format=True)
    return folder


def ramp(k: int, rows: int = 3, columns: int = 4, dtype: type = np.uint16) -> np.ndarray:
    """Distinct values per slice and per pixel: 100*k + 10*row + column."""
    r, c = np.mgrid[0:rows, 0:columns]
    return (100 * k + 10 * r + c).astype(dtype)


def axial_series(n: int = 4, spacing: float = 2.0, **attributes: Any) -> list[Dataset]:
    return [slice_image(k, ramp(k), (-10.0, -20.0, 5.0 + spacing * k), **attributes) for k in range(n)]


def test_non_square_pixels_and_shuffled_instance_numbers(tmp_path: Path) -> None:
    """Rows 0.5 mm apart, columns 0.8 mm: columns scale the first axis; order comes from positions."""
    datasets = axial_series()
    for ds, number in zip(datasets, [3, 1, 4, 2], strict=True):
        ds.InstanceNumber = number
    volume = load_series(write(tmp_path, datasets[::-1]))
    assert volume.array.shape == (4, 3, 4)  # (columns, rows, slices)
    assert volume.spacing == pytest.approx((0.8, 0.5, 2.0))
    np.testing.assert_allclose(volume.affine[:3, 3], [-10.0, -20.0, 5.0])
    for k in range(4):
        np.testing.assert_array_equal(volume.array[:, :, k], ramp(k).T)
    assert volume.array[3, 2, 1] == 100 + 20 + 3  # column 3, row 2 of slice 1
    assert volume.frames[2][0].sop_instance_uid == datasets[2].SOPInstanceUID


def test_oblique_non_square_geometry(tmp_path: Path) -> None:
    angle = np.deg2rad(20)
    row = np.array([np.cos(angle), np.sin(angle), 0.0])
    column = np.array([0.0, 0.0, -1.0])  # coronal-ish, rows run feet-ward
    normal = np.cross(row, column)
    datasets = [
        slice_image(k, ramp(k), 3.0 * k * normal, ImageOrientationPatient=[*row, *column]) for k in range(3)
    ]
    volume = load_series(write(tmp_path, datasets))
    expected = np.column_stack([row * 0.8, column * 0.5, normal * 3.0, [0, 0, 0]])
    np.testing.assert_allclose(volume.affine[:3], expected, atol=1e-9)
    np.testing.assert_allclose(volume.affine_ras()[:2], -volume.affine[:2])


def test_single_slice_takes_its_thickness_along_the_normal(tmp_path: Path) -> None:
    ds = slice_image(0, ramp(0), (1.0, 2.0, 3.0), SliceThickness=3.0)
    volume = load_series(write(tmp_path, [ds]))
    assert not volume.is_projection
    np.testing.assert_allclose(volume.affine[:3, 2], [0.0, 0.0, 3.0])


def test_each_slice_keeps_its_own_rescale_and_the_dtype_fits_all(tmp_path: Path) -> None:
    datasets = axial_series(3)
    datasets[0].RescaleSlope, datasets[0].RescaleIntercept = 1, -1024
    datasets[1].RescaleSlope, datasets[1].RescaleIntercept = 2, 0  # 2 * 65535 does not fit int16
    volume = load_series(write(tmp_path, datasets))
    assert volume.array.dtype == np.int32
    np.testing.assert_array_equal(volume.array[:, :, 0], ramp(0).T.astype(int) - 1024)
    np.testing.assert_array_equal(volume.array[:, :, 1], 2 * ramp(1).T.astype(int))
    np.testing.assert_array_equal(volume.array[:, :, 2], ramp(2).T)


def test_fractional_slope_gives_float_values(tmp_path: Path) -> None:
    datasets = axial_series(2)
    datasets[1].RescaleSlope, datasets[1].RescaleIntercept = 0.5, 0.25
    volume = load_series(write(tmp_path, datasets))
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array[:, :, 1], ramp(1).T * 0.5 + 0.25)


def test_signed_pixels_stay_int16(tmp_path: Path) -> None:
    datasets = [slice_image(k, ramp(k, dtype=np.int16) - 50, (0, 0, k)) for k in range(2)]
    volume = load_series(write(tmp_path, datasets))
    assert volume.array.dtype == np.int16
    assert int(volume.array.min()) == -50


def test_repeated_positions_become_time_points_in_order(tmp_path: Path) -> None:
    """fMRI-like: 3 positions x 4 time points; no time point may be dropped or reordered."""
    datasets = []
    for t in range(4):
        for k in range(3):
            datasets.append(
                slice_image(k, ramp(10 * t + k), (0, 0, 4.0 * k), TemporalPositionIdentifier=t + 1)
            )
    volume = load_series(write(tmp_path, datasets[::-1]))
    assert volume.array.shape == (4, 3, 3, 4)
    for t in range(4):
        for k in range(3):
            np.testing.assert_array_equal(volume.array[:, :, k, t], ramp(10 * t + k).T)
    assert volume.n_timepoints == 4


def test_acquisition_time_orders_time_points_without_identifiers(tmp_path: Path) -> None:
    datasets = [
        slice_image(
            k, ramp(10 * t + k), (0, 0, k), AcquisitionTime=f"1200{10 * t + k:02d}.5", InstanceNumber=1
        )
        for t in (2, 0, 1)
        for k in range(2)
    ]
    volume = load_series(write(tmp_path, datasets))
    assert [int(volume.array[0, 0, 1, t]) for t in range(3)] == [100 * (10 * t + 1) for t in range(3)]


def test_gantry_tilt_keeps_true_positions(tmp_path: Path) -> None:
    """Slices shifted along y as z grows: the slice axis follows the positions (a sheared affine)."""
    datasets = [slice_image(k, ramp(k), (0.0, 0.7 * k, 2.5 * k)) for k in range(4)]
    volume = load_series(write(tmp_path, datasets))
    np.testing.assert_allclose(volume.affine[:3, 2], [0.0, 0.7, 2.5])
    for k, ds in enumerate(datasets):
        np.testing.assert_allclose((volume.affine @ [0, 0, k, 1])[:3], ds.ImagePositionPatient)


def test_rle_compressed_slices_decode(tmp_path: Path) -> None:
    datasets = axial_series(3)
    for ds in datasets:
        ds.compress(RLELossless)
    volume = load_series(write(tmp_path, datasets))
    np.testing.assert_array_equal(volume.array[:, :, 2], ramp(2).T)


def enhanced_volume(t: int, n_slices: int = 3) -> Dataset:
    """One enhanced MR file holding one time point (one file per volume, like XA fMRI)."""
    pixels = np.stack([ramp(10 * t + k) for k in range(n_slices)])
    ds = image(pixels, EnhancedMRImageStorage, NumberOfFrames=n_slices, InstanceNumber=t + 1)
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = list(AXIAL)
    measures.PixelSpacing, measures.SliceThickness = [0.5, 0.8], 2.0
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = [orientation], [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for k in reversed(range(n_slices)):  # frames stored in descending order
        frame, position, content = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
        content.FrameAcquisitionDateTime = f"20240101120{t}{k:02d}.000000"
        frame.PlanePositionSequence, frame.FrameContentSequence = [position], [content]
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = pixels[::-1].tobytes()
    return ds


def test_one_enhanced_file_per_volume_is_a_time_series(tmp_path: Path) -> None:
    files = [enhanced_volume(t) for t in (1, 0)]
    volume = load_series(write(tmp_path, files))
    assert volume.array.shape == (4, 3, 3, 2)
    for t in range(2):
        for k in range(3):
            np.testing.assert_array_equal(volume.array[:, :, k, t], ramp(10 * t + k).T)
    ref = volume.frame_ref(0, 1)
    assert (ref.sop_instance_uid, ref.frame_number) == (files[0].SOPInstanceUID, 3)


def radiograph(**attributes: Any) -> Dataset:
    pixels = np.array([[0, 1000, 4095], [10, 20, 30]], dtype=np.uint16)
    values = {"Modality": "CR", "BitsStored": 12, "HighBit": 11, **attributes}
    return image(pixels, ComputedRadiographyImageStorage, **values)


def test_radiograph_uses_imager_pixel_spacing_and_inverts_monochrome1(tmp_path: Path) -> None:
    ds = radiograph(ImagerPixelSpacing=[0.2, 0.1], PhotometricInterpretation="MONOCHROME1")
    volume = load_series(write(tmp_path, [ds]))
    assert volume.is_projection
    assert volume.array.shape == (3, 2, 1)
    assert volume.spacing[:2] == pytest.approx((0.1, 0.2))
    np.testing.assert_array_equal(volume.array[:, 0, 0], [4095, 3095, 0])


def test_radiograph_orientation_from_patient_orientation(tmp_path: Path) -> None:
    ds = radiograph(PixelSpacing=[0.15, 0.15], PatientOrientation=["R", "F"])
    volume = load_series(write(tmp_path, [ds]))
    np.testing.assert_allclose(volume.affine[:3, 0], [-0.15, 0, 0])
    np.testing.assert_allclose(volume.affine[:3, 1], [0, 0, -0.15])
    np.testing.assert_array_equal(volume.array[:, 0, 0], [0, 1000, 4095])


def test_radiograph_without_spacing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="no Pixel Spacing or Imager Pixel Spacing"):
        load_series(write(tmp_path, [radiograph()]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ds: ds.pop(2), "missing slice"),
        (lambda ds: setattr(ds[3], "ImagePositionPatient", [-10.0, -20.0, 5.0 + 2.0 * 3 + 0.5]), "uneven"),
        (lambda ds: setattr(ds[1], "ImageOrientationPatient", [0, 1, 0, 0, 0, -1]), "mixed orientations"),
        (lambda ds: setattr(ds[1], "PixelSpacing", [0.8, 0.8]), "mixed pixel spacings"),
        (lambda ds: ds.append(slice_image(9, ramp(9, rows=5), (0, 0, 99))), "mixed image sizes"),
        (lambda ds: ds.append(slice_image(1, ramp(1), (-10.0, -20.0, 7.0))), "missing or extra images"),
        (lambda ds: ds.append(axial_series(1, series=generate_uid())[0]), "holds 2 series"),
        (lambda ds: ds[1].__delattr__("ImagePositionPatient"), "lack position or orientation"),
    ],
    ids=["gap", "uneven", "orientation", "spacing", "size", "time point", "two series", "no position"],
)
def test_inconsistent_series_get_a_clear_error(tmp_path: Path, change: Any, message: str) -> None:
    datasets = axial_series(5)
    change(datasets)
    with pytest.raises(VolumeError, match=message) as raised:
        load_series(write(tmp_path, datasets))
    assert SERIES in str(raised.value) or "holds 2 series" in message


def test_folder_without_dicom_images_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not dicom")
    with pytest.raises(VolumeError, match="no DICOM images"):
        load_series(tmp_path)


def test_colour_images_are_refused(tmp_path: Path) -> None:
    ds = slice_image(0, np.zeros((2, 2, 3), dtype=np.uint8), (0, 0, 0))
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    with pytest.raises(VolumeError, match="colour"):
        load_series(write(tmp_path, [ds]))
