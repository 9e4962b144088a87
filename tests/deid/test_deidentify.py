"""Tests for medbridge.deid.deidentify: no planted identity survives, options act as told."""

from __future__ import annotations

import io
import struct
from datetime import datetime

import numpy as np
import pytest
from planted_data import INTERNATIONAL, KEY, PLANTED, find_planted
from pydicom import dcmread
from pydicom.dataset import Dataset

from medbridge.deid import Option, PixelRegion, Policy, deidentify, remap_uid
from medbridge.errors import DeidentificationError


def _written(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _leaks(data: bytes, categories: tuple[str, ...], charset: str | None = None) -> list[str]:
    return find_planted(data, categories, charset)


ALL = tuple(PLANTED)
POLICIES = {
    "basic": (Policy(key=KEY), ALL),
    "shift-dates": (Policy(key=KEY, dates="shift"), ALL),
    "clean-everything-keep-safe-private": (
        Policy(
            key=KEY,
            dates="shift",
            clean_descriptors=True,
            clean_structured_content=True,
            clean_graphics=True,
            retain_safe_private=True,
        ),
        ("names", "ids", "places", "device", "dates", "uids"),
    ),
    "clean-graphics": (  # overlays and curves kept, their text cleaned
        Policy(key=KEY, clean_graphics=True),
        ("names", "ids", "places", "device", "dates", "uids"),
    ),
    "keep-uids-dates-device-institution": (
        Policy(
            key=KEY,
            dates="keep",
            retain_uids=True,
            retain_device_identity=True,
            retain_institution_identity=True,
            retain_patient_characteristics=True,
        ),
        ("names", "ids", "free_text"),
    ),
}


CHARSETS = [None, *INTERNATIONAL]


class TestPhiLeak:
    @pytest.mark.parametrize("charset", CHARSETS, ids=[str(c) for c in CHARSETS])
    @pytest.mark.parametrize("name", list(POLICIES))
    def test_no_planted_value_in_output_bytes(self, planted, name, charset):
        """Every byte of the written output is free of every value the policy must remove,
        in any spelling: the file's character set, UTF-8 or Latin-1, name by component."""
        policy, categories = POLICIES[name]
        data = _written(deidentify(planted(charset=charset), policy))
        assert _leaks(data, categories, charset) == []

    def test_scan_finds_planted_values_in_input(self, planted):
        """The scan itself sees the planted values when nothing is removed."""
        data = _written(planted())
        assert sorted(_leaks(data, ALL)) == sorted(v for c in ALL for v in PLANTED[c])

    @pytest.mark.parametrize("charset", list(INTERNATIONAL))
    def test_scan_finds_international_names_in_input(self, planted, charset):
        """Names in another character set are found as the file stores them."""
        _term, names, place = INTERNATIONAL[charset]
        data = _written(planted(charset=charset))
        assert set(_leaks(data, ("names", "places"), charset)) >= {*names, place}

    @pytest.mark.parametrize("charset", list(INTERNATIONAL))
    def test_vendor_header_names_cleaned_in_their_encoding(self, planted, charset):
        """A kept vendor header copying the name in the file's character set, components
        apart and in another order, has each component overwritten."""
        out = deidentify(planted(charset=charset), Policy(key=KEY, retain_safe_private=True))
        header = out[0x00291020].value
        assert header.startswith(b"SV10") and set(header[4:].rstrip(b"\x00")) <= {ord("X"), 32}

    def test_input_unchanged_unless_in_place(self, planted, policy):
        """The default works on a copy; the caller's dataset keeps its values."""
        ds = planted()
        deidentify(ds, policy)
        assert ds.PatientID == "PLANTID-93847"
        deidentify(ds, policy, in_place=True)
        assert ds.PatientID != "PLANTID-93847"


# PS3.16 CID 7050 "De-identification Method": code value -> code meaning (scheme DCM)
CID_7050 = {
    "113100": "Basic Application Confidentiality Profile",
    "113101": "Clean Pixel Data Option",
    "113102": "Clean Recognizable Visual Features Option",
    "113103": "Clean Graphics Option",
    "113104": "Clean Structured Content Option",
    "113105": "Clean Descriptors Option",
    "113106": "Retain Longitudinal Temporal Information Full Dates Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113109": "Retain Device Identity Option",
    "113110": "Retain UIDs Option",
    "113111": "Retain Safe Private Option",
    "113112": "Retain Institution Identity Option",
}
# each option alone, as a Policy's keyword arguments, with the code it must record
ONE_OPTION = {
    "clean-pixel-data": ({"pixel_mask": (PixelRegion(0, 0, 1, 1),)}, "113101"),
    "clean-graphics": ({"clean_graphics": True}, "113103"),
    "clean-structured-content": ({"clean_structured_content": True}, "113104"),
    "clean-descriptors": ({"clean_descriptors": True}, "113105"),
    "keep-dates": ({"dates": "keep"}, "113106"),
    "shift-dates": ({"dates": "shift"}, "113107"),
    "keep-patient-characteristics": ({"retain_patient_characteristics": True}, "113108"),
    "keep-device": ({"retain_device_identity": True}, "113109"),
    "keep-uids": ({"retain_uids": True}, "113110"),
    "keep-safe-private": ({"retain_safe_private": True}, "113111"),
    "keep-institution": ({"retain_institution_identity": True}, "113112"),
}


class TestMarking:
    @pytest.mark.parametrize("name", list(ONE_OPTION))
    def test_each_option_records_its_cid_7050_code(self, planted, name):
        """An option applied alone adds exactly its CID 7050 code after the profile's."""
        kwargs, code = ONE_OPTION[name]
        out = dcmread(io.BytesIO(_written(deidentify(planted(), Policy(key=KEY, **kwargs)))))
        items = out.DeidentificationMethodCodeSequence
        assert [i.CodeValue for i in items] == ["113100", code]
        assert all(i.CodingSchemeDesignator == "DCM" for i in items)
        assert [i.CodeMeaning for i in items] == [CID_7050["113100"], CID_7050[code]]
        assert CID_7050[code] in out.DeidentificationMethod

    def test_basic_profile_alone(self, planted, policy):
        """The Basic Profile without options records 113100 only, dates REMOVED."""
        out = deidentify(planted(), policy)
        assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence] == ["113100"]
        assert out.LongitudinalTemporalInformationModified == "REMOVED"

    def test_identity_removed_and_method_codes(self, planted):
        """(0012,0062) is YES and (0012,0064) lists the Basic Profile and each option."""
        policy = Policy(key=KEY, dates="shift", retain_device_identity=True)
        ds = deidentify(planted(), policy)
        assert ds.PatientIdentityRemoved == "YES"
        codes = [
            (i.CodeValue, i.CodingSchemeDesignator) for i in ds.DeidentificationMethodCodeSequence
        ]
        assert codes == [("113100", "DCM"), ("113107", "DCM"), ("113109", "DCM")]
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"

    def test_every_option_has_its_cid_7050_code(self):
        """Each option carries its CID 7050 code and meaning as PS3.16 gives them."""
        codes = [o.code for o in Option]
        assert len(codes) == len(set(codes))
        for option in Option:
            assert CID_7050[option.code] == option.meaning
        assert {code for _kwargs, code in ONE_OPTION.values()} == set(codes)

    def test_file_meta_names_new_instance(self, planted, policy):
        """Media Storage SOP Instance UID follows the new SOP Instance UID."""
        ds = deidentify(planted(), policy)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPInstanceUID == remap_uid("1.2.3.999.3", KEY)
        assert "SourceApplicationEntityTitle" not in ds.file_meta


