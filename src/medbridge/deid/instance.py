"""De-identify one instance held in memory: for the archive's exports and the web API.

The file runner (:mod:`medbridge.deid.runner`) works on paths; a server exporting a study
has each instance's bytes at hand instead. :func:`anonymize_bytes` gives it the same
de-identification, the same checks (truncated input refused, not half-read) and the same
output bytes as ``medbridge anonymize`` writes, so files, exports and conversion outputs
are de-identified one way (issue 6).
"""

from __future__ import annotations

import io
import warnings

from pydicom.dataset import Dataset

from medbridge.deid._encode import encode_file
from medbridge.deid.deidentify import deidentify, require_file_meta
from medbridge.deid.policy import Policy
from medbridge.deid.runner import _truncation
from medbridge.dicom import read_dataset
from medbridge.errors import DeidentificationError, InvalidDicomError, MedbridgeError

__all__ = ["anonymize_bytes", "encode_dataset"]


def encode_dataset(ds: Dataset) -> bytes:
    """``ds`` as a DICOM file (preamble, File Meta Information, dataset).

    Untouched elements are copied as read (:mod:`medbridge.deid._encode`); big endian
    and deflated datasets are written by pydicom.
    """
    data = encode_file(ds)
    if data is None:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
    return data


def anonymize_bytes(data: bytes, policy: Policy, *, notes: list[str] | None = None) -> bytes:
    """De-identify the DICOM file ``data`` under ``policy`` and return the new file.

    Parameters
    ----------
    data:
        A whole DICOM file (Part 10), as stored or received.
    policy:
        The options and key; the same key gives the same UIDs, pseudonyms and date
        offsets as ``medbridge anonymize --key`` with that key.
    notes:
        When given, receives pydicom's warnings and the de-identification's notes.

    Raises
    ------
    InvalidDicomError
        When ``data`` is not DICOM, is malformed or is truncated.
    DeidentificationError
        When the instance cannot be de-identified safely (burned-in annotation without
        a mask, a malformed element met while walking).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = read_dataset(data)
        except InvalidDicomError as exc:
            raise InvalidDicomError(f"cannot read: {exc.reason}") from None
        problem = _truncation(ds, [str(w.message) for w in caught])
        if problem:
            raise InvalidDicomError(f"cannot read: {problem}")
        try:
            deidentify(ds, policy, in_place=True, notes=notes)
            require_file_meta(ds)
        except MedbridgeError:
            raise
        except Exception as exc:  # a malformed element met while walking
            raise DeidentificationError(f"cannot de-identify: {type(exc).__name__}: {exc}") from exc
        result = encode_dataset(ds)
    if notes is not None:
        notes.extend(str(w.message) for w in caught)
    return result
