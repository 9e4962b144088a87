"""The output is valid DICOM: dicom3tools' ``dciodvfy`` finds no error that the input
did not already have (a de-identifier must not break an IOD by removing what it needs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from planted_data import KEY
from pydicom.data import get_testdata_file

from medbridge.deid import Policy, anonymize_paths

POLICIES = {
    "basic": Policy(key=KEY),
    "shift-dates-safe-private": Policy(key=KEY, dates="shift", retain_safe_private=True),
}
PYDICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm")
DCM_QA_FILES = (
    "dcm_qa_mosaic/In/ep2d_Asc_2",  # first file of the folder
    "dcm_qa_philips/In/Magdeburg_2014/fmri",
    "dcm_qa_enh/In/Philips",  # enhanced MR: functional groups, Type 1 and 2 attributes
    "dcm_qa_enh/In/Siemens/XA10",
)


def _errors(dciodvfy: str, path: Path) -> set[str]:
    """dciodvfy's error lines, with values and UIDs masked so input and output compare."""
    done = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    return {
        re.sub(r"\d+", "N", line.split(" - ", 1)[1]) if " - " in line else line
        for line in lines
        if line.startswith("Error")
    }


def _inputs(dcm_qa_sets: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in PYDICOM_FILES:
        shutil.copy(str(get_testdata_file(name)), folder / name)
    for i, series in enumerate(DCM_QA_FILES):
        first = sorted(p for p in (dcm_qa_sets / series).iterdir() if p.is_file())[0]
        shutil.copy(first, folder / f"dcm_qa_{i}.dcm")
    return folder


@pytest.mark.slow
class TestOutputValidity:
    @pytest.mark.parametrize("name", list(POLICIES))
    def test_no_new_dciodvfy_errors(self, dcm_qa_sets, dciodvfy, tmp_path, name):
        """Every output has at most the IOD errors its input had."""
        folder = _inputs(dcm_qa_sets, tmp_path)
        summary = anonymize_paths([folder], tmp_path / "out", POLICIES[name], jobs=1)
        assert summary.count("written") == len(PYDICOM_FILES) + len(DCM_QA_FILES)
        new = {}
        for r in summary.results:
            assert r.output is not None
            added = _errors(dciodvfy, Path(r.output)) - _errors(dciodvfy, Path(r.source))
            if added:
                new[Path(r.source).name] = sorted(added)
        assert new == {}
