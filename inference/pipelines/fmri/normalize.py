"""Registration of the mean EPI to the MNI152 template: a 4x4 map from MNI (LPS mm) to subject LPS mm.

The template is the packaged 3 mm MNI ICBM152 2009a T1 (``data/mni152_t1_3mm.nii.gz``, see
``data/SOURCE.md``). The transform is a similarity (rotation, translation, one isotropic scale),
initialised by matching the centres of mass, optimised with Mattes mutual information over two
resolutions. It is linear on purpose: robust on EPI's coarse, partial-coverage volumes. When the
optimised scale leaves [0.75, 1.33] the registration is reported as failed and the centre-of-mass
alignment is kept (the SR says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from inference.pipelines.fmri.motion import to_sitk

SCALE_RANGE = (0.75, 1.33)
SEED = 11


@dataclass(frozen=True)
class Normalisation:
    mni_to_subject: np.ndarray  # 4x4: MNI point (LPS mm) -> subject point (LPS mm)
    method: str  # "template registration", "centre of mass only" or "already in MNI space"

    @property
    def reliable(self) -> bool:
        return self.method != "centre of mass only"


@cache
def template() -> tuple[np.ndarray, np.ndarray]:
    """The 3 mm MNI template as (array x, y, z float32, affine voxel -> LPS mm)."""
    import nibabel as nib

    resource = resources.files("inference.pipelines.fmri").joinpath("data/mni152_t1_3mm.nii.gz")
    with resources.as_file(resource) as path:
        image: Any = nib.load(str(path))
        array = np.asarray(image.dataobj, dtype=np.float32)
        affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ image.affine
    return array, affine


def identity() -> Normalisation:
    return Normalisation(np.eye(4), "already in MNI space")


def _matrix(transform) -> np.ndarray:  # type: ignore[no-untyped-def]
    """4x4 of an ITK matrix-offset transform: x -> A (x - c) + c + t."""
    a = np.asarray(transform.GetMatrix(), float).reshape(3, 3)
    c = np.asarray(transform.GetCenter(), float)
    t = np.asarray(transform.GetTranslation(), float)
    out = np.eye(4)
    out[:3, :3] = a
    out[:3, 3] = t + c - a @ c
    return out


def register_to_mni(mean_epi: np.ndarray, affine_lps: np.ndarray, iterations: int = 60) -> Normalisation:
    """Similarity registration of ``mean_epi`` (x, y, z) to the template."""
    import SimpleITK as sitk

    fixed = to_sitk(*template())
    moving = to_sitk(mean_epi, affine_lps)
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Similarity3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    transform = sitk.Similarity3DTransform(initial)
    start = _matrix(transform)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.15, SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=iterations, relaxationFactor=0.6
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(transform, inPlace=True)
    try:
        method.Execute(fixed, moving)
    except RuntimeError:
        return Normalisation(start, "centre of mass only")
    scale = float(transform.GetScale())
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        return Normalisation(start, "centre of mass only")
    return Normalisation(_matrix(transform), "template registration")
