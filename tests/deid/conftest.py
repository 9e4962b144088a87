"""Fixtures for the de-identification tests: planted datasets and the dcm_qa sets."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conversion_check import Converted, converted, deidentify_folder
from planted_data import KEY, build_planted
from private_reads import PrivateRead, recording
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


@pytest.fixture(scope="session")
def original_conversion(
    dcm_qa_sets: Path,
) -> Callable[[str], tuple[list[Converted], frozenset[PrivateRead]]]:
    """A dcm_qa unit converted as it is, and the private elements the converter read.

    Cached per unit for the session, so the tests that need it convert each unit once
    per xdist worker.
    """

    @functools.cache
    def get(unit: str) -> tuple[list[Converted], frozenset[PrivateRead]]:
        with recording() as reads:
            outputs = converted(dcm_qa_sets / unit)
        return outputs, frozenset(reads)

    return get


@pytest.fixture(scope="session")
def deidentified_conversion(
    dcm_qa_sets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], list[Converted]]:
    """A dcm_qa unit de-identified (shifted dates, safe private kept), then converted."""

    @functools.cache
    def get(unit: str) -> list[Converted]:
        target = tmp_path_factory.mktemp("deidentified")
        deidentify_folder(dcm_qa_sets / unit, target)
        return converted(target)

    return get
