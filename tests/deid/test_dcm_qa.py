"""The PHI-leak scan over real scanner files: dcm2niix's dcm_qa validation sets.

Every file of every set is de-identified twice: under the Basic Profile, and under the
policy that keeps the most (shifted dates, safe private elements kept and cleaned).
From each input the identifying values are read, at every level of nesting (person
names, IDs, places, device, dates, instance UIDs), and every byte of its output is
scanned for them in the input's character set as well as in Latin-1 and UTF-8, as whole
tokens so that digits of a new UID or of pixel data cannot match by chance.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest
from conversion_check import SETS
from planted_data import KEY
from pydicom import dcmread
from pydicom.charset import encode_string
from pydicom.errors import InvalidDicomError

from medbridge.deid import Policy, anonymize_paths
from medbridge.dicom.dicomdir import MEDIA_STORAGE_DIRECTORY

TEXT = (
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "IssuerOfPatientID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
)
DATES = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
UIDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID",  # a localizer, also named in a kept Siemens protocol
)


def _is_dicomdir(path: str) -> bool:
    """Whether ``path`` is a Media Storage Directory (a DICOMDIR), by its File Meta."""
    meta = dcmread(path, stop_before_pixels=True).file_meta
    return bool(meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY)


def _files(folder: Path) -> list[Path]:
    return sorted(Path(root) / n for root, _dirs, files in os.walk(folder) for n in files)


def _spellings(value: str, encodings: list[str]) -> set[bytes]:
    out = {value.encode("utf-8"), value.encode("latin-1", "replace")}
    with contextlib.suppress(LookupError, UnicodeError):
        out.add(encode_string(value, encodings))
    return out


Needle = tuple[str, bytes, re.Pattern[bytes]]  # value, one spelling, the spelling as a token


def _needles(path: Path) -> list[Needle] | None:
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return None
    encodings = list(ds._character_set)
    out: list[Needle] = []

    def add(value: str, left: bytes, right: bytes) -> None:
        value = value.strip()
        if len(value) >= 4:
            for spelling in _spellings(value, encodings):
                body = re.escape(spelling)
                pattern = re.compile(b"(?<![" + left + b"])" + body + right)
                out.append((value, spelling, pattern))

    words = b"A-Za-z0-9"
    # A value the input also gives a non-identifying attribute (an SR report writes "n.a."
    # for its station and address, and for its manufacturer too) is not distinctive: its
    # presence in the output cannot tell a leak from the kept attribute.
    ordinary = {
        v.strip()
        for elem in ds.iterall()
        if not elem.tag.is_private
        and elem.VR not in ("PN", "DA", "DT", "UI", "SQ")
        and elem.keyword not in TEXT
        for v in _values(elem.value)
    }
    for elem in ds.iterall():  # every element of every sequence item too
        if elem.tag.is_private or not elem.value:
            continue
        if elem.VR == "PN":
            for name in _values(elem.value):
                if name.strip() in ordinary:
                    continue
                add(name, words, b"(?![A-Za-z0-9])")
                for part in re.split(r"[\^=]", name):
                    add(part, words, b"(?![A-Za-z0-9])")
        elif elem.keyword in TEXT:
            for value in _values(elem.value):
                if value.strip() not in ordinary:
                    add(value, words, b"(?![A-Za-z0-9])")
        elif elem.VR in ("DA", "DT") and (elem.keyword in DATES or elem.VR == "DA"):
            for value in _values(elem.value):
                add(value[:8], b"0-9", b"")  # a date may go on as a DT
        elif elem.keyword in UIDS:
            for value in _values(elem.value):
                add(value, b"0-9.", b"(?![0-9])")
    return out


def _values(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]  # type: ignore[union-attr]
    return [str(value)]


@pytest.mark.slow
class TestDcmQaLeak:
    @pytest.mark.parametrize("name", SETS)
    @pytest.mark.parametrize(
        "policy",
        [Policy(key=KEY), Policy(key=KEY, dates="shift", retain_safe_private=True)],
        ids=["basic", "shift-dates-safe-private"],
    )
    def test_no_identifying_value_in_output(self, dcm_qa_sets, tmp_path, name, policy):
        """No input's names, IDs, places, dates or UIDs appear in its output's bytes."""
        inputs = _files(dcm_qa_sets / name / "In")
        assert inputs, f"{name} has no input files"
        needles = {str(p): _needles(p) for p in inputs}
        first = next(p for p in inputs if needles[str(p)])
        data = first.read_bytes()
        found = [v for v, _s, pattern in needles[str(first)] or [] if pattern.search(data)]
        assert found, f"the scan finds nothing even in the input {first}"
        summary = anonymize_paths(inputs, tmp_path / "out", policy, jobs=1)
        written = [r for r in summary.results if r.status == "written"]
        assert written, f"nothing written for {name}"
        for r in summary.results:
            if needles[r.source] is None:
                assert r.status == "skipped"  # not DICOM: notes, PDFs, NIfTI
            elif r.status == "skipped" and _is_dicomdir(r.source):
                # a File-set's directory (PS3.10) names input paths; it is not copied
                assert r.reason.startswith("a DICOMDIR is not copied"), f"{r.source}: {r.reason}"
            elif r.status == "skipped":  # real sets reuse SOP Instance UIDs across files
                assert r.reason.startswith("same SOP Instance UID"), f"{r.source}: {r.reason}"
            else:
                assert r.status == "written", f"{r.source}: {r.reason}"
        leaks = []
        for r in written:
            data = Path(r.output).read_bytes()  # type: ignore[arg-type]
            leaks += [
                (r.source, v)
                for v, spelling, pattern in needles[r.source] or []
                if spelling in data and pattern.search(data)
            ]
        assert leaks == []
