"""Decoding pixel data to numpy, in any transfer syntax an installed plugin supports.

Decoding stays pydicom's: its ``pixels`` backend picks among the plugins medbridge
installs (pylibjpeg with libjpeg, openjpeg and rle; pyjpegls; numpy for native and
deflated data). This module only chooses the cheapest way in (by path, so pydicom
reads just the frame asked for), fills in what a file without File Meta Information
lacks, and turns pydicom's many exception types into medbridge's.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID

from medbridge.dicom._deflate import inflate_frames, is_deflated_frames
from medbridge.dicom._read import read_dataset
from medbridge.dicom.records import InstanceRecord
from medbridge.dicom.scan import read_record
from medbridge.errors import InvalidDicomError, UnsupportedTransferSyntax

__all__ = ["decoder_status", "load_pixels"]

PixelSource = str | os.PathLike[str] | Dataset | InstanceRecord


def load_pixels(
    source: PixelSource,
    *,
    frame: int | None = None,
    as_rgb: bool = True,
) -> npt.NDArray[Any]:
    """Decode the pixel data of one instance.

    Parameters
    ----------
    source:
        A file path, a pydicom ``Dataset`` or an :class:`InstanceRecord` from a scan.
    frame:
        Zero-based frame to decode alone; ``None`` decodes every frame.
    as_rgb:
        Convert YBR colour data to RGB, as viewers show it (pydicom's default).

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)`` for one grey frame, ``(frames, rows, columns)`` for several,
        with a trailing samples axis for colour; stored values, no rescale applied.

    Raises
    ------
    UnsupportedTransferSyntax
        No installed plugin decodes this transfer syntax; the message names what to
        install.
    InvalidDicomError
        The data cannot be decoded (no pixel data, lengths that disagree, a corrupt
        codestream).
    """
    path = _path_of(source)
    try:
        if isinstance(source, Dataset):
            return _decode_dataset(source, source, path, frame, as_rgb)
        record = source if isinstance(source, InstanceRecord) else _read_record(path)
        if not record.has_pixels:
            raise InvalidDicomError("no pixel data", path=path)
        if is_deflated_frames(record.transfer_syntax_uid):
            return _decode_dataset(read_dataset(record.path), record, path, frame, as_rgb)
        _require_decoder(record.transfer_syntax_uid, path)
        if record.warnings or UID(record.transfer_syntax_uid).is_deflated:
            # pydicom's by-path reader wants a well-formed Part 10 file and cannot inflate
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the scan already reported the quirks
                ds = read_dataset(record.path)
            return _decode_dataset(ds, record, path, frame, as_rgb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about fixable header quirks
            return pixel_array(record.path, index=frame, as_rgb=as_rgb)
    except (InvalidDicomError, UnsupportedTransferSyntax, OSError):
        raise
    except Exception as exc:  # decoders raise ValueError, RuntimeError, KeyError...
        raise InvalidDicomError(f"cannot decode pixel data: {exc}", path=path) from exc


def _decode_dataset(
    ds: Dataset, source: PixelSource, path: str | None, frame: int | None, as_rgb: bool
) -> npt.NDArray[Any]:
    _fill_transfer_syntax(ds, source)
    if is_deflated_frames(ds.file_meta.TransferSyntaxUID):
        inflate_frames(ds, path=path)
    _require_decoder(ds.file_meta.TransferSyntaxUID, path)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InvalidDicomError("no pixel data", path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about fixable header quirks
        return pixel_array(ds, index=frame, as_rgb=as_rgb)


def _read_record(path: str | None) -> InstanceRecord:
    record = read_record(path or "")
    if not isinstance(record, InstanceRecord):
        raise InvalidDicomError("a DICOMDIR holds no pixel data", path=path)
    return record


def decoder_status(transfer_syntax_uid: str) -> tuple[bool, str]:
    """(available, what is missing) for decoding a transfer syntax with installed plugins."""
    uid = UID(transfer_syntax_uid)
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return False, f"pydicom has no decoder for {uid.name}"
    if decoder.is_available:
        return True, ""
    missing = (
        "; ".join(
            f"{plugin}: {', '.join(deps)}" for plugin, deps in decoder.missing_dependencies.items()
        )
        if isinstance(decoder.missing_dependencies, dict)
        else str(decoder.missing_dependencies)
    )
    return False, missing


def _require_decoder(transfer_syntax_uid: str, path: str | None) -> None:
    uid = UID(transfer_syntax_uid)
    if not uid.is_transfer_syntax:
        raise UnsupportedTransferSyntax(
            uid, uid.name, path=path, hint="a transfer syntax pydicom does not know"
        )
    if not uid.is_compressed:
        return
    available, missing = decoder_status(uid)
    if not available:
        raise UnsupportedTransferSyntax(uid, uid.name, path=path, hint=missing)


def _fill_transfer_syntax(ds: Dataset, source: PixelSource) -> None:
    """Give a data set read without File Meta Information the syntax it was read in."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    if meta is None:
        ds.file_meta = FileMetaDataset()
    if isinstance(source, InstanceRecord):
        ds.file_meta.TransferSyntaxUID = UID(source.transfer_syntax_uid)
        return
    little = ds.original_encoding[1] if ds.original_encoding[1] is not None else True
    implicit = ds.original_encoding[0] if ds.original_encoding[0] is not None else True
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    elif little:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian


def _path_of(source: PixelSource) -> str | None:
    if isinstance(source, InstanceRecord):
        return source.path
    if isinstance(source, Dataset):
        filename = getattr(source, "filename", None)
        return filename if isinstance(filename, str) else None
    return os.fspath(source)
