"""What a scan yields: one light record per readable instance, one failure per other file."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["InstanceRecord", "ScanFailure"]


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """The header facts of one DICOM instance, read without its pixel data.

    Names follow the DICOM keywords in snake case. Text values are decoded with the
    file's (0008,0005) 'Specific Character Set' and stripped of padding; empty or absent
    attributes are ``""`` (or ``None`` for numbers), because a scan must list whatever
    it finds rather than refuse incomplete headers.

    ``warnings`` lists departures from PS3.10 that did not stop reading (no preamble,
    no File Meta Information, a transfer syntax guessed from the bytes).
    """

    path: str
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_instance_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    study_id: str = ""
    accession_number: str = ""
    series_instance_uid: str = ""
    series_date: str = ""
    series_time: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    image_type: str = ""
    instance_number: int | None = None
    number_of_frames: int = 1
    rows: int | None = None
    columns: int | None = None
    pixel_data_offset: int | None = None
    pixel_data_length: int | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_pixels(self) -> bool:
        """Whether the instance carries pixel data (images do; SR, RT plans do not)."""
        return self.pixel_data_offset is not None


@dataclass(frozen=True, slots=True)
class ScanFailure:
    """A file that a scan could not use, and why, in words a user can act on."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
