"""The fast scan's decoded values equal what pydicom's ``Dataset.get`` returns.

Grouping reads these values instead of pydicom's, so for every file the fast path
accepts, each value must compare, convert (``int``, ``float``, ``str``) and iterate as
pydicom's does; files with anything unusual must be left to pydicom (None).
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
from medbridge.convert._inputs import _scanned as scan_instance
from medbridge.convert._values import SCAN_TAGS

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's odd files warn


def _scanned(path: Path) -> dict[Any, Any] | None:
    """The values grouping would read from the fast scan, or None (pydicom reads the file)."""
    instance = scan_instance(str(path))
    return None if instance is None else dict(instance.header)


def _same(ours: Any, theirs: Any) -> bool:
    """Equal, with equal str() for single values and equal items for multiple ones."""
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(ours, float):  # str() of a DS keeps its text: no reader of these uses it
        return ours == float(theirs)
    return bool(ours == theirs) and str(ours) == str(theirs)


def _check_file(path: Path) -> bool:
    """Compare one file's scanned values with pydicom's; False when left to pydicom."""
    values = _scanned(path)
    if values is None:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    wanted = [pydicom.datadict.keyword_for_tag(t) for t in SCAN_TAGS]
    for keyword in filter(None, wanted):
        if keyword == "PerFrameFunctionalGroupsSequence":
            continue
        assert (keyword in values) == (keyword in ds), f"{path.name}: {keyword} presence"
        if keyword in values:
            assert _same(values[keyword], ds.get(keyword)), (
                f"{path.name}: {keyword} {values[keyword]!r} != {ds.get(keyword)!r}"
            )
    for tag in ((0x2001, 0x1003), (0x2001, 0x1004)):
        elem = ds.get(tag)
        assert (tag in values) == (elem is not None), f"{path.name}: {tag} presence"
        if elem is not None:
            assert _same(values[tag], elem.value)
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
        assert _scanned(path) is None, name

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

    def test_philips_private_values_in_implicit_vr(self, tmp_path: Path) -> None:
        """Private VRs depend on the creator in Implicit VR: pydicom's; Explicit VR: ours."""
        (path,) = write(SeriesSpec("philips", slices=1, manufacturer="Philips"), tmp_path)

        def add_private(ds: Dataset) -> None:
            block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
            block.add_new(0x03, "FL", 1000.0)
            block.add_new(0x04, "CS", "I")

        _reencode(path, ExplicitVRLittleEndian, add_private)
        values = _scanned(path)
        assert values is not None
        assert values[(0x2001, 0x1003)] == 1000.0 and values[(0x2001, 0x1004)] == "I"
        _reencode(path, ImplicitVRLittleEndian)
        assert _scanned(path) is None


def _has_per_frame_groups(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        return False
    return "PerFrameFunctionalGroupsSequence" in ds
