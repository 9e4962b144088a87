"""Finding DICOM instances in what the user names: files, folders, file lists, .zip/.tar.

Each file's header is first walked by the fast scanner, which decodes only the values
grouping and stacking need (:mod:`medbridge.convert._values`); the full header is parsed
with pydicom only for the instances that something reads more from (the sidecar's
source, a template's fields), on first use. Files the fast path is not sure about are
read with pydicom up to the pixel data, as always; files that are not DICOM (notes,
PDFs, earlier NIfTI outputs) are skipped and counted, as dcm2niix skips them.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from medbridge.convert._values import (
    SCAN_TAGS,
    ScannedHeader,
    ScannedValues,
    decode_values,
    fast_values_usable,
)
from medbridge.dicom._header import IMPLICIT_VR_LE, NeedsFullParse, read_raw_header
from medbridge.dicom._read import read_dataset
from medbridge.errors import InvalidDicomError, NotDicomError

__all__ = ["Instance", "ScanReport", "expand_inputs", "read_instances"]


class Instance:
    """One DICOM file: the header grouping reads, and its full header on demand.

    ``header`` answers ``get``, ``in``, ``[...]`` and attribute reads as a pydicom
    ``Dataset``: it is the parsed ``Dataset`` itself, or a
    :class:`~medbridge.convert._values.ScannedHeader` answering from the fast scan and
    parsing the file only for reads beyond it. :attr:`ds` is the full header.

    Parameters
    ----------
    path:
        The file.
    ds:
        Its parsed header (up to the pixel data), when already read.
    scanned, transfer_syntax, pixel_offset, pixel_length:
        From the fast scan, when ``ds`` is not given: decoded values, the transfer
        syntax, and where the (7FE0,0010) value starts and how long it is.
    """

    __slots__ = ("_ds", "header", "path", "pixel_length", "pixel_offset", "transfer_syntax")

    def __init__(
        self,
        path: str,
        ds: Dataset | None = None,
        *,
        scanned: ScannedValues | None = None,
        transfer_syntax: str = "",
        pixel_offset: int | None = None,
        pixel_length: int | None = None,
    ) -> None:
        self.path = path
        self._ds = ds
        self.header: Dataset | ScannedHeader
        if ds is not None:
            self.header = ds
        elif scanned is not None:
            self.header = ScannedHeader(scanned, self._parse)
        else:
            raise ValueError("an Instance needs its parsed header or its scanned values")
        meta = getattr(ds, "file_meta", None)
        self.transfer_syntax = transfer_syntax or str(getattr(meta, "TransferSyntaxUID", ""))
        self.pixel_offset = pixel_offset
        self.pixel_length = pixel_length

    @property
    def ds(self) -> Dataset:
        """The full header (up to the pixel data), parsed by pydicom on first use.

        Raises
        ------
        InvalidDicomError
            pydicom cannot parse a header the fast scan read.
        """
        return self._parse()

    def _parse(self) -> Dataset:
        if self._ds is None:
            try:
                self._ds = read_dataset(self.path, stop_before_pixels=True)
            except InvalidDicomError as exc:
                raise InvalidDicomError(
                    f"header unreadable: {exc.reason}", path=self.path
                ) from None
            except OSError as exc:
                raise InvalidDicomError(f"header unreadable: {exc}", path=self.path) from exc
        return self._ds

    def __repr__(self) -> str:
        return f"Instance({self.path!r})"


@dataclass
class ScanReport:
    """What the scan skipped and why (path → reason).

    ``skipped``: files that are not DICOM images (other formats, non-image objects),
    left out as dcm2niix leaves them; ``damaged``: DICOM files that cannot be read
    (truncated, nested too deep, lengths that lie), which make a run partial.
    """

    skipped: dict[str, str] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)


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
    fast = fast_values_usable()
    out = []
    for path in paths:
        instance = _scanned(path) if fast else None
        if instance is None:
            instance = _parsed(path, report)
        if instance is not None:
            out.append(instance)
    return out


def _scanned(path: str) -> Instance | None:
    """The instance from the fast scan, or None: the file is for pydicom to read.

    Only files pydicom reads without ``force`` (preamble and File Meta Information),
    with pixel data, whose every scanned value is certain, take this path; for all
    others, including broken files, pydicom decides and reports as before.
    """
    try:
        raw = read_raw_header(path, SCAN_TAGS)
    except (InvalidDicomError, NeedsFullParse, OSError):
        return None
    if not (raw.has_preamble and raw.has_meta) or raw.pixel_data_offset is None:
        return None
    explicit = raw.transfer_syntax_uid != IMPLICIT_VR_LE
    scanned = decode_values(raw.elements, explicit_vr=explicit)
    if scanned is None or "Rows" not in scanned.values or "Columns" not in scanned.values:
        return None
    return Instance(
        path,
        scanned=scanned,
        transfer_syntax=raw.transfer_syntax_uid,
        pixel_offset=raw.pixel_data_offset,
        pixel_length=raw.pixel_data_length,
    )


def _parsed(path: str, report: ScanReport | None) -> Instance | None:
    try:
        ds = read_dataset(path, stop_before_pixels=True)
    except NotDicomError as exc:
        if report is not None:
            report.skipped[path] = f"not DICOM: {exc.reason}"
        return None
    except InvalidDicomError as exc:
        if report is not None:
            report.damaged[path] = f"unreadable DICOM: {exc.reason}"
        return None
    except OSError as exc:
        if report is not None:
            report.damaged[path] = f"cannot read: {exc.strerror or exc}"
        return None
    if "Rows" not in ds or "Columns" not in ds:
        if report is not None:
            report.skipped[path] = "no image (no (0028,0010) 'Rows')"
        return None
    return Instance(path, ds)
