"""Build DICOM instances for the archive and DIMSE tests (pydicom writes every one)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.10.1337"


@dataclass
class Spec:
    """What one generated instance holds."""

    patient_id: str = "PAT1"
    patient_name: str = "Doe^Jane"
    study: int = 1
    series: int = 1
    number: int = 1
    modality: str = "CT"
    study_date: str = "20240115"
    study_time: str = "101500"
    accession: str = "ACC1"
    description: str = "CHEST"
    birth_date: str = "19700101"
    sex: str = "F"
    size: int = 16
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def study_uid(self) -> str:
        return f"{ROOT}.1.{self.study}"

    @property
    def series_uid(self) -> str:
        return f"{ROOT}.2.{self.study}.{self.series}"

    @property
    def sop_uid(self) -> str:
        return f"{ROOT}.3.{self.study}.{self.series}.{self.number}"


def make_dataset(spec: Spec) -> Dataset:
    """Return a CT Image dataset with file meta, per `spec`."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = spec.sop_uid
    ds.PatientID = spec.patient_id
    ds.PatientName = spec.patient_name
    ds.PatientBirthDate = spec.birth_date
    ds.PatientSex = spec.sex
    ds.StudyInstanceUID = spec.study_uid
    ds.StudyDate = spec.study_date
    ds.StudyTime = spec.study_time
    ds.AccessionNumber = spec.accession
    ds.StudyID = str(spec.study)
    ds.StudyDescription = spec.description
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.SeriesInstanceUID = spec.series_uid
    ds.SeriesNumber = spec.series
    ds.Modality = spec.modality
    ds.SeriesDescription = f"series {spec.series}"
    ds.InstanceNumber = spec.number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows = ds.Columns = spec.size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.ImagePositionPatient = [0, 0, float(spec.number)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1
    rng = np.random.default_rng(spec.number * 7919 + spec.series * 31 + spec.study)
    ds.PixelData = rng.integers(0, 4096, (spec.size, spec.size), dtype=np.uint16).tobytes()
    for key, value in spec.extra.items():
        setattr(ds, key, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def make_bytes(spec: Spec) -> bytes:
    """Return `spec` as DICOM Part 10 bytes."""
    buf = io.BytesIO()
    make_dataset(spec).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_files(folder: Path, specs: list[Spec]) -> list[Path]:
    """Write each spec to ``folder/<n>.dcm`` and return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, spec in enumerate(specs):
        path = folder / f"{i:05d}.dcm"
        path.write_bytes(make_bytes(spec))
        paths.append(path)
    return paths


def corpus() -> list[Spec]:
    """Return a small archive: 3 patients, 4 studies, 6 series, 13 instances."""
    specs = []
    # patient 1: two studies (CT 3+2 images; MR 2 images)
    specs += [Spec(number=n) for n in (1, 2, 3)]
    specs += [Spec(series=2, number=n, description="CHEST") for n in (1, 2)]
    specs += [
        Spec(
            study=2,
            series=1,
            number=n,
            modality="MR",
            study_date="20240301",
            study_time="083000",
            accession="ACC2",
            description="BRAIN",
        )
        for n in (1, 2)
    ]
    # patient 2: one study, CT + SR series
    specs += [
        Spec(
            patient_id="PAT2",
            patient_name="Smith^John",
            study=3,
            number=n,
            study_date="20231224",
            study_time="235959",
            accession="ACC3",
            description="ABDOMEN",
            birth_date="19800202",
            sex="M",
        )
        for n in (1, 2, 3)
    ]
    specs += [
        Spec(
            patient_id="PAT2",
            patient_name="Smith^John",
            study=3,
            series=2,
            number=1,
            modality="PT",
            study_date="20231224",
            study_time="235959",
            accession="ACC3",
            description="ABDOMEN",
            birth_date="19800202",
            sex="M",
        )
    ]
    # patient 3: one study, lowercase name for PN case handling
    specs += [
        Spec(
            patient_id="PAT3",
            patient_name="smithers^waylon",
            study=4,
            number=n,
            study_date="20240115",
            study_time="120000",
            accession="ACC4",
            description="HEAD",
            birth_date="19500505",
            sex="M",
        )
        for n in (1, 2)
    ]
    return specs
