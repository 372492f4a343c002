"""Whether two time points were acquired alike, so that a volume change can be read as a change.

A regional volume measured on another scanner, field strength or sequence differs by more than a year
or two of atrophy (Jovicich et al. 2009 report scanner, vendor, field strength and sequence effects on
FreeSurfer volumes of several per cent), so a change between such scans is stated but never called
significant. The rules (docs/atrophy-longitudinal.md):

* must match: manufacturer (first word, case-insensitive: "SIEMENS" = "Siemens Healthineers"), model,
  field strength (within :data:`FIELD_TOLERANCE_T`), sequence name (a leading ``*`` dropped), scanning
  sequence, 2D/3D, voxel size (each sorted axis within :data:`VOXEL_TOLERANCE_MM`), TR, TE, TI within
  :data:`TIMING_TOLERANCE` (relative) and flip angle within :data:`FLIP_TOLERANCE_DEG`;
* stated only: Series Description and software version (free text and upgrades that change no
  parameter); a descriptor recorded in one scan only (cannot be compared);
* the interval: under :data:`MIN_INTERVAL_YEARS` a yearly rate is not meaningful (the change stays).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inference.pipelines.atrophy.acquisition import Acquisition

FIELD_TOLERANCE_T = 0.1
VOXEL_TOLERANCE_MM = 0.1
TIMING_TOLERANCE = 0.05  # relative, for TR / TE / TI
FLIP_TOLERANCE_DEG = 1.0
MIN_INTERVAL_YEARS = 0.5


@dataclass(frozen=True)
class Comparability:
    """The outcome: the differences that block a comparison, those only stated, and the interval's."""

    blocking: tuple[str, ...]
    stated: tuple[str, ...]
    interval_years: float | None

    @property
    def comparable(self) -> bool:
        return not self.blocking

    @property
    def rate_meaningful(self) -> bool:
        return self.interval_years is not None and self.interval_years >= MIN_INTERVAL_YEARS

    def statement(self) -> str:
        """One sentence for the report."""
        if self.comparable:
            text = (
                "Scans comparable: same scanner model, field strength, sequence and voxel size within"
                " tolerances"
            )
        else:
            text = (
                "Scans NOT comparable (" + "; ".join(self.blocking) + "): the change is reported but not"
                " called significant"
            )
        if self.stated:
            text += ". Also differs: " + "; ".join(self.stated)
        if self.interval_years is None:
            text += ". Interval unknown (Study Date missing): no yearly rate"
        elif not self.rate_meaningful:
            text += (
                f". Interval {12.0 * self.interval_years:.1f} months, under {12 * MIN_INTERVAL_YEARS:.0f}:"
                " a yearly rate is not meaningful"
            )
        return text


def _vendor(text: str) -> str:
    words = text.strip().lower().split()
    return words[0] if words else ""


def _sequence(text: str) -> str:
    return text.strip().lstrip("*").lower()


def _same_text(name: str, prior: str, current: str, *, key: Callable[[str], str] = str.lower) -> str | None:
    """A difference sentence, or None (also when one side is unknown: see :func:`_unknown`)."""
    if not prior or not current:
        return None
    if key(prior.strip()) == key(current.strip()):
        return None
    return f"{name} {prior!r} then {current!r}"


def _same_number(
    name: str, prior: float | None, current: float | None, tolerance: float, unit: str
) -> str | None:
    if prior is None or current is None or abs(prior - current) <= tolerance:
        return None
    return f"{name} {prior:g} {unit} then {current:g} {unit}"


def _same_timing(name: str, prior: float | None, current: float | None) -> str | None:
    if prior is None or current is None:
        return None
    scale = max(abs(prior), abs(current), 1e-6)
    if abs(prior - current) / scale <= TIMING_TOLERANCE:
        return None
    return f"{name} {prior:g} ms then {current:g} ms"


def _unknown(prior: Acquisition, current: Acquisition) -> list[str]:
    """Descriptors recorded in one scan only (they cannot be compared; stated, not blocking)."""
    names = {
        "manufacturer": "manufacturer",
        "model": "model",
        "field_strength_t": "field strength",
        "sequence_name": "sequence name",
        "repetition_ms": "TR",
        "echo_ms": "TE",
        "inversion_ms": "TI",
        "flip_deg": "flip angle",
    }
    found = []
    for field, label in names.items():
        a, b = getattr(prior, field), getattr(current, field)
        if (a in (None, "")) != (b in (None, "")):
            found.append(f"{label} recorded in one scan only")
    return found


def compare(prior: Acquisition, current: Acquisition, interval_years: float | None) -> Comparability:
    """Compare the prior's acquisition with the current one's (see the module docstring for the rules)."""
    blocking = [
        _same_text("manufacturer", prior.manufacturer, current.manufacturer, key=_vendor),
        _same_text("model", prior.model, current.model),
        _same_number(
            "field strength", prior.field_strength_t, current.field_strength_t, FIELD_TOLERANCE_T, "T"
        ),
        _same_text("sequence", prior.sequence_name, current.sequence_name, key=_sequence),
        _same_text("scanning sequence", prior.scanning_sequence, current.scanning_sequence),
        _same_text("acquisition", prior.acquisition_type, current.acquisition_type),
        _voxels(prior.voxel_mm, current.voxel_mm),
        _same_timing("TR", prior.repetition_ms, current.repetition_ms),
        _same_timing("TE", prior.echo_ms, current.echo_ms),
        _same_timing("TI", prior.inversion_ms, current.inversion_ms),
        _same_number("flip angle", prior.flip_deg, current.flip_deg, FLIP_TOLERANCE_DEG, "deg"),
    ]
    stated = [
        _same_text("series description", prior.series_description, current.series_description),
        _same_text("software", prior.software, current.software),
        *_unknown(prior, current),
    ]
    return Comparability(
        blocking=tuple(b for b in blocking if b),
        stated=tuple(s for s in stated if s),
        interval_years=interval_years,
    )


def _voxels(prior: tuple[float, ...], current: tuple[float, ...]) -> str | None:
    if not prior or not current or len(prior) != len(current):
        return None
    if all(abs(a - b) <= VOXEL_TOLERANCE_MM for a, b in zip(prior, current, strict=True)):
        return None
    return f"voxel size {_size(prior)} mm then {_size(current)} mm"


def _size(voxel: tuple[float, ...]) -> str:
    return "x".join(f"{s:g}" for s in voxel)
