"""Typed settings of the anonymizer, embedded in the node configuration under ``anonymizer:``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class PixelRule(BaseModel):
    """Clean Pixel Data: rectangles to blank in images that match every given selector."""

    model_config = ConfigDict(extra="forbid")

    manufacturer: str | None = Field(default=None, description="Manufacturer (0008,0070), case-insensitive")
    model: str | None = Field(default=None, description="Manufacturer's Model Name (0008,1090)")
    sop_class_uid: str | None = Field(default=None, description="SOP Class UID (0008,0016)")
    rows: int | None = Field(default=None, ge=1)
    columns: int | None = Field(default=None, ge=1)
    rectangles: list[tuple[int, int, int, int]] = Field(
        description="[x, y, width, height] in pixels, origin top-left", min_length=1
    )
    ocr: bool = Field(
        default=True,
        description="also look for text with the OCR (false: the template alone, e.g. for long cine loops)",
    )

    @field_validator("rectangles")
    @classmethod
    def _positive(cls, value: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        for x, y, w, h in value:
            if x < 0 or y < 0 or w <= 0 or h <= 0:
                raise ValueError(f"rectangle {[x, y, w, h]} must have x, y >= 0 and width, height > 0")
        return value


class ProfileSettings(BaseModel):
    """One named de-identification profile: the basic profile plus PS3.15 options."""

    model_config = ConfigDict(extra="forbid")

    options: list[str] = Field(default_factory=list, description="PS3.15 Annex E option names")
    key_file: Path | None = Field(default=None, description="HMAC key file (created 0600 on first use)")
    pseudonym_prefix: str = Field(
        default="ANON", pattern=r"^[A-Z0-9_-]{0,12}$", description="prefix of PatientID/Name/Accession"
    )
    date_offset_days: tuple[int, int] = Field(
        default=(-3650, -365), description="range of the per-patient date shift (Modified Dates option)"
    )
    burned_in_policy: Literal["refuse", "trust_header"] = Field(
        default="refuse",
        description="refuse: US/SC/XC/OT/document objects need the Clean Pixel Data option (OCR and "
        "pixel_rules); trust_header: accept them when BurnedInAnnotation is NO",
    )
    pixel_rules: list[PixelRule] = Field(
        default_factory=list, description="Clean Pixel Data mask templates by device and image size"
    )
    safe_private: list[str] = Field(
        default_factory=list,
        description="extra safe private attributes 'GGGG,xxEE,CREATOR' kept by Retain Safe Private",
    )
    reidentification_store: Path | None = Field(
        default=None, description="SQLite file mapping pseudonyms to originals (holds PHI: 0600)"
    )

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: list[str]) -> list[str]:
        from anonymizer.options import parse_options

        parse_options(value)
        return value

    @model_validator(mode="after")
    def _offset_range(self) -> ProfileSettings:
        low, high = self.date_offset_days
        if low > high:
            raise ValueError("date_offset_days: first value must not exceed the second")
        return self


class AnonymizerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
