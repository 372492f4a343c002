"""Estimated total intracranial volume (eTIV) by the atlas scaling factor (Buckner et al. 2004).

Buckner RL, Head D, Parker J, et al. "A unified approach for morphometric and functional data analysis
in young, old, and demented adults using automated atlas-based head size normalization: reliability and
validation against manual measurement of total intracranial volume". NeuroImage 23 (2004) 724-738.
The head is registered to an atlas with an affine transform; the determinant of that transform (the
atlas scaling factor) scales the atlas's intracranial volume to the subject's. FreeSurfer
(``mri_segstats --etiv``) computes ``eTIV = 1948.106 cm^3 / det(talairach.xfm)``, the constant
calibrated for its MNI305 target; BrainChart's eTIV model is that FreeSurfer eTIV.

Here: the skull-stripped conformed T1 (deepbet / MindGrab mask) is registered to the packaged
skull-stripped MNI ICBM152 2009a template (3 mm, ``inference/pipelines/fmri/data``; MNI152 is linearly
aligned to MNI305, so FreeSurfer's constant is used unchanged) with a 12-parameter affine transform
(Mattes mutual information, two resolutions, initialised by a similarity fit on centres of mass), and
``eTIV = 1948.106 cm^3 * det(A)``, A mapping template points to subject points. Brain-to-brain
registration follows the brain's outer hull (which holds sulcal CSF), not the skull: in strongly
atrophic brains the hull shrinks a little and eTIV is then somewhat underestimated, more than
FreeSurfer's whole-head registration would. When the registration fails or gives an implausible scale,
:func:`estimate` returns None and the pipeline falls back to the brain-mask volume (and says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.pipelines.atrophy.conform import Grid

FREESURFER_ETIV_CM3 = 1948.106
DETERMINANT_RANGE = (0.5, 1.3)  # eTIV 0.97-2.5 L: outside it the registration is taken as failed
SEED = 7
SAMPLING = 0.1  # of the template voxels per iteration
ITERATIONS = (30, 50)  # similarity, then affine (the result is stable to 0.01 % with more)


@dataclass(frozen=True)
class Etiv:
    ml: float
    determinant: float


def _matrix(transform) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(transform.GetMatrix(), float).reshape(3, 3)


def estimate(conformed: np.ndarray, brain: np.ndarray, grid: Grid) -> Etiv | None:
    """eTIV (mL) of the skull-stripped ``conformed`` volume (i, j, k on ``grid``), or None on failure."""
    import SimpleITK as sitk

    from inference.pipelines.fmri.motion import to_sitk
    from inference.pipelines.fmri.normalize import template

    fixed = to_sitk(*template())
    moving = _half_resolution(np.where(brain, conformed, 0.0).astype(np.float32), grid)
    similarity = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Similarity3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    transform = sitk.Similarity3DTransform(similarity)
    try:
        _register(fixed, moving, transform, iterations=ITERATIONS[0])
        affine = sitk.AffineTransform(3)
        affine.SetMatrix(transform.GetMatrix())
        affine.SetTranslation(transform.GetTranslation())
        affine.SetCenter(transform.GetCenter())
        _register(fixed, moving, affine, iterations=ITERATIONS[1])
    except RuntimeError:
        return None
    determinant = float(np.linalg.det(_matrix(affine)))
    if not DETERMINANT_RANGE[0] <= determinant <= DETERMINANT_RANGE[1]:
        return None
    return Etiv(FREESURFER_ETIV_CM3 * determinant, determinant)


def _half_resolution(array: np.ndarray, grid: Grid):  # type: ignore[no-untyped-def]
    """2 x 2 x 2 block means of ``array`` (even shape) as a SimpleITK image on the matching 2 mm grid."""
    i, j, k = (n // 2 for n in array.shape)
    blocks = array[: 2 * i, : 2 * j, : 2 * k].reshape(i, 2, j, 2, k, 2).mean(axis=(1, 3, 5))
    affine = grid.affine.copy()
    affine[:3, :3] = grid.affine[:3, :3] * 2.0
    affine[:3, 3] = grid.affine[:3, :3] @ np.full(3, 0.5) + grid.affine[:3, 3]
    return Grid((i, j, k), affine).image(blocks.astype(np.float32))


def _register(fixed, moving, transform, iterations: int) -> None:  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING, SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.6
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)


@dataclass(frozen=True)
class Intracranial:
    """The ICV used for the norms: an eTIV (atlas scaling), or the brain-mask volume when that failed."""

    ml: float
    method: str  # "eTIV" or "brain mask"

    def line(self, age: float | None, sex: str | None) -> str:
        if self.method != "eTIV":
            return (
                f"Intracranial volume: {self.ml:.0f} mL (brain-extraction mask; the eTIV registration"
                " failed, so ICV-adjusted figures are biased)"
            )
        text = f"Intracranial volume (eTIV, atlas scaling to MNI152, Buckner 2004): {self.ml:.0f} mL"
        if age is not None and sex is not None:
            from inference.pipelines.atrophy import brainchart, reference

            model = brainchart.load("eTIV")
            centile = 100.0 * model.centile(self.ml * 1000.0, reference.clamp_age(age), sex)
            text += f" (BrainChart eTIV centile {centile:.0f} for age and sex)"
        return text
