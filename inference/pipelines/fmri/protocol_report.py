"""Print the paper's Table 1 for a protocol run: per ROI test loss, accuracy, bootstrap p; the ensemble.

ROIs are named by what they are (``Power 99 (-16, 29, 53) Frontal cortex L`` for Power ROIs,
``CC200 ROI 17`` for columns of a time-series atlas), never by a bare number of another list.
"""

from __future__ import annotations

from collections.abc import Callable

from inference.pipelines.fmri.training import ProtocolResult, RoiStats


def power_name(roi: int) -> str:
    from inference.pipelines.fmri import atlas

    return atlas.roi(roi).describe()


def column_name(atlas_name: str) -> Callable[[int], str]:
    return lambda roi: f"{atlas_name} ROI {roi}"


def format_rows(stats: list[RoiStats], name: Callable[[int], str]) -> list[str]:
    lines = [f"{'#':>3}  {'ROI':<58} {'Loss':>6} {'ACC':>6} {'p':>7}"]
    for i, s in enumerate(stats, start=1):
        lines.append(f"{i:>3}  {name(s.roi):<58} {s.loss:>6.2f} {s.accuracy:>6.2f} {s.p:>7.3f}")
    return lines


def protocol_lines(
    result: ProtocolResult, name: Callable[[int], str], alpha: float, n_resamples: int, show_all: bool
) -> list[str]:
    """The whole report: the per-ROI table on the test split, then the nested ensemble."""
    passing = [result.test[r] for r in result.rois if show_all or result.test[r].significant]
    n_pass = sum(result.test[r].significant for r in result.rois)
    lines = [
        f"Subjects: {result.n_train} training, {result.n_test} test (stratified 7:3 split).",
        f"Table 1 - ROIs whose test accuracy passes the bootstrap test (alpha {alpha}, {n_resamples} "
        f"resamples, no multiple-comparison correction): {n_pass} of {len(result.rois)}"
        + (" (all ROIs listed)" if show_all else ""),
        *format_rows(passing, name),
    ]
    expected = alpha * len(result.rois)
    lines.append(
        f"Expected by chance alone at alpha {alpha}: about {expected:.0f} of {len(result.rois)} ROIs."
    )
    if result.ensemble_stats is None:
        lines.append(
            "Ensemble: no ROI passed the bootstrap test inside the training split (nested); none formed."
        )
    else:
        e = result.ensemble_stats
        lines.append(
            f"Ensemble of the {len(result.ensemble)} ROIs selected inside the training split (nested, "
            f"weighted by inner accuracy): test accuracy {e.accuracy:.2f}, loss {e.loss:.2f}, "
            f"bootstrap p {e.p:.3f}"
        )
        lines.append("selected ROIs: " + ",".join(map(str, result.ensemble)))
    lines.append("passing ROIs: " + ",".join(str(s.roi) for s in passing if s.significant))
    return lines
