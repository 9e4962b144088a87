"""What a de-identification run does: the profile's options and the secret key.

PS3.15 Annex E defines one Basic Application Level Confidentiality Profile and options
that retain or clean more (E.3). A :class:`Policy` names the options chosen, the secret key
that makes UID remapping and date shifting repeatable, and any pixel regions to blank.
Each option carries its code from CID 7050 "De-identification Method", which is written
into (0012,0064) 'De-identification Method Code Sequence' so that a recipient can tell
what was done (PS3.15 E.1.1, step 4).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DateMode", "Option", "PixelRegion", "Policy"]

DateMode = Literal["remove", "keep", "shift"]
"""How dates are handled: the Basic Profile removes them; ``keep`` is the Retain
Longitudinal Temporal Information with Full Dates Option, ``shift`` the one with Modified
Dates (PS3.15 E.3.6)."""


class Option(enum.Enum):
    """The options of PS3.15 E.3, valued (Table E.1-1 column, CID 7050 code, meaning)."""

    CLEAN_PIXEL_DATA = ("", "113101", "Clean Pixel Data Option")
    CLEAN_GRAPHICS = ("cleanGraphOpt", "113103", "Clean Graphics Option")
    CLEAN_STRUCTURED_CONTENT = ("cleanStructContOpt", "113104", "Clean Structured Content Option")
    CLEAN_DESCRIPTORS = ("cleanDescOpt", "113105", "Clean Descriptors Option")
    RETAIN_LONG_FULL_DATES = (
        "rtnLongFullDatesOpt",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    )
    RETAIN_LONG_MODIFIED_DATES = (
        "rtnLongModifDatesOpt",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    )
    RETAIN_PATIENT_CHARACTERISTICS = (
        "rtnPatCharsOpt",
        "113108",
        "Retain Patient Characteristics Option",
    )
    RETAIN_DEVICE_IDENTITY = ("rtnDevIdOpt", "113109", "Retain Device Identity Option")
    RETAIN_UIDS = ("rtnUIDsOpt", "113110", "Retain UIDs Option")
    RETAIN_SAFE_PRIVATE = ("rtnSafePrivOpt", "113111", "Retain Safe Private Option")
    RETAIN_INSTITUTION_IDENTITY = (
        "rtnInstIdOpt",
        "113112",
        "Retain Institution Identity Option",
    )

    @property
    def column(self) -> str:
        """The option's column in Table E.1-1 (empty for Clean Pixel Data)."""
        return self.value[0]

    @property
    def code(self) -> str:
        """The option's code value in CID 7050 (scheme DCM)."""
        return self.value[1]

    @property
    def meaning(self) -> str:
        """The code meaning of CID 7050."""
        return self.value[2]


BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
"""CID 7050 code of the Basic Profile itself, always written first."""


@dataclass(frozen=True, slots=True)
class PixelRegion:
    """A rectangle of pixels to blank: columns ``x``..``x+width``, rows ``y``..``y+height``."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if min(self.x, self.y) < 0 or min(self.width, self.height) <= 0:
            raise ValueError(f"pixel region needs x, y >= 0 and a positive size, got {self}")

    @classmethod
    def parse(cls, text: str) -> PixelRegion:
        """Read ``"x,y,width,height"`` as typed on the command line."""
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError(f"pixel region must be x,y,width,height, got {text!r}")
        x, y, w, h = (int(p) for p in parts)
        return cls(x, y, w, h)


@dataclass(frozen=True, slots=True)
class Policy:
    """The options of one de-identification, and the key that makes it repeatable.

    Parameters
    ----------
    key:
        Secret bytes. UIDs are remapped as HMAC-SHA256(key, UID) and each patient's date
        offset is derived from HMAC-SHA256(key, Patient ID), so the same key gives the same
        output on any machine in any run, and studies de-identified apart still link.
        Without a key a random one is drawn: output is consistent within the process only.
    dates:
        ``"remove"`` (Basic Profile), ``"keep"`` or ``"shift"`` (PS3.15 E.3.6).
    retain_uids, retain_device_identity, retain_institution_identity,
    retain_patient_characteristics, retain_safe_private:
        The Retain options of PS3.15 E.3.9, E.3.4, E.3.5, E.3.3 and E.3.10.
    clean_descriptors, clean_structured_content, clean_graphics:
        The Clean options of PS3.15 E.3.11, E.3.12 and E.3.13: descriptions, structured
        content and graphics are kept with every identifying value of the dataset cut out
        instead of being removed.
    pixel_mask:
        Regions blanked in every frame (Clean Pixel Data Option, E.3.1). Required to
        accept an image whose (0028,0301) 'Burned In Annotation' is YES.
    """

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    dates: DateMode = "remove"
    retain_uids: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    retain_safe_private: bool = False
    clean_descriptors: bool = False
    clean_structured_content: bool = False
    clean_graphics: bool = False
    pixel_mask: tuple[PixelRegion, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("the de-identification key must not be empty")
        if self.dates not in ("remove", "keep", "shift"):
            raise ValueError(f"dates must be 'remove', 'keep' or 'shift', not {self.dates!r}")

    @property
    def options(self) -> frozenset[Option]:
        """The PS3.15 E.3 options this policy applies."""
        chosen = {
            Option.RETAIN_UIDS: self.retain_uids,
            Option.RETAIN_DEVICE_IDENTITY: self.retain_device_identity,
            Option.RETAIN_INSTITUTION_IDENTITY: self.retain_institution_identity,
            Option.RETAIN_PATIENT_CHARACTERISTICS: self.retain_patient_characteristics,
            Option.RETAIN_SAFE_PRIVATE: self.retain_safe_private,
            Option.RETAIN_LONG_FULL_DATES: self.dates == "keep",
            Option.RETAIN_LONG_MODIFIED_DATES: self.dates == "shift",
            Option.CLEAN_DESCRIPTORS: self.clean_descriptors,
            Option.CLEAN_STRUCTURED_CONTENT: self.clean_structured_content,
            Option.CLEAN_GRAPHICS: self.clean_graphics,
            Option.CLEAN_PIXEL_DATA: bool(self.pixel_mask),
        }
        return frozenset(option for option, on in chosen.items() if on)
