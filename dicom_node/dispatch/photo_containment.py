"""Outputs that show the source images go back only to the PACS the series came from.

Photographs carry faces and tattoos. A pipeline declares which of its outputs show the source images'
pixels (:attr:`inference.registry.PipelineInfo.source_pixels_in`, SOP Class UIDs: for ``dermatitis`` its
Secondary Capture summary). When the job's deliveries are registered, such an output is planned only for
the destinations in ``send_to`` that are the *source* of the series; for every other destination it is
withheld (an audit event on the job and a log line say what and why); outputs without the source's pixels
(the SR) go to every destination as usual. ``anonymize`` / ``deidentify`` change nothing here: the face
is in the pixels.

The source: a destination stands for its own ``ae_title`` and the calling AE titles listed in its
``source_aets``. It is the source of a series revision when *every* calling AE title that brought an
instance of that revision (recorded in the ledger at reception) is one it stands for. A series whose
calling AE title is unknown (empty) has no source. Comparison is exact (AE titles are case-sensitive;
surrounding spaces are not significant and are stripped on both sides).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from dicom_node.config import AnyDestination, Config
from dicom_node.ledger import DeliverySpec

SOP_CLASS_NAMES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}


@dataclass(frozen=True)
class Withheld:
    """Outputs not registered for one destination because it is not the source of the series."""

    destination: str
    objects: int
    sop_classes: tuple[str, ...]

    def describe(self, calling_aets: Collection[str], stands_for: Collection[str]) -> str:
        kinds = ", ".join(SOP_CLASS_NAMES.get(uid, uid) for uid in self.sop_classes)
        came_from = ", ".join(sorted(calling_aets)) or "unknown"
        return (
            f"withheld {self.objects} object(s) ({kinds}) from {self.destination}: they show the source "
            f"images and {self.destination} is not the PACS this series came from (calling AE title "
            f"{came_from}; {self.destination} stands for {', '.join(sorted(stands_for)) or 'nothing'})"
        )


@dataclass(frozen=True)
class DeliveryPlan:
    specs: list[DeliverySpec] = field(default_factory=list)
    withheld: list[Withheld] = field(default_factory=list)


def source_pixel_classes(pipeline: str | None) -> frozenset[str]:
    """SOP Class UIDs of ``pipeline``'s outputs that show the source images (empty for none / unknown)."""
    if not pipeline:
        return frozenset()
    from inference.registry import BUILTIN  # light: no torch at import

    info = BUILTIN.get(pipeline)
    return info.source_pixels_in if info is not None else frozenset()


def stands_for(destination: AnyDestination) -> frozenset[str]:
    """The calling AE titles a destination answers for as the source of a series."""
    titles = (
        (destination.ae_title, *destination.source_aets) if destination.ae_title else destination.source_aets
    )
    return frozenset(title.strip() for title in titles)


def is_source(destination: AnyDestination | None, calling_aets: Collection[str]) -> bool:
    """True when every calling AE title that brought the series is one ``destination`` stands for."""
    if destination is None:
        return False
    titles = {title.strip() for title in calling_aets}
    if not titles or "" in titles:
        return False
    return titles <= stands_for(destination)


def plan_deliveries(
    send_to: Sequence[str],
    outputs: Iterable[tuple[str, str, str]],
    destinations: dict[str, AnyDestination],
    contained_classes: Collection[str],
    calling_aets: Collection[str],
) -> DeliveryPlan:
    """One delivery per (destination, output), except contained outputs to a destination not the source.

    ``outputs`` are (relative path, SOP Instance UID, SOP Class UID).
    """
    items = list(outputs)
    plan = DeliveryPlan()
    for name in send_to:
        source = is_source(destinations.get(name), calling_aets)
        held: list[str] = []
        for path, uid, sop_class in items:
            if sop_class in contained_classes and not source:
                held.append(sop_class)
                continue
            plan.specs.append(DeliverySpec(name, uid, sop_class, path))
        if held:
            plan.withheld.append(Withheld(name, len(held), tuple(sorted(set(held)))))
    return plan


def never_source_destinations(config: Config) -> list[tuple[str, str]]:
    """(rule, destination) pairs where a photograph pipeline's images can never be delivered.

    Only decidable when ``node.allowed_calling_aets`` is set: a destination none of whose AE titles may
    call the node is never the source of a series.
    """
    allowed = {peer.ae_title for peer in config.node.allowed_calling_aets}
    if not allowed:
        return []
    pairs: list[tuple[str, str]] = []
    for rule in config.rules:
        if not source_pixel_classes(rule.pipeline):
            continue
        for name in rule.send_to:
            destination = config.destinations.get(name)
            if destination is not None and not stands_for(destination) & allowed:
                pairs.append((rule.name, name))
    return pairs
