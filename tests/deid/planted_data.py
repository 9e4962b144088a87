"""Planted datasets for the de-identification tests.

:func:`build_planted` builds a dataset with an identifying value in every place an identity can
hide (names, IDs, dates, addresses, free text, nested sequences, private attributes,
curves, overlays, other patient IDs, UIDs). Each planted value is distinctive, so a
byte scan of the output finds it only if it leaked. With ``charset`` it also plants
names in another character set (ISO-IR 100, UTF-8, ISO 2022 Japanese), in standard
attributes, nested items, descriptions and a vendor header, which :func:`spellings`
finds however the file encodes them.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
from pydicom.charset import convert_encodings, encode_string
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

KEY = b"medbridge-test-key-0123456789abcdef"

# category -> planted values; a policy that retains a category may keep its values
PLANTED: dict[str, tuple[str, ...]] = {
    "names": (
        "Zyxwert",
        "Plantedfirst",
        "Refdocplant",
        "Operatorplant",
        "Performerplant",
        "Nestedpersonplant",
        "Privpersonplant",
        "Otherpatientname",
    ),
    "ids": (
        "PLANTID-93847",
        "OTHERID-55123",
        "SEQID-77881",
        "ISSUER-PLANT",
        "ACC-PLANT-4411",
        "REQPROC-PLANT",
        "STUDYID-PL",
        "555-0199-321",
    ),
    "places": ("42 Plantedstreet", "Planted General Hospital", "Plantedward"),
    "device": ("PLANTSTATION9", "SERIAL-PLANT-7"),
    "dates": ("19471113", "20190314", "20190315", "20180101"),
    "uids": (
        "1.2.3.999.1",
        "1.2.3.999.2",
        "1.2.3.999.3",
        "1.2.3.999.4",
        "1.2.3.999.55",
        "1.2.3.999.66",
        "1.2.3.999.77",
    ),
    "free_text": (
        "plantedfree-88",
        "historyplant-12",
        "CURVEDESC-PLANT",
        "OVERLAYDESC-PLANT",
        "OVERLAYCOMMENT-PLANT",
        "SRTEXT-PLANT",
        "ICONTEXT-PLANT",
        "PRIVTEXT-PLANT",
    ),
}


# character set -> (Specific Character Set, planted name components, a planted place)
INTERNATIONAL: dict[str, tuple[str | list[str], tuple[str, ...], str]] = {
    "latin-1": ("ISO_IR 100", ("Müllerplänt", "Jürgenplant"), "Ærøskøbingplant"),
    "utf-8": ("ISO_IR 192", ("Дмитриевплант", "Ελένηplant"), "Łódźplantstraße"),
    "japanese": (["", "ISO 2022 IR 87"], ("山田", "花子"), "東京病院"),
}
_ESCAPE = re.compile(rb"\x1b[$()*+\-./][()]?[@-~]")


def spellings(value: str, charset: str | list[str] | None = None) -> set[bytes]:
    """Every way a file may store ``value``: UTF-8, Latin-1, the dataset's character set
    (with and without ISO 2022 escapes), each also upper-cased."""
    out: set[bytes] = set()
    for text in (value, value.upper()):
        out.add(text.encode("utf-8"))
        with contextlib.suppress(UnicodeEncodeError):
            out.add(text.encode("latin-1"))
        if charset is not None:
            terms = [charset] if isinstance(charset, str) else charset
            encoded = encode_string(text, convert_encodings(terms))
            out |= {encoded, _ESCAPE.sub(b"", encoded)}
    return {s for s in out if len(s) >= 4}


def find_planted(data: bytes, categories: tuple[str, ...], charset: str | None = None) -> list[str]:
    """The planted values of ``categories`` (and, with ``charset``, its international
    names and place) found anywhere in ``data``, in any spelling."""
    values = [v for category in categories for v in PLANTED[category]]
    term = None
    if charset is not None:
        term, names, place = INTERNATIONAL[charset]
        if "names" in categories:
            values += names
        if "places" in categories:
            values.append(place)
    return [v for v in values if any(s in data for s in spellings(v, term))]


def _person(name: str) -> Dataset:
    item = Dataset()
    item.PersonName = f"{name}^Plantedfirst"
    item.PersonAddress = "42 Plantedstreet"
    return item


def build_planted(
    *,
    patient_id: str = "PLANTID-93847",
    study_uid: str = "1.2.3.999.1",
    series_uid: str = "1.2.3.999.2",
    sop_uid: str = "1.2.3.999.3",
    study_date: str = "20190314",
    charset: str | None = None,
) -> Dataset:
    """A small MR image with identity planted everywhere (see the module docstring)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "PLANTSTATION9"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.3.999.4"
    ds.Modality = "MR"
    ds.PatientName = "Zyxwert^Plantedfirst"
    ds.PatientID = patient_id
    ds.IssuerOfPatientID = "ISSUER-PLANT"
    ds.PatientBirthDate = "19471113"
    ds.PatientSex = "F"
    ds.PatientAge = "071Y"
    ds.PatientAddress = "42 Plantedstreet Springfield"
    ds.PatientTelephoneNumbers = "555-0199-321"
    ds.OtherPatientIDs = "OTHERID-55123"
    ds.OtherPatientNames = "Otherpatientname^X"
    other = Dataset()
    other.PatientID = "SEQID-77881"
    other.IssuerOfPatientID = "ISSUER-PLANT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientComments = "historyplant-12 Zyxwert"
    ds.AdditionalPatientHistory = "historyplant-12"
    ds.AccessionNumber = "ACC-PLANT-4411"
    ds.StudyID = "STUDYID-PL"
    ds.ReferringPhysicianName = "Refdocplant^Plantedfirst"
    ds.OperatorsName = "Operatorplant^Plantedfirst"
    ds.PerformingPhysicianName = "Performerplant"
    ds.InstitutionName = "Planted General Hospital"
    ds.InstitutionAddress = "42 Plantedstreet"
    ds.InstitutionalDepartmentName = "Plantedward"
    ds.StationName = "PLANTSTATION9"
    ds.DeviceSerialNumber = "SERIAL-PLANT-7"
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = "101010"
    ds.AcquisitionDateTime = f"{study_date}101010"
    ds.InstanceCreationDate = "20190315"  # in Table E.1-1 since 2021
    ds.DateOfLastCalibration = "20180101"
    ds.StudyDescription = "MR head for Zyxwert PLANTID-93847"
    ds.SeriesDescription = "T1 plantedfree-88"
    ds.ImageComments = "plantedfree-88"
    ds.ProtocolName = "T1_MPRAGE"
    # references, nested: table (Referenced Image Sequence) and not (Referenced Series)
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ref.ReferencedSOPInstanceUID = "1.2.3.999.77"
    ds.ReferencedImageSequence = Sequence([ref])
    inst = Dataset()
    inst.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    inst.ReferencedSOPInstanceUID = "1.2.3.999.66"
    series = Dataset()
    series.SeriesInstanceUID = "1.2.3.999.55"
    series.ReferencedInstanceSequence = Sequence([inst])
    series.PerformedProcedureStepStartDate = "20190314"
    series.ReferencedPatientSequence = Sequence([_person("Nestedpersonplant")])
    series.VerifyingObserverName = "Nestedpersonplant"
    series.add_new(0x00404037, "PN", "Nestedpersonplant")  # Human Performer's Name
    ds.ReferencedSeriesSequence = Sequence([series])
    request = Dataset()
    request.RequestedProcedureID = "REQPROC-PLANT"
    request.ScheduledProcedureStepID = "REQPROC-PLANT"
    request.AccessionNumber = "ACC-PLANT-4411"
    ds.RequestAttributesSequence = Sequence([request])
    # structured content with free text and a person
    text = Dataset()
    text.ValueType = "TEXT"
    text.TextValue = "SRTEXT-PLANT Zyxwert"
    person = Dataset()
    person.ValueType = "PNAME"
    person.PersonName = "Nestedpersonplant"
    ds.ContentSequence = Sequence([text, person])
    # icon with its own text
    icon = Dataset()
    icon.Rows = 1
    icon.Columns = 1
    icon.ImageComments = "ICONTEXT-PLANT"
    ds.IconImageSequence = Sequence([icon])
    # private: a vendor block, a private sequence, a CSA header holding the patient ID
    ds.add_new(0x00090010, "LO", "PLANT VENDOR")
    ds.add_new(0x00091001, "LO", "Privpersonplant PRIVTEXT-PLANT")
    ds.add_new(0x00110010, "LO", "PLANT SEQ VENDOR")
    private_item = Dataset()
    private_item.PatientName = "Privpersonplant"
    ds.add_new(0x00111001, "SQ", Sequence([private_item]))
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", b"SV10\x04\x03\x02\x01PLANTID-93847\x00")
    # retired curves and an overlay, their text naming the patient
    ds.add_new(0x50000022, "LO", "CURVEDESC-PLANT Zyxwert")
    ds.add_new(0x50003000, "OB", b"CURVEDESC-PLANT\x00")
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60000022, "LO", "OVERLAYDESC-PLANT Zyxwert")
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60003000, "OW", b"\x00\x00")
    ds.add_new(0x60004000, "LT", "OVERLAYCOMMENT-PLANT PLANTID-93847")
    # a small image
    ds.Rows = 4
    ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(16, dtype="<u2").reshape(4, 4).tobytes()
    if charset is not None:
        _plant_international(ds, charset)
    return ds


def _plant_international(ds: Dataset, charset: str) -> None:
    """Names and a place in ``charset``: top level, nested, in a description and in a
    vendor header kept by Retain Safe Private, the header holding the components apart
    and in the other order, as a scanner may copy them."""
    term, (family, given), place = INTERNATIONAL[charset]
    ds.SpecificCharacterSet = term
    alphabetic = f"{family}^{given}"
    ds.PatientBirthName = alphabetic if charset != "japanese" else f"Yamada^Hanako={alphabetic}"
    ds.PatientMotherBirthName = family
    ds.InstitutionName = place
    ds.StudyDescription = f"MR head for {family} {given} PLANTID-93847"
    ds.ReferencedSeriesSequence[0].VerifyingObserverName = alphabetic
    encodings = convert_encodings([term] if isinstance(term, str) else term)
    header = b"SV10" + encode_string(f"{given} {family}", encodings) + b"\x00"
    ds.add_new(0x00291020, "OB", header + b"\x00" * (len(header) % 2))
