"""The PHI-leak scan over real scanner files: dcm2niix's dcm_qa validation sets.

Every file of every set is de-identified under the policy that keeps the most (shifted
dates, safe private elements kept and cleaned): whatever it lets through, the Basic
Profile lets through too or removes. The Basic Profile itself runs on a deterministic,
evenly spaced sample of each folder (at most ``PER_FOLDER`` files) to keep the run
short. From each input the identifying values are read (names, IDs, places, device,
dates, instance UIDs) and every byte of its output is scanned for them, as whole tokens
so that digits of a new UID or of pixel data cannot match by chance.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from planted_data import KEY
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from medbridge.deid import Policy, anonymize_paths

PER_FOLDER = 10
SETS = (
    "dcm_qa",
    "dcm_qa_12bit",
    "dcm_qa_enh",
    "dcm_qa_mosaic",
    "dcm_qa_nih",
    "dcm_qa_philips",
    "dcm_qa_ts",
)
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
UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


def _sample(folder: Path, per_folder: int | None) -> list[Path]:
    picked: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        names = sorted(files)
        step = max(1, -(-len(names) // per_folder)) if per_folder else 1
        picked += [Path(root) / n for n in names[::step]]
    return picked


def _needles(path: Path) -> list[tuple[str, re.Pattern[bytes]]] | None:
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return None
    out: list[tuple[str, re.Pattern[bytes]]] = []

    def add(value: str, left: bytes, right: bytes) -> None:
        value = value.strip()
        if len(value) >= 4:
            body = re.escape(value.encode("latin-1", "replace"))
            out.append((value, re.compile(b"(?<![" + left + b"])" + body + right)))

    words = b"A-Za-z0-9"
    for elem in ds:
        if elem.VR == "PN" and elem.value:
            add(str(elem.value), words, b"(?![A-Za-z0-9])")
            for part in re.split(r"[\^=]", str(elem.value)):
                add(part, words, b"(?![A-Za-z0-9])")
    for keyword in TEXT:
        for value in _values(ds.get(keyword)):
            add(value, words, b"(?![A-Za-z0-9])")
    for keyword in DATES:
        for value in _values(ds.get(keyword)):
            add(value, b"0-9", b"")  # a date may go on as a DT
    for keyword in UIDS:
        for value in _values(ds.get(keyword)):
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
        ("policy", "per_folder"),
        [
            (Policy(key=KEY), PER_FOLDER),
            (Policy(key=KEY, dates="shift", retain_safe_private=True), None),
        ],
        ids=["basic-sampled", "shift-dates-safe-private-every-file"],
    )
    def test_no_identifying_value_in_output(self, dcm_qa_sets, tmp_path, name, policy, per_folder):
        """No input's names, IDs, places, dates or UIDs appear in its output's bytes."""
        inputs = _sample(dcm_qa_sets / name / "In", per_folder)
        assert inputs, f"{name} has no input files"
        needles = {str(p): _needles(p) for p in inputs}
        first = next(p for p in inputs if needles[str(p)])
        found = [
            v for v, pattern in needles[str(first)] or [] if pattern.search(first.read_bytes())
        ]
        assert found, f"the scan finds nothing even in the input {first}"
        summary = anonymize_paths(inputs, tmp_path / "out", policy, jobs=1)
        written = [r for r in summary.results if r.status == "written"]
        assert written, f"nothing written for {name}"
        for r in summary.results:
            if needles[r.source] is None:
                assert r.status == "skipped"  # not DICOM: notes, PDFs, NIfTI
            elif r.status == "skipped":  # real sets reuse SOP Instance UIDs across files
                assert r.reason.startswith("same SOP Instance UID"), f"{r.source}: {r.reason}"
            else:
                assert r.status == "written", f"{r.source}: {r.reason}"
        leaks = []
        for r in written:
            data = Path(r.output).read_bytes()  # type: ignore[arg-type]
            leaks += [
                (r.source, v)
                for v, pattern in needles[r.source] or []
                if v.encode("latin-1", "replace") in data and pattern.search(data)
            ]
        assert leaks == []
