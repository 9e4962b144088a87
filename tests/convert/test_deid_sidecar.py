"""De-identified input: the sidecar says how, as dcm2niix copies it (issue 13).

dcm2niix writes (0012,0063) 'De-identification Method' as a list (values split at the
backslash, of the first 65 characters it keeps) and the codes of (0012,0064); both are
compared with the pinned dcm2niix on series de-identified by ``medbridge anonymize``
and on values written by hand (one value, several, one too long).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom
import pytest

from conftest import require
from convert.synth import SeriesSpec, write
from medbridge.convert import ConvertOptions, convert_files
from medbridge.deid import Policy
from medbridge.deid.runner import anonymize_paths

FIELDS = ("DeidentificationMethod", "DeidentificationMethodCodeSequence")


def _dcm2niix(folder: Path, out: Path) -> dict:
    exe = Path(sys.executable).with_name("dcm2niix")
    require(exe.exists(), "the pinned dcm2niix (pip install 'medbridge[test]')")
    out.mkdir(parents=True)
    subprocess.run(
        [str(exe), "-b", "y", "-f", "%s", "-o", str(out), str(folder)],
        check=True,
        capture_output=True,
    )
    (sidecar,) = out.glob("*.json")
    return json.loads(sidecar.read_text())


def _medbridge(folder: Path, out: Path) -> dict:
    report = convert_files([folder], out, ConvertOptions(template="%s"))
    (output,) = report.outputs
    return json.loads(Path(next(f for f in output.files if f.endswith(".json"))).read_text())


def test_anonymized_series(tmp_path: Path) -> None:
    """Series de-identified by ``medbridge anonymize``: the same fields, in the same place."""
    write(SeriesSpec("deid", slices=3), tmp_path / "in")
    anonymize_paths([tmp_path / "in"], tmp_path / "anon", Policy(key=b"k" * 32), jobs=1)
    ours = _medbridge(tmp_path / "anon", tmp_path / "ours")
    theirs = _dcm2niix(tmp_path / "anon", tmp_path / "theirs")
    for field in FIELDS:
        assert ours[field] == theirs[field], field
    keys = list(ours)
    assert keys[keys.index(FIELDS[0]) - 1] == "ImageType"


@pytest.mark.parametrize(
    "value",
    ["Single method", ["ab", "cd", "ef"], "X" * 70, ["first value", "y" * 60]],
    ids=["one", "three", "over-65", "second-cut"],
)
def test_values_as_dcm2niix_keeps_them(tmp_path: Path, value: object) -> None:
    """One value, several, and values past dcm2niix's 65 characters."""
    (path,) = write(SeriesSpec("deid", slices=1), tmp_path / "in")
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():  # an LO over 64 characters is the point of one case
        warnings.simplefilter("ignore")
        ds.DeidentificationMethod = value
        ds.save_as(path)
        ours = _medbridge(tmp_path / "in", tmp_path / "ours")
    theirs = _dcm2niix(tmp_path / "in", tmp_path / "theirs")
    assert ours[FIELDS[0]] == theirs[FIELDS[0]]


def test_absent_when_not_de_identified(tmp_path: Path) -> None:
    """A series never de-identified has neither field, as with dcm2niix."""
    write(SeriesSpec("plain", slices=2), tmp_path / "in")
    ours = _medbridge(tmp_path / "in", tmp_path / "ours")
    assert not set(FIELDS) & set(ours)
