"""The one error the volume loader raises: the input cannot become a correct volume."""

from __future__ import annotations

from dicom_node.errors import InputError


class VolumeError(InputError):
    """A series cannot be assembled into a volume; the message names the series and the problem."""

    def __init__(self, series: str, problem: str) -> None:
        super().__init__(f"series {series}: {problem}")
        self.series = series
        self.problem = problem
