"""Fixtures for the de-identification tests: planted datasets and the dcm_qa sets."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from planted_data import KEY, build_planted
from pydicom.dataset import Dataset

from medbridge.deid import Policy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def planted() -> Callable[..., Dataset]:
    """The :func:`build_planted` factory."""
    return build_planted


@pytest.fixture
def policy() -> Policy:
    """The Basic Profile with the test key."""
    return Policy(key=KEY)


def _require(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing, and CI must have it (see .ci/run)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session")
def dcm_qa_sets() -> Path:
    """dcm2niix's validation sets, ``<repo>/../shared/data/dcm_qa`` (or $MEDBRIDGE_DCM_QA)."""
    override = os.environ.get("MEDBRIDGE_DCM_QA")
    root = Path(override) if override else REPO.parent / "shared" / "data" / "dcm_qa"
    _require((root / "flags.tsv").is_file(), f"the dcm_qa reference data at {root}")
    return root


@pytest.fixture(scope="session")
def dciodvfy() -> str:
    """dicom3tools' IOD validator (Debian ``dicom3tools``)."""
    path = shutil.which("dciodvfy")
    _require(path is not None, "the 'dciodvfy' command (Debian dicom3tools)")
    assert path is not None
    return path