class TestActions:
    def test_patient_pseudonym_replaces_name_and_id(self, planted, policy):
        """Z on Patient ID/Name writes the keyed pseudonym, the same for both."""
        ds = deidentify(planted(), policy)
        assert ds.PatientID.startswith("MB") and ds.PatientName == ds.PatientID

    def test_sex_kept_only_with_patient_characteristics(self, planted):
        """Patient's Sex/Age follow the Retain Patient Characteristics Option (E.3.3)."""
        plain = deidentify(planted(), Policy(key=KEY))
        kept = deidentify(planted(), Policy(key=KEY, retain_patient_characteristics=True))
        assert plain.PatientSex == "" and "PatientAge" not in plain
        assert kept.PatientSex == "F" and kept.PatientAge == "071Y"

    def test_references_remapped_consistently(self, planted, policy):
        """Nested Referenced SOP Instance UIDs get the same mapping as top-level UIDs."""
        ds = deidentify(planted(), policy)
        assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == remap_uid(
            "1.2.3.999.77", KEY
        )
        nested = ds.ReferencedSeriesSequence[0]
        assert nested.SeriesInstanceUID == remap_uid("1.2.3.999.55", KEY)
        assert nested.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == remap_uid(
            "1.2.3.999.66", KEY
        )
        assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.4"

    def test_private_sop_class_kept(self, planted, policy):
        """A vendor's SOP Class UID names a kind of object: it is kept, not remapped."""
        ds = planted()
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.3.12.2.1107.5.9.1"
        ds.ReferencedImageSequence[0].ReferencedSOPClassUID = "1.3.12.2.1107.5.9.1"
        out = deidentify(ds, policy)
        assert out.SOPClassUID == out.file_meta.MediaStorageSOPClassUID == "1.3.12.2.1107.5.9.1"
        assert out.ReferencedImageSequence[0].ReferencedSOPClassUID == "1.3.12.2.1107.5.9.1"
        assert out.SOPInstanceUID == remap_uid("1.2.3.999.3", KEY)

    def test_shifted_dates_keep_intervals(self, planted):
        """Dates move by one per-patient offset, so intervals stay exact (E.3.6)."""
        ds = deidentify(planted(), Policy(key=KEY, dates="shift"))
        assert ds.StudyDate != "20190314"
        assert ds.StudyDate == ds.SeriesDate == ds.AcquisitionDateTime[:8]
        created = datetime.strptime(ds.InstanceCreationDate, "%Y%m%d")
        study = datetime.strptime(ds.StudyDate, "%Y%m%d")
        assert (created - study).days == 1

    def test_private_removed_by_default(self, planted, policy):
        """The Basic Profile removes every private attribute."""
        ds = deidentify(planted(), policy)
        assert not [e for e in ds if e.tag.is_private]

    def test_safe_private_kept_and_cleaned(self, planted):
        """A CSA header is kept under Retain Safe Private, the patient ID in it overwritten."""
        notes: list[str] = []
        ds = deidentify(planted(), Policy(key=KEY, retain_safe_private=True), notes=notes)
        assert ds[0x00291010].value == b"SV10\x04\x03\x02\x01" + b"X" * 13 + b"\x00"
        assert any("00291010" in n for n in notes)
        assert ds[0x00290010].value == "SIEMENS CSA HEADER"
        assert 0x00091001 not in ds and 0x00090010 not in ds
        assert 0x00111001 not in ds and 0x00110010 not in ds

    def test_safe_private_cleaned_of_nested_identity(self, planted):
        """An ID only a sequence item holds (Other Patient IDs Sequence) is found too."""
        ds = planted()
        ds[0x00291010].value = b"SV10 SEQID-77881 \x00"
        out = deidentify(ds, Policy(key=KEY, retain_safe_private=True))
        assert out[0x00291010].value == b"SV10 " + b"X" * 11 + b" \x00"

    def test_safe_private_numbers_untouched(self, planted):
        """A kept binary number is never compared with text: a scale slope whose four
        bytes happen to spell an ID stays the number it is."""
        ds = planted()
        ds.PatientID = "ABCD"
        (slope,) = struct.unpack("<f", b"ABCD")
        ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        ds.add_new(0x2005100E, "FL", slope)  # Scale Slope: on the safe list
        back = dcmread(io.BytesIO(_written(ds)))  # raw, as read from a file
        out = deidentify(back, Policy(key=KEY, retain_safe_private=True))
        assert out[0x2005100E].value == pytest.approx(slope)

    def test_safe_private_without_identity_unchanged(self, planted):
        """A safe private value holding no identity is kept byte for byte."""
        clean = planted()
        clean[0x00291010].value = b"SV10\x04\x03\x02\x01slice timing\x00"
        ds = deidentify(clean, Policy(key=KEY, retain_safe_private=True))
        assert ds[0x00291010].value == b"SV10\x04\x03\x02\x01slice timing\x00"

    def test_safe_private_sequence_walked(self, planted):
        """A kept private sequence (Philips per-frame data) is de-identified inside."""
        ds = planted()
        inner = Dataset()
        inner.PatientName = "Zyxwert^Plantedfirst"
        inner.SOPInstanceUID = "1.2.3.999.3"
        inner.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        inner.add_new(0x2005100E, "FL", 4.095)  # Scale Slope: safe
        inner.add_new(0x20051099, "LO", "PRIVTEXT-PLANT")  # not on the safe list
        ds.add_new(0x20050014, "LO", "Philips MR Imaging DD 005")
        ds.add_new(0x2005140F, "SQ", [inner])
        out = deidentify(ds, Policy(key=KEY, retain_safe_private=True))
        item = out[0x2005140F].value[0]
        assert item[0x2005100E].value == pytest.approx(4.095)
        assert 0x20051099 not in item
        assert item.SOPInstanceUID == remap_uid("1.2.3.999.3", KEY)
        assert _leaks(_written(out), ("names", "ids", "uids", "free_text")) == []

    def test_overlay_group_removed_whole(self, planted, policy):
        """Removing (60xx,3000) removes the rest of its overlay group too."""
        ds = deidentify(planted(), policy)
        assert not [e for e in ds if 0x6000 <= e.tag.group <= 0x601E]
        assert not [e for e in ds if 0x5000 <= e.tag.group <= 0x501E]

    def test_content_date_dummy_in_multiframe(self, planted, policy):
        """Z/D Content Date becomes a dummy where the Multi-frame module needs it (Type 1)."""
        plain = planted()
        del plain.ContentSequence  # SR content also makes Content Date Type 1
        assert deidentify(plain, policy).ContentDate == ""
        plain.SharedFunctionalGroupsSequence = [Dataset()]
        assert deidentify(plain, policy).ContentDate == "19000101"

    def test_frame_dates_dummy_when_removed(self, planted):
        """Frame Acquisition DateTime (Table E.1-1: D; Type 1C) gets a dummy, not removed."""
        ds = planted()
        frame = Dataset()
        frame.FrameAcquisitionDateTime = "20190314101010"
        frame.FrameReferenceDateTime = "20190314101010"
        item = Dataset()
        item.FrameContentSequence = [frame]
        ds.PerFrameFunctionalGroupsSequence = [item]
        removed = deidentify(ds, Policy(key=KEY)).PerFrameFunctionalGroupsSequence[0]
        content = removed.FrameContentSequence[0]
        assert content.FrameAcquisitionDateTime == content.FrameReferenceDateTime
        assert content.FrameAcquisitionDateTime == "19000101000000"
        shifted = deidentify(ds, Policy(key=KEY, dates="shift")).PerFrameFunctionalGroupsSequence
        value = shifted[0].FrameContentSequence[0].FrameAcquisitionDateTime
        assert value.endswith("101010") and not value.startswith("2019031")

    def test_unlisted_times_urls_and_unknown_removed(self, planted):
        """Outside the table, times go with dates; URLs and values of unknown VR go."""
        ds = planted()
        unlisted_time = 0x00189802  # an even tag no edition defines, stored as TM
        ds.add_new(unlisted_time, "TM", "131313")
        ds.add_new(0x00081190, "UR", "http://pacs.planted.example/1.2.3.999.1")  # Retrieve URL
        ds.add_new(0x00201234, "UN", b"Zyxwert")  # unknown to the dictionary: meaning unknown
        ds.add_new(0x00181060, "DS", "100")  # Trigger Time: a duration, kept
        ds.add_new(0x0040A122, "TM", "121212")  # (0040,A122) 'Time': listed, D
        ds.add_new(0x0040B034, "UN", b"20190314")  # Annotation DateTime, newer than pydicom
        out = deidentify(ds, Policy(key=KEY))
        assert unlisted_time not in out and 0x00081190 not in out and 0x00201234 not in out
        assert out[0x0040A122].value == "000000" and out[0x00181060].value == 100
        shifted = deidentify(ds, Policy(key=KEY, dates="shift"))
        assert shifted[unlisted_time].value == "131313"  # a shift moves days, not times
        assert 0x00201234 not in shifted
        assert 0x0040B034 not in shifted  # listed, C: a value that cannot be parsed is removed
        kept = deidentify(ds, Policy(key=KEY, dates="keep"))
        assert kept[unlisted_time].value == "131313"

    def test_encapsulated_document_replaced(self, planted, policy):
        """An encapsulated report (Table E.1-1: D) is replaced by a non-empty dummy."""
        ds = planted()
        ds.add_new(0x00420011, "OB", b"%PDF-1.4 report for Zyxwert PLANTID-93847\n")
        ds.add_new(0x00420012, "LO", "application/pdf")  # MIME Type: kept
        out = deidentify(ds, policy)
        assert out.EncapsulatedDocument == b"\x00\x00"
        assert out.MIMETypeOfEncapsulatedDocument == "application/pdf"

    def test_clean_descriptors_cuts_identity_out(self, planted):
        """Clean Descriptors keeps the description without the patient's name and ID."""
        ds = deidentify(planted(), Policy(key=KEY, clean_descriptors=True))
        assert ds.StudyDescription.strip() == "MR head for"


class TestBurnedInAnnotation:
    def test_refused_without_mask(self, planted, policy):
        """Burned In Annotation YES without a mask raises and names the way out."""
        ds = planted()
        ds.BurnedInAnnotation = "YES"
        with pytest.raises(DeidentificationError, match="--mask"):
            deidentify(ds, policy)

    def test_mask_blanks_region(self, planted):
        """With a mask the region is zeroed, the rest kept, and the flag becomes NO."""
        ds = planted()
        ds.BurnedInAnnotation = "YES"
        out = deidentify(ds, Policy(key=KEY, pixel_mask=(PixelRegion(0, 0, 2, 1),)))
        back = dcmread(io.BytesIO(_written(out)))
        expected = np.arange(16, dtype="<u2").reshape(4, 4)
        expected[0, 0:2] = 0
        assert np.array_equal(back.pixel_array, expected)
        assert back.BurnedInAnnotation == "NO"
        assert "113101" in [i.CodeValue for i in back.DeidentificationMethodCodeSequence]
