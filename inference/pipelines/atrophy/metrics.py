"""Scores of the head, printed by ``evaluate atrophy`` and stored in the bundle by ``train atrophy``.

Per region: accuracy, sensitivity (atrophy found when annotated) and specificity (no atrophy when none
annotated) over the subjects annotated for that region, with 95 % Wilson score intervals; the 3-class
confusion matrix (rows: annotated class, columns: predicted) over the subjects with a class.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.pipelines.atrophy.dataset import CLASS_NAMES
from inference.pipelines.atrophy.regions import REGIONS


@dataclass(frozen=True)
class BinaryScore:
    n: int
    positives: int
    accuracy: float
    sensitivity: float
    specificity: float
    true_positives: int = 0
    true_negatives: int = 0

    def intervals(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """95 % Wilson intervals of accuracy, sensitivity and specificity."""
        negatives = self.n - self.positives
        false_negatives = self.positives - self.true_positives
        correct = self.true_positives + self.true_negatives
        return (
            wilson(correct, self.n),
            wilson(self.true_positives, self.true_positives + false_negatives),
            wilson(self.true_negatives, negatives),
        )

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN when n is 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def binary_score(truth: np.ndarray, predicted: np.ndarray) -> BinaryScore:
    """Scores of ``predicted`` (0/1) against ``truth`` (1/0, -1 = not annotated, ignored)."""
    known = truth >= 0
    t, p = truth[known].astype(bool), predicted[known].astype(bool)
    tp, tn = int((t & p).sum()), int((~t & ~p).sum())
    return BinaryScore(
        n=int(known.sum()),
        positives=int(t.sum()),
        accuracy=_ratio(tp + tn, int(known.sum())),
        sensitivity=_ratio(tp, int(t.sum())),
        specificity=_ratio(tn, int((~t).sum())),
        true_positives=tp,
        true_negatives=tn,
    )


def region_scores(truth: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> list[BinaryScore]:
    """One score per region (columns of ``truth`` (N, 10) and ``probabilities`` (N, 10))."""
    predicted = (probabilities >= threshold).astype(np.int64)
    return [binary_score(truth[:, i], predicted[:, i]) for i in range(truth.shape[1])]


def confusion_matrix(
    truth: np.ndarray, predicted: np.ndarray, n_classes: int = len(CLASS_NAMES)
) -> np.ndarray:
    """Counts (n_classes, n_classes): row = annotated class, column = predicted; -1 truths ignored."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(truth.tolist(), predicted.tolist(), strict=True):
        if t >= 0:
            matrix[t, p] += 1
    return matrix


def _percent(value: float) -> str:
    return "   n/a" if math.isnan(value) else f"{100 * value:5.1f}%"


def _with_interval(value: float, interval: tuple[float, float]) -> str:
    if math.isnan(value):
        return "n/a".rjust(18)
    return f"{100 * value:5.1f}% ({100 * interval[0]:4.1f}-{100 * interval[1]:5.1f})"


def region_table(scores: list[BinaryScore]) -> list[str]:
    """Per region: n, positives, accuracy, sensitivity, specificity with 95 % Wilson intervals."""
    header = f"{'Region':<22} {'codes':>7} {'n':>5} {'atrophy':>7}"
    lines = [header + f" {'accuracy (95% CI)':>18} {'sens. (95% CI)':>18} {'spec. (95% CI)':>18}"]
    for region, score in zip(REGIONS, scores, strict=True):
        codes = f"{region.code(True)}/{region.code(False)}"
        accuracy, sensitivity, specificity = score.intervals()
        lines.append(
            f"{region.name:<22} {codes:>7} {score.n:>5} {score.positives:>7}"
            f" {_with_interval(score.accuracy, accuracy)} {_with_interval(score.sensitivity, sensitivity)}"
            f" {_with_interval(score.specificity, specificity)}"
        )
    return lines


def confusion_table(matrix: np.ndarray) -> list[str]:
    width = max(len(name) for name in CLASS_NAMES) + 2
    lines = ["annotated \\ predicted".ljust(22) + "".join(f"{name:>{width}}" for name in CLASS_NAMES)]
    for name, row in zip(CLASS_NAMES, matrix.tolist(), strict=True):
        lines.append(f"{name:<22}" + "".join(f"{count:>{width}}" for count in row))
    total = int(matrix.sum())
    accuracy = _percent(_ratio(int(np.trace(matrix)), total))
    lines.append(f"3-class accuracy: {accuracy.strip()} of {total} subject(s)")
    return lines
