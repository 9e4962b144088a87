"""Instances from DICOM JSON metadata and bulk data parts (PS3.18 10.5.1.2.2).

A STOW-RS request of ``type="application/dicom+json"`` carries an array of datasets in
the JSON model (F.2) in one part, and their bulk data (pixel data, other large binary
values) in further parts that the metadata points to by ``BulkDataURI`` and the parts
name in ``Content-Location``. Each dataset becomes a Part 10 instance here, stored
exactly like one sent as ``application/dicom``.

The transfer syntax comes from the metadata's (0002,0010) when given, else from the
pixel data part: ``application/octet-stream`` is native (Explicit VR Little Endian), a
compressed media type names its syntax in a ``transfer-syntax`` parameter and the part
is one encapsulated frame (PS3.18 8.7.3.3.2).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    AllTransferSyntaxes,
    ExplicitVRLittleEndian,
)

from medbridge.errors import InvalidDicomError
from medbridge.web.dicomweb._multipart_reader import Part
from medbridge.web.dicomweb._negotiate import parse_media_type

__all__ = ["instances_from_json", "metadata_array"]

_PIXEL_DATA = "7FE00010"


def metadata_array(part: Part) -> list[dict[str, Any]]:
    """The datasets of a metadata part (a JSON array, or one object).

    Raises
    ------
    InvalidDicomError
        If the part is not JSON of datasets.
    """
    try:
        value = json.loads(part.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidDicomError(f"the metadata part is not JSON: {exc}") from None
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidDicomError("the metadata part is not an array of DICOM JSON datasets")
    return items


def instances_from_json(dataset: dict[str, Any], bulk: Mapping[str, Part]) -> bytes:
    """Part 10 bytes of one JSON dataset, its BulkDataURIs resolved from `bulk`.

    Raises
    ------
    InvalidDicomError
        If the dataset does not parse, lacks SOP Class/Instance UIDs, or refers to a
        bulk data part the request does not hold.
    """
    meta_json = {k: v for k, v in dataset.items() if k.upper().startswith("0002")}
    body_json = {k: v for k, v in dataset.items() if not k.upper().startswith("0002")}
    syntax: str | None = None

    def resolve(tag: str, vr: str, uri: str) -> bytes:
        nonlocal syntax
        part = bulk.get(uri)
        if part is None:
            raise InvalidDicomError(f"BulkDataURI {uri!r} of ({tag}) names no part of the body")
        if tag.upper() == _PIXEL_DATA:
            _kind, _sub, params = parse_media_type(part.content_type or "")
            syntax = params.get("transfer-syntax") or syntax
        return part.body

    try:
        ds = Dataset.from_json(body_json, bulk_data_uri_handler=resolve)
        meta = Dataset.from_json(meta_json) if meta_json else Dataset()
    except InvalidDicomError:
        raise
    except Exception as exc:  # pydicom raises many types for malformed JSON datasets
        raise InvalidDicomError(f"the metadata is not a valid DICOM JSON dataset: {exc}") from exc
    sop_class = ds.get("SOPClassUID")
    sop_instance = ds.get("SOPInstanceUID")
    if not sop_class or not sop_instance:
        raise InvalidDicomError(
            "a dataset lacks (0008,0016) SOP Class UID or (0008,0018) SOP Instance UID"
        )
    syntax = str(meta.get("TransferSyntaxUID") or syntax or ExplicitVRLittleEndian)
    ts = UID(syntax)
    if ts not in AllTransferSyntaxes:
        raise InvalidDicomError(f"unknown transfer syntax {syntax!r}")
    if ts.is_compressed and "PixelData" in ds:
        pixel = ds["PixelData"]
        pixel.value = encapsulate([bytes(pixel.value)])
        pixel.VR = "OB"
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = sop_class
    file_meta.MediaStorageSOPInstanceUID = sop_instance
    file_meta.TransferSyntaxUID = ts
    file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = file_meta
    out = io.BytesIO()
    try:
        dcmwrite(out, ds, enforce_file_format=True)
    except Exception as exc:  # pydicom's writer: ValueError, TypeError, struct.error...
        raise InvalidDicomError(f"cannot write the dataset as DICOM: {exc}") from exc
    return out.getvalue()
