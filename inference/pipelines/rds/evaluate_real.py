"""The paper's Table 1 on the real test split of ``cxr_lungs`` (``dicom-node evaluate rds DATA``).

For each test film (:mod:`inference.pipelines.rds.cxr_lungs`: patients never seen in training; the
adult test films are those whose licence forbids training a redistributed model), the bundle's UNet
predicts the lungs at the working resolution; the label map (raw, median filtered, median filtered +
rotation fallback) is resized (nearest) to the film's own size, as the pipeline does, and compared
with the reference mask there:

- mIoU: mean over films of the mean IoU of the right and the left lung (the paper's Table 1 measure);
- Dice per lung (final map): median with a bootstrap 95 % confidence interval (2,000 resamples);
- swapped sides: films whose predicted right lung overlaps the reference left lung more than the
  reference right lung, or the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.pipelines.rds.cxr_lungs import Film, films, load, select
from inference.pipelines.rds.images import resize
from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG

if TYPE_CHECKING:
    from inference.pipelines.rds.model import RdsModel

STAGES = ("UNet", "+ median filter", "+ rotation")
PAPER = (0.834, 0.847, 0.913)


def overlap(predicted: np.ndarray, truth: np.ndarray, lung_p: int, lung_t: int) -> tuple[int, int, int]:
    p, t = predicted == lung_p, truth == lung_t
    return int((p & t).sum()), int(p.sum()), int(t.sum())


def iou(predicted: np.ndarray, truth: np.ndarray, lung: int) -> float | None:
    both, p, t = overlap(predicted, truth, lung, lung)
    union = p + t - both
    return both / union if union else None


def dice(predicted: np.ndarray, truth: np.ndarray, lung: int) -> float:
    both, p, t = overlap(predicted, truth, lung, lung)
    return 1.0 if p + t == 0 else 2.0 * both / (p + t)


def swapped(predicted: np.ndarray, truth: np.ndarray) -> bool:
    for lung, other in ((RIGHT_LUNG, LEFT_LUNG), (LEFT_LUNG, RIGHT_LUNG)):
        same = overlap(predicted, truth, lung, lung)[0]
        crossed = overlap(predicted, truth, lung, other)[0]
        if crossed > same:
            return True
    return False


def bootstrap_median(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    medians = np.median(data[rng.integers(0, len(data), size=(resamples, len(data)))], axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


@dataclass
class GroupScores:
    miou: list[list[float]] = field(default_factory=lambda: [[], [], []])
    dice_right: list[float] = field(default_factory=list)
    dice_left: list[float] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)
    rotated: int = 0

    @property
    def count(self) -> int:
        return len(self.dice_right)


def score_film(model: RdsModel, film: Film, scores: GroupScores) -> None:
    loaded = load(film, model.settings.working_size)
    outcome = model.segment(loaded.image, rotate=True)
    shape = loaded.reference.shape
    for column, labels in zip(scores.miou, (outcome.raw, outcome.median, outcome.labels), strict=True):
        native = resize(labels, shape, nearest=True)
        values = [
            v
            for v in (iou(native, loaded.reference, lung) for lung in (RIGHT_LUNG, LEFT_LUNG))
            if v is not None
        ]
        if values:
            column.append(float(np.mean(values)))
    final = resize(outcome.labels, shape, nearest=True)
    scores.dice_right.append(dice(final, loaded.reference, RIGHT_LUNG))
    scores.dice_left.append(dice(final, loaded.reference, LEFT_LUNG))
    scores.rotated += int(outcome.quarter_turns != 0)
    if swapped(final, loaded.reference):
        scores.swapped.append(film.name)


def evaluate(model: RdsModel, data: Path, part: str = "test") -> dict[str, GroupScores]:
    chosen = select(films(data), part)
    groups = {"peds": GroupScores(), "adult": GroupScores()}
    for film in chosen:
        score_film(model, film, groups[film.group])
    return groups


def summary(groups: dict[str, GroupScores]) -> dict[str, Any]:
    """The figures as a JSON-able dict (bundle metadata, docs)."""
    out: dict[str, Any] = {}
    for name, g in groups.items():
        if not g.count:
            continue
        out[name] = {
            "films": g.count,
            "miou": {stage: round(float(np.mean(c)), 4) for stage, c in zip(STAGES, g.miou, strict=True)},
            "dice_right_median": round(float(np.median(g.dice_right)), 4),
            "dice_right_ci95": [round(v, 4) for v in bootstrap_median(g.dice_right)],
            "dice_left_median": round(float(np.median(g.dice_left)), 4),
            "dice_left_ci95": [round(v, 4) for v in bootstrap_median(g.dice_left)],
            "swapped_films": len(g.swapped),
            "rotation_used": g.rotated,
        }
    return out


def print_tables(groups: dict[str, GroupScores], kernel: int) -> None:
    figures = summary(groups)
    everyone = GroupScores()
    for g in groups.values():
        for column, values in zip(everyone.miou, g.miou, strict=True):
            column.extend(values)
    total = sum(g.count for g in groups.values())
    print(f"Table 1. Lung segmentation, real test split ({total} films, median kernel {kernel}); mIoU")
    header = f"{'Network':<10}{'Median filter':<15}{'Rotation':<10}{'paper':>7}{'all':>7}"
    print(header + "".join(f"{name:>7}" for name in figures))
    flags = (("x", "x"), ("o", "x"), ("o", "o"))
    for index, ((median, rotation), paper) in enumerate(zip(flags, PAPER, strict=True)):
        row = f"{'UNet':<10}{median:<15}{rotation:<10}{paper:>7.3f}{np.mean(everyone.miou[index]):>7.3f}"
        print(row + "".join(f"{np.mean(groups[name].miou[index]):>7.3f}" for name in figures))
    print()
    print("Dice per lung (final map), median [bootstrap 95% CI]")
    for name, f in figures.items():
        right, left = f["dice_right_ci95"], f["dice_left_ci95"]
        print(
            f"  {name:<6} {f['films']:>4} films:"
            f" right {f['dice_right_median']:.3f} [{right[0]:.3f}-{right[1]:.3f}]"
            f"  left {f['dice_left_median']:.3f} [{left[0]:.3f}-{left[1]:.3f}]"
            f"  swapped sides: {f['swapped_films']}  rotation used: {f['rotation_used']}"
        )
