"""Retain Safe Private: private attributes known to carry no identity (a subset of PS3.15 Table E.3.10-1).

Each entry is (group, element offset within the block, private creator). Profiles add more entries with
``safe_private: ["GGGG,xxEE,CREATOR"]``. The Siemens CSA *image* header is listed because dcm2niix needs
it for mosaics and diffusion; the CSA *series* header (0029,xx20) is not: its protocol text was found to
carry original UIDs and name fragments, so it is removed like any other private element.
"""

from __future__ import annotations

from collections.abc import Iterable

from anonymizer.errors import AnonymizationError

SafeKey = tuple[int, int, str]

DEFAULT_SAFE_PRIVATE: frozenset[SafeKey] = frozenset(
    {
        # Siemens MR: diffusion, mosaic and CSA headers
        (0x0019, 0x08, "SIEMENS MR HEADER"),
        (0x0019, 0x09, "SIEMENS MR HEADER"),
        (0x0019, 0x0A, "SIEMENS MR HEADER"),
        (0x0019, 0x0B, "SIEMENS MR HEADER"),
        (0x0019, 0x0C, "SIEMENS MR HEADER"),
        (0x0019, 0x0D, "SIEMENS MR HEADER"),
        (0x0019, 0x0E, "SIEMENS MR HEADER"),
        (0x0019, 0x27, "SIEMENS MR HEADER"),
        (0x0029, 0x08, "SIEMENS CSA HEADER"),
        (0x0029, 0x09, "SIEMENS CSA HEADER"),
        (0x0029, 0x10, "SIEMENS CSA HEADER"),
        (0x0029, 0x18, "SIEMENS CSA HEADER"),
        (0x0029, 0x19, "SIEMENS CSA HEADER"),
        # GE MR: b-values, slice timing, acquisition parameters
        (0x0019, 0x8F, "GEMS_ACQU_01"),
        (0x0019, 0xA8, "GEMS_ACQU_01"),
        (0x0019, 0xA9, "GEMS_ACQU_01"),
        (0x0019, 0xBB, "GEMS_ACQU_01"),
        (0x0019, 0xBC, "GEMS_ACQU_01"),
        (0x0019, 0xBD, "GEMS_ACQU_01"),
        (0x0021, 0x5A, "GEMS_RELA_01"),
        (0x0027, 0x60, "GEMS_IMAG_01"),
        (0x0043, 0x39, "GEMS_PARM_01"),
        (0x0043, 0x6F, "GEMS_PARM_01"),
        # Philips MR: scale slope, diffusion
        (0x2005, 0x0E, "Philips MR Imaging DD 001"),
        (0x2001, 0x03, "Philips Imaging DD 001"),
        (0x2001, 0x04, "Philips Imaging DD 001"),
    }
)


def parse_safe_private(entries: Iterable[str]) -> frozenset[SafeKey]:
    """Parse ``"GGGG,xxEE,CREATOR"`` entries (hex group, hex element offset) into keys."""
    keys = set()
    for entry in entries:
        parts = [p.strip() for p in entry.split(",", 2)]
        try:
            group = int(parts[0], 16)
            element = int(parts[1].lower().removeprefix("xx"), 16)
            creator = parts[2]
        except (IndexError, ValueError):
            raise AnonymizationError(f"safe_private entry {entry!r}: expected 'GGGG,xxEE,CREATOR'") from None
        if not group & 1 or not 0 <= element <= 0xFF or not creator:
            raise AnonymizationError(f"safe_private entry {entry!r}: odd group, element 00-FF, creator")
        keys.add((group, element, creator))
    return frozenset(keys)
