"""The fast scan's header answers as pydicom's ``Dataset`` does, without parsing the file.

Grouping reads :class:`ScannedHeader` instead of a parsed Dataset, so for every file the
fast path accepts, each scanned attribute must be present or absent as in pydicom's
Dataset and compare, convert (``int``, ``float``, ``str``) and iterate as pydicom's value
does; scanned private elements must equal pydicom's; reads beyond the scan must give
pydicom's answers; files with anything unusual must be left to pydicom (None).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from convert.synth import SeriesSpec, write
from medbridge.convert._inputs import Instance
from medbridge.convert._inputs import _scanned as scan_instance
from medbridge.convert._values import _PRIVATE_TAGS, SCANNED_KEYWORDS, ScannedHeader

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's odd files warn


def _instance(path: Path) -> Instance | None:
    """The instance the fast scan makes of ``path``, or None (pydicom reads the file)."""
    return scan_instance(str(path))


def _scanned(path: Path) -> ScannedHeader | None:
    instance = _instance(path)
    if instance is None:
        return None
    assert isinstance(instance.header, ScannedHeader)
    return instance.header


def _same(ours: Any, theirs: Any) -> bool:
    """Equal, with equal str() for single values and equal items for multiple ones."""
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(ours, float):  # str() of a DS keeps its text: no reader of these uses it
        return ours == float(theirs)
    return bool(ours == theirs) and str(ours) == str(theirs)


def _check_file(path: Path) -> bool:
    """Compare one file's scanned header with pydicom's; False when left to pydicom."""
    instance = _instance(path)
    if instance is None:
        return False
    header = instance.header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    for keyword in sorted(SCANNED_KEYWORDS):
        assert (keyword in header) == (keyword in ds), f"{path.name}: {keyword} presence"
        if keyword in ds:
            assert _same(header.get(keyword), ds.get(keyword)), (
                f"{path.name}: {keyword} {header.get(keyword)!r} != {ds.get(keyword)!r}"
            )
            assert _same(getattr(header, keyword), getattr(ds, keyword))
    undecoded = [t for t in sorted(_PRIVATE_TAGS) if header._scanned_tag(t) is None]
    for tag in sorted(_PRIVATE_TAGS.difference(undecoded)):
        ours, theirs = header.get(tag), ds.get(tag)
        assert (ours is None) == (theirs is None), f"{path.name}: {tag:08X} presence"
        assert (tag in header) == (tag in ds)
        if theirs is not None:
            assert ours.VR == theirs.VR and _same(ours.value, theirs.value), f"{tag:08X}"
    assert instance._ds is None, "answered from the scan, without parsing the file"
    for tag in undecoded:  # present, left to pydicom: the full header answers
        assert header.get(tag).value == ds[tag].value
    return True


def _corpus(dcm_qa: Path) -> list[Path]:
    """pydicom's files, and a spread of every dcm_qa set (each 7th file of large ones)."""
    files = sorted(p for p in PYDICOM_FILES.rglob("*") if p.is_file())
    for folder in sorted(dcm_qa.glob("*/In")):
        found = sorted(p for p in folder.rglob("*") if p.is_file())
        files += found if len(found) < 300 else found[::7]
    return files


class TestDecodeValues:
    def test_values_equal_pydicom_on_real_files(self, dcm_qa: Path) -> None:
        """pydicom's test files and the dcm_qa sets: every accepted value equals pydicom's."""
        checked = sum(_check_file(p) for p in _corpus(dcm_qa))
        assert checked >= 500  # the nih and Philips sets are classic images

    @pytest.mark.parametrize(
        "spec",
        [
            SeriesSpec("explicit"),
            SeriesSpec("signed12", bits_stored=12, signed=True, slope=0.5, intercept=-3),
            SeriesSpec("ct", modality="CT", manufacturer="GE MEDICAL SYSTEMS"),
            SeriesSpec("noinst", drop=("InstanceNumber", "AcquisitionTime", "SliceThickness")),
        ],
        ids=lambda s: s.name,
    )
    @pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    def test_values_equal_pydicom_on_generated_series(
        self, tmp_path: Path, spec: SeriesSpec, syntax: str
    ) -> None:
        """Generated slices, in both uncompressed encodings, are accepted and equal."""
        for path in write(spec, tmp_path):
            _reencode(path, syntax)
            assert _check_file(path), path


def _reencode(path: Path, syntax: str, change: Any = None) -> None:
    ds = pydicom.dcmread(path)
    if change is not None:
        change(ds)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)


