"""Region outlines a viewer can draw: closed polygons in DICOM image coordinates (column, row).

SCOORD coordinates put (0, 0) at the top-left corner of the top-left pixel, so a pixel (r, c) spans
[c, c+1] x [r, r+1]. :func:`outline` follows the pixel edges of the largest 4-connected part of a
mask (holes filled) and returns its outer boundary, simplified (Douglas-Peucker, 0.75 px) to at most
:data:`MAX_POINTS` vertices, first point repeated last. OHIF turns a group-level polygon of 4 or 5
points into an editable rectangle it then fails to rebuild, so outlines never have 4 or 5 points.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAX_POINTS = 200  # the outline on the frame where a region is largest
OTHER_POINTS = 48  # on the other frames
TOLERANCE_PX = 0.75
_RECTANGLE_SIZES = (4, 5)


def representative_frame(labels: np.ndarray, label: int) -> int | None:
    """Index of the frame (axis 0) where ``label`` covers the most pixels; None if it is absent."""
    areas = (np.asarray(labels) == label).reshape(labels.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas)) if areas.max(initial=0) > 0 else None


def _largest_part(mask: np.ndarray) -> np.ndarray:
    parts, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(parts.ravel())
        sizes[0] = 0
        mask = parts == int(np.argmax(sizes))
    return np.asarray(ndimage.binary_fill_holes(mask), bool)


def _boundary_cycle(mask: np.ndarray) -> np.ndarray:
    """The longest closed chain of pixel edges between ``mask`` and its outside, as (x, y) corners."""
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    # (neighbour offset, start corner, end corner) relative to pixel (r, c) -> corners (x=c, y=r);
    # interior kept on the right of the direction of travel (clockwise on screen)
    sides = (
        ((-1, 0), (0, 0), (1, 0)),  # top: left -> right
        ((0, 1), (1, 0), (1, 1)),  # right: top -> bottom
        ((1, 0), (1, 1), (0, 1)),  # bottom: right -> left
        ((0, -1), (0, 1), (0, 0)),  # left: bottom -> top
    )
    for (dr, dc), (sx, sy), (ex, ey) in sides:
        neighbour = padded[1 + dr : padded.shape[0] - 1 + dr, 1 + dc : padded.shape[1] - 1 + dc]
        rows, cols = np.nonzero(inner & ~neighbour)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            edges.setdefault((c + sx, r + sy), []).append((c + ex, r + ey))
    best: list[tuple[int, int]] = []
    while edges:
        start = next(iter(edges))
        cycle, point = [start], start
        while point in edges:
            targets = edges[point]
            nxt = targets.pop()
            if not targets:
                del edges[point]
            cycle.append(nxt)
            point = nxt
            if point == start:
                break
        if len(cycle) > len(best):
            best = cycle
    return np.asarray(best, dtype=np.float64)


def _douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    keep = np.zeros(len(points), bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last <= first + 1:
            continue
        segment = points[last] - points[first]
        length = float(np.hypot(*segment))
        offsets = points[first + 1 : last] - points[first]
        if length == 0.0:
            distances = np.hypot(offsets[:, 0], offsets[:, 1])
        else:
            distances = np.abs(segment[0] * offsets[:, 1] - segment[1] * offsets[:, 0]) / length
        index = int(np.argmax(distances))
        if distances[index] > tolerance:
            middle = first + 1 + index
            keep[middle] = True
            stack += [(first, middle), (middle, last)]
    return points[keep]


def _not_a_rectangle(points: np.ndarray) -> np.ndarray:
    """Insert edge midpoints until the closed polygon has neither 4 nor 5 points."""
    while len(points) in _RECTANGLE_SIZES:
        middle = (points[0] + points[1]) / 2
        points = np.vstack([points[:1], middle[None], points[1:]])
    return points


def outline(mask: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray | None:
    """Closed polygon (n, 2) of (column, row) around the largest part of ``mask``; None if empty."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return None
    cycle = _boundary_cycle(_largest_part(mask))
    tolerance = TOLERANCE_PX
    points = _douglas_peucker(cycle, tolerance)
    while len(points) > max_points:
        tolerance *= 1.5
        points = _douglas_peucker(cycle, tolerance)
    return _not_a_rectangle(points)


def image_border(rows: int, columns: int) -> np.ndarray:
    """The whole image as a closed polygon (corners and edge midpoints: 9 points, not a rectangle tool)."""
    x, y = float(columns), float(rows)
    corners = [(0.0, 0.0), (x / 2, 0.0), (x, 0.0), (x, y / 2), (x, y), (x / 2, y), (0.0, y), (0.0, y / 2)]
    return np.asarray([*corners, corners[0]], dtype=np.float64)
