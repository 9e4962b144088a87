"""Finding DICOM instances in what the user names: files, folders, file lists, .zip/.tar.

Headers are read with pydicom up to the pixel data only; files that are not DICOM (notes,
PDFs, earlier NIfTI outputs) are skipped and counted, as dcm2niix skips them.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

__all__ = ["Instance", "ScanReport", "expand_inputs", "read_instances"]


@dataclass
class Instance:
    """One DICOM file's header and where it came from."""

    path: str
    ds: Dataset


@dataclass
class ScanReport:
    """What the scan skipped and why (path → reason)."""

    skipped: dict[str, str] = field(default_factory=dict)


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]], workdir: str | None = None
) -> Iterator[str]:
    """Every file under the inputs, sorted per folder; archives are unpacked into ``workdir``.

    A ``.txt`` input listing one path per line is read as a file list (dcm2niix's
    ``-s``-style batch use), so huge selections need not pass through the command line.
    """
    for item in inputs:
        path = os.fspath(item)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if not name.startswith("."):
                        yield os.path.join(root, name)
        elif zipfile.is_zipfile(path) or (os.path.isfile(path) and tarfile.is_tarfile(path)):
            dest = tempfile.mkdtemp(prefix="medbridge-", dir=workdir)
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    _safe_extract_zip(zf, dest)
            else:
                with tarfile.open(path) as tf:
                    tf.extractall(dest, filter="data")
            yield from expand_inputs([dest], workdir)
        elif path.endswith(".txt") and os.path.isfile(path) and _is_file_list(path):
            with open(path, encoding="utf-8") as fh:
                yield from expand_inputs([line.strip() for line in fh if line.strip()], workdir)
        elif os.path.isfile(path):
            yield path


def _is_file_list(path: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = [line.strip() for line in fh if line.strip()][:5]
    return bool(lines) and all(os.path.exists(line) for line in lines)


def _safe_extract_zip(zf: zipfile.ZipFile, dest: str) -> None:
    root = os.path.realpath(dest)
    for member in zf.infolist():
        target = os.path.realpath(os.path.join(dest, member.filename))
        if not target.startswith(root + os.sep):
            continue  # a member escaping the folder ("../x") is never written
        zf.extract(member, dest)


def read_instances(paths: Iterable[str], report: ScanReport | None = None) -> list[Instance]:
    """Headers of every readable DICOM file with pixel data among ``paths``."""
    out = []
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (
            PydicomInvalidDicomError,
            OSError,
            EOFError,
            ValueError,
            TypeError,
            KeyError,
        ) as exc:
            if report is not None:
                report.skipped[path] = f"not DICOM: {type(exc).__name__}"
            continue
        if "Rows" not in ds or "Columns" not in ds:
            if report is not None:
                report.skipped[path] = "no image (no (0028,0010) 'Rows')"
            continue
        out.append(Instance(path, ds))
    return out