def _utf8_description(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SeriesDescription = "Kopf – axial"


def _set(keyword: str, value: Any) -> Any:
    def change(ds: Dataset) -> None:
        setattr(ds, keyword, value)

    return change


class TestLeftToPydicom:
    @pytest.mark.parametrize(
        ("name", "change"),
        [
            ("series number with a leading zero", _set("SeriesNumber", "03")),
            ("a DS longer than 16 characters", _set("SliceThickness", "2.50000000000000001")),
            ("a lower-case code string", _set("Modality", "mr")),
            ("a description in another character set", _utf8_description),
            ("a time with two values", _set("AcquisitionTime", ["101700", "101800"])),
            ("a UID with a leading zero", _set("SeriesInstanceUID", "1.02.3")),
            ("a Siemens mosaic", _set("ImageType", ["ORIGINAL", "PRIMARY", "M", "MOSAIC"])),
        ],
        ids=lambda v: v if isinstance(v, str) else "",
    )
    def test_unusual_values(self, tmp_path: Path, name: str, change: Any) -> None:
        """Values whose pydicom reading is not certain make the whole file pydicom's."""
        (path,) = write(SeriesSpec("odd", slices=1), tmp_path)
        _reencode(path, ExplicitVRLittleEndian, change)
        assert _instance(path) is None, name

    def test_a_vr_other_than_the_dictionary_s(self, tmp_path: Path) -> None:
        """(0020,0013) written as LO instead of IS: pydicom's reading, not ours."""
        (path,) = write(SeriesSpec("vr", slices=1), tmp_path)

        def relabel(ds: Dataset) -> None:
            ds["InstanceNumber"] = DataElement(0x00200013, "LO", "1")

        _reencode(path, ExplicitVRLittleEndian, relabel)
        assert _scanned(path) is None

    def test_a_number_pydicom_cannot_read(self, tmp_path: Path) -> None:
        """(0018,0050) '2,5' (a decimal comma): left to pydicom, which decides what it is."""
        (path,) = write(SeriesSpec("comma", slices=1), tmp_path)
        data = path.read_bytes()
        assert data.count(b"2.5 ") == 1
        path.write_bytes(data.replace(b"2.5 ", b"2,5 "))
        assert _scanned(path) is None

    def test_enhanced_images(self) -> None:
        """A (5200,9230) 'Per-Frame Functional Groups Sequence': pydicom's."""
        enhanced = [p for p in PYDICOM_FILES.glob("*.dcm") if _has_per_frame_groups(p)]
        assert enhanced
        assert all(_scanned(p) is None for p in enhanced)

    def test_private_values_by_encoding(self, tmp_path: Path) -> None:
        """Explicit VR: the VR written; Implicit VR: the private dictionary's VR for the
        file's creator (pydicom's rule); an unknown creator: read by pydicom."""
        (path,) = write(SeriesSpec("philips", slices=1, manufacturer="Philips"), tmp_path)

        def add_private(creator: str) -> Any:
            def change(ds: Dataset) -> None:
                block = ds.private_block(0x2001, creator, create=True)
                block.add_new(0x03, "FL", 1000.0)
                block.add_new(0x04, "CS", "I")

            return change

        for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            _reencode(path, syntax, add_private("Philips Imaging DD 001"))
            assert _check_file(path)
            header = _scanned(path)
            assert header is not None
            assert header.get((0x2001, 0x1003)).value == 1000.0
            assert header[0x2001, 0x1004].value == "I"
        (path,) = write(SeriesSpec("other", slices=1), tmp_path / "other")
        _reencode(path, ImplicitVRLittleEndian, add_private("Not A Known Creator"))
        header = _scanned(path)
        assert header is not None and header._scanned_tag((0x2001, 0x1003)) is None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert header.get((0x2001, 0x1003)).value == ds[0x2001, 0x1003].value  # pydicom's


class TestScannedHeader:
    def test_reads_beyond_the_scan_are_pydicom_s(self, tmp_path: Path) -> None:
        """Unscanned keywords, tags and methods parse the file once and answer as pydicom."""
        (path,) = write(SeriesSpec("beyond", slices=1), tmp_path)
        instance = _instance(path)
        assert instance is not None
        header = instance.header
        assert header.get("Rows") == 12 and instance._ds is None
        assert "PatientID" not in SCANNED_KEYWORDS
        assert header.get("PatientID") == "PID12345"
        assert instance._ds is not None  # parsed for that read
        assert header["PatientID"].value == "PID12345"
        assert header.PatientID == "PID12345" and "FlipAngle" in header
        assert header.get(0x00100020).value == "PID12345"
        with pytest.raises(AttributeError):
            _ = header.NoSuchKeyword

    def test_absent_scanned_attributes_need_no_parse(self, tmp_path: Path) -> None:
        """Scanned attributes the file lacks are absent at once, as in pydicom."""
        (path,) = write(SeriesSpec("absent", slices=1, drop=("SliceThickness",)), tmp_path)
        instance = _instance(path)
        assert instance is not None
        header = instance.header
        assert header.get("SliceThickness", "none") == "none"
        assert "SliceThickness" not in header
        assert header.get((0x0043, 0x102F)) is None and (0x0043, 0x102F) not in header
        with pytest.raises(AttributeError):
            _ = header.SliceThickness
        with pytest.raises(KeyError):
            _ = header[0x0043, 0x102F]
        assert instance._ds is None


def _has_per_frame_groups(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        return False
    return "PerFrameFunctionalGroupsSequence" in ds
