"""``convert_files`` from a user's script without a ``__main__`` guard (issue 13).

JPEG-LS slices are decoded in spawned worker processes, which import the caller's main
module again: an unguarded script would run again in each of them and fail. Such a
script now converts with the slices decoded in its own process; a guarded one keeps its
worker processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydicom.uid import JPEGLSLossless

from convert.synth import SeriesSpec, write
from medbridge.convert._workers import processes_allowed

SCRIPT_BODY = """
import multiprocessing, os
from medbridge.convert import convert_files
from medbridge.convert._workers import processes_allowed
report = convert_files(["in"], "out", progress=None)
print("OUTPUTS", len(report.outputs), "SKIPPED", [s.reason[:300] for s in report.skipped])
print("ALLOWED", processes_allowed(), "CHILD", multiprocessing.parent_process() is not None)
"""


def _run(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    (folder / "script.py").write_text(source)
    return subprocess.run(
        [sys.executable, "script.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def jpegls_series(tmp_path: Path) -> Path:
    """Eight JPEG-LS slices: enough for the decoders to run ahead in processes."""
    write(SeriesSpec("jls", slices=8, transfer_syntax=JPEGLSLossless), tmp_path / "in")
    return tmp_path


def test_unguarded_script_converts(jpegls_series: Path) -> None:
    """Top-level calls, no guard: one output, no error, no second run in a child."""
    result = _run(jpegls_series, SCRIPT_BODY)
    assert result.returncode == 0, result.stderr
    assert "OUTPUTS 1 SKIPPED []" in result.stdout, result.stdout + result.stderr
    assert "ALLOWED False CHILD False" in result.stdout
    assert result.stdout.count("OUTPUTS") == 1  # the script ran once, in no worker
    assert len(list((jpegls_series / "out").glob("*.nii"))) == 1


def test_guarded_script_keeps_processes(jpegls_series: Path) -> None:
    """Inside ``if __name__ == "__main__":`` worker processes are allowed and used."""
    body = textwrap.indent(SCRIPT_BODY, "    ")
    result = _run(jpegls_series, f'if __name__ == "__main__":\n{body}')
    assert result.returncode == 0, result.stderr
    assert "OUTPUTS 1 SKIPPED []" in result.stdout, result.stdout + result.stderr
    assert "ALLOWED True" in result.stdout


def test_allowed_outside_a_script() -> None:
    """pytest's own main module is ``python -m pytest``'s package main: never re-run."""
    assert processes_allowed()
