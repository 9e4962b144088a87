"""Shared fixtures: where the reference data and the real peers are.

A test that needs a real component (DCMTK, the dcm_qa data) skips with a reason on a
developer's machine that lacks it, and fails when ``CI`` is set, where a skip would
hide a broken install step.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

REPO = Path(__file__).resolve().parents[1]

#: dcm2niix's eight validation sets under ``../shared/data/dcm_qa``.
DCM_QA_SETS = (
    "dcm_qa",
    "dcm_qa_12bit",
    "dcm_qa_enh",
    "dcm_qa_mosaic",
    "dcm_qa_nih",
    "dcm_qa_philips",
    "dcm_qa_ts",
    "dcm_qa_xa60",
)


def require(condition: bool, what: str) -> None:
    """Skip (locally) or fail (under CI) when a needed component is missing."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing, and CI must have it (see .ci/run)")
    pytest.skip(f"{what} is missing")


def require_tool(name: str) -> str:
    """The path of a command-line peer such as DCMTK's ``dcmdump``."""
    path = shutil.which(name)
    require(path is not None, f"the '{name}' command")
    assert path is not None
    return path


def dcm_qa_root() -> Path:
    """dcm2niix's validation sets, beside the repository as ``../shared/data/dcm_qa``."""
    override = os.environ.get("MEDBRIDGE_DCM_QA")
    return Path(override) if override else REPO.parent / "shared" / "data" / "dcm_qa"


@pytest.fixture(scope="session")
def dcm_qa() -> Path:
    """The dcm_qa root, checked to hold the sets."""
    root = dcm_qa_root()
    require((root / "flags.tsv").is_file(), f"the dcm_qa reference data at {root}")
    return root


@pytest.fixture(scope="session")
def pydicom_data() -> Path:
    """pydicom's bundled test files: transfer syntaxes, DICOMDIR media, broken files."""
    return Path(get_testdata_file("CT_small.dcm")).parent  # type: ignore[arg-type]
