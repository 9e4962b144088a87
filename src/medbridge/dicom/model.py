"""The Patient → Study → Series → Instance model (PS3.3 A.1.2, PS3.4 C.6.1.1)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from medbridge.dicom.records import InstanceRecord

__all__ = ["Patient", "Series", "Study", "build_hierarchy", "series_summaries"]


@dataclass
class Series:
    """Instances sharing a (0020,000E) 'Series Instance UID'."""

    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    series_date: str = ""
    instances: dict[str, InstanceRecord] = field(default_factory=dict)
    duplicates: list[InstanceRecord] = field(default_factory=list)

    @property
    def number_of_instances(self) -> int:
        """Distinct SOP Instance UIDs: (0020,1209) 'Number of Series Related Instances'."""
        return len(self.instances)

    @property
    def number_of_frames(self) -> int:
        """Frames over all instances; a single-frame image counts one."""
        return sum(r.number_of_frames for r in self.instances.values())

    @property
    def transfer_syntaxes(self) -> list[str]:
        """Transfer syntax UIDs seen in this series, sorted."""
        return sorted({r.transfer_syntax_uid for r in self.instances.values()})


@dataclass
class Study:
    """Series sharing a (0020,000D) 'Study Instance UID'."""

    study_instance_uid: str
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    study_id: str = ""
    series: dict[str, Series] = field(default_factory=dict)

    @property
    def number_of_instances(self) -> int:
        """(0020,1208) 'Number of Study Related Instances'."""
        return sum(s.number_of_instances for s in self.series.values())

    @property
    def modalities(self) -> list[str]:
        """(0008,0061) 'Modalities in Study'."""
        return sorted({s.modality for s in self.series.values() if s.modality})


@dataclass
class Patient:
    """Studies of one (0010,0020) 'Patient ID' (and name, when IDs are empty)."""

    patient_id: str
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    studies: dict[str, Study] = field(default_factory=dict)

    @property
    def number_of_instances(self) -> int:
        """Instances over all studies of the patient."""
        return sum(s.number_of_instances for s in self.studies.values())


def build_hierarchy(records: Iterable[InstanceRecord]) -> list[Patient]:
    """Group instance records into patients, studies and series, in first-seen order.

    A patient is keyed by Patient ID and, because exports often blank the ID, by name
    as well: two different people with an empty ID are not merged. An instance whose
    SOP Instance UID was already seen in its series is kept aside as a duplicate
    (a second copy of one file), not counted twice.
    """
    patients: dict[tuple[str, str], Patient] = {}
    for record in records:
        patient = patients.get((record.patient_id, record.patient_name))
        if patient is None:
            patient = Patient(
                patient_id=record.patient_id,
                patient_name=record.patient_name,
                patient_birth_date=record.patient_birth_date,
                patient_sex=record.patient_sex,
            )
            patients[(record.patient_id, record.patient_name)] = patient
        study = patient.studies.get(record.study_instance_uid)
        if study is None:
            study = Study(
                study_instance_uid=record.study_instance_uid,
                study_date=record.study_date,
                study_time=record.study_time,
                study_description=record.study_description,
                accession_number=record.accession_number,
                study_id=record.study_id,
            )
            patient.studies[record.study_instance_uid] = study
        series = study.series.get(record.series_instance_uid)
        if series is None:
            series = Series(
                series_instance_uid=record.series_instance_uid,
                modality=record.modality,
                series_number=record.series_number,
                series_description=record.series_description,
                series_date=record.series_date,
            )
            study.series[record.series_instance_uid] = series
        key = record.sop_instance_uid or record.path
        if key in series.instances:
            series.duplicates.append(record)
        else:
            series.instances[key] = record
    return list(patients.values())


def series_summaries(patients: Iterable[Patient]) -> Iterator[dict[str, object]]:
    """One dict per series with DICOM keywords as keys, for JSON Lines and tables.

    The counts are the computed attributes a C-FIND would return at series level
    (PS3.4 C.3.4): (0020,1209) 'Number of Series Related Instances' and its peers.
    """
    for patient in patients:
        for study in patient.studies.values():
            for series in study.series.values():
                yield {
                    "PatientID": patient.patient_id,
                    "PatientName": patient.patient_name,
                    "PatientBirthDate": patient.patient_birth_date,
                    "PatientSex": patient.patient_sex,
                    "StudyInstanceUID": study.study_instance_uid,
                    "StudyDate": study.study_date,
                    "StudyTime": study.study_time,
                    "StudyDescription": study.study_description,
                    "AccessionNumber": study.accession_number,
                    "StudyID": study.study_id,
                    "SeriesInstanceUID": series.series_instance_uid,
                    "SeriesNumber": series.series_number,
                    "SeriesDate": series.series_date,
                    "Modality": series.modality,
                    "SeriesDescription": series.series_description,
                    "NumberOfSeriesRelatedInstances": series.number_of_instances,
                    "NumberOfFrames": series.number_of_frames,
                    "TransferSyntaxUIDs": series.transfer_syntaxes,
                    "DuplicateFiles": [r.path for r in series.duplicates],
                }
