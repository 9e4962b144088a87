"""WADO-RS ``/metadata``: DICOM JSON (PS3.18 F.2) of stored instances, derived once.

Each instance's JSON is written beside its study the first time it is asked for
(`medbridge.archive.derived`), named after the instance's SHA-256, and a series' or a
study's answer is assembled from those and written too, named after a digest of its
members and of the base URL its BulkDataURIs carry. So a repeated ``/metadata`` is one
index query and one file read (issue 10: at most a fifth of Orthanc's 152 ms for 400
instances), a store, replacement or delete changes the name looked up, and nodes that
share storage share the work.

Bulk values (PS3.18 F.2.2.5.2: OB, OD, OF, OL, OV, OW, UN above `BULK_THRESHOLD`
bytes, and Pixel Data always) are never inline: they get a BulkDataURI under the
instance's ``/bulkdata/`` route, whose path is the tag, and for an element inside a
sequence the sequence's tag and the item's index (0-based) before it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from medbridge.archive.derived import DerivedFiles
from medbridge.archive.locate import StoredInstance
from medbridge.errors import InvalidDicomError, StorageError

__all__ = ["BASE_MARK", "BULK_THRESHOLD", "dataset_json", "instance_json", "metadata_answer"]

LOGGER = logging.getLogger(__name__)

#: Values of bulk VRs longer than this many bytes become BulkDataURIs.
BULK_THRESHOLD = 1024
#: Where the request's base URL goes in derived JSON (replaced when an answer is built).
BASE_MARK = "@@medbridge-wado-base@@"
_BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_VERSION = "v1"  # bump when the JSON written changes shape


def dataset_json(ds: Dataset, bulk_uri: str) -> dict[str, Any]:
    """Return `ds` as a DICOM JSON object, bulk values as URIs under `bulk_uri`."""
    out: dict[str, Any] = {}
    for elem in ds:
        tag = int(elem.tag)
        if tag & 0xFFFF == 0 or tag >> 16 == 0x0002:  # group lengths, file meta
            continue
        key = f"{tag:08X}"
        vr = str(elem.VR)
        try:
            if vr == "SQ":
                items = [
                    dataset_json(item, f"{bulk_uri}/{key}/{i}")
                    for i, item in enumerate(elem.value or [])
                ]
                out[key] = {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
            elif vr in _BULK_VRS and (
                tag in _PIXEL_TAGS or len(elem.value or b"") > BULK_THRESHOLD
            ):
                out[key] = {"vr": vr, "BulkDataURI": f"{bulk_uri}/{key}"}
            else:
                out[key] = elem.to_json_dict(None, BULK_THRESHOLD)
        except Exception as exc:  # a value pydicom cannot render: keep its VR, say so
            LOGGER.info("metadata: (%s) left empty: %s", key, exc)
            out[key] = {"vr": vr}
    return out


def _instance_uri(item: StoredInstance) -> str:
    return (
        f"{BASE_MARK}/studies/{item.study_instance_uid}/series/{item.series_instance_uid}"
        f"/instances/{item.sop_instance_uid}/bulkdata"
    )


def instance_json(derived: DerivedFiles, item: StoredInstance) -> bytes:
    """Return one instance's DICOM JSON (with `BASE_MARK`), derived once and kept.

    Raises
    ------
    InvalidDicomError
        The stored file does not parse.
    StorageError
        The stored file cannot be read.
    """
    name = f"inst-{item.sop_instance_uid}-{item.sha256[:24]}-{_VERSION}.json"
    cached = derived.read(item.study_instance_uid, name)
    if cached is not None:
        return cached
    try:
        ds = dcmread(item.path)
    except OSError as exc:
        raise StorageError(f"cannot read {item.path.name}: {exc.strerror or exc}") from exc
    except Exception as exc:  # pydicom raises many types on damaged files
        raise InvalidDicomError(f"cannot parse: {exc}", path=item.path.name) from exc
    data = json.dumps(dataset_json(ds, _instance_uri(item)), separators=(",", ":")).encode()
    try:
        derived.write(item.study_instance_uid, name, data)
    except StorageError as exc:  # the answer is right without the cache
        LOGGER.warning("metadata cache: %s", exc)
    return data


def metadata_answer(
    derived: DerivedFiles,
    items: Sequence[StoredInstance],
    base: str,
    *,
    level: str,
    gzipped: bool,
) -> bytes:
    """Return the ``/metadata`` body of `items` (a JSON array), gzip'ed when asked.

    An answer of more than one instance is kept (both forms) under a name derived
    from its members' digests, its `level` and `base`; older versions are removed.
    """
    if len(items) == 1:
        body = _array([instance_json(derived, items[0])], base)
        return gzip.compress(body, compresslevel=6) if gzipped else body
    first = items[0]
    owner = first.series_instance_uid if level == "series" else first.study_instance_uid
    digest = hashlib.sha256(base.encode())
    for item in items:
        digest.update(item.sop_instance_uid.encode())
        digest.update(item.sha256.encode())
    prefix = f"{level}-{owner}-"
    name = f"{prefix}{digest.hexdigest()[:24]}-{_VERSION}.json"
    wanted = f"{name}.gz" if gzipped else name
    cached = derived.read(first.study_instance_uid, wanted)
    if cached is not None:
        return cached
    body = _array([instance_json(derived, item) for item in items], base)
    packed = gzip.compress(body, compresslevel=6)
    try:
        derived.write(first.study_instance_uid, name, body)
        derived.write(first.study_instance_uid, f"{name}.gz", packed)
        derived.prune(first.study_instance_uid, prefix, keep=frozenset({name, f"{name}.gz"}))
    except StorageError as exc:
        LOGGER.warning("metadata cache: %s", exc)
    return packed if gzipped else body


def _array(objects: list[bytes], base: str) -> bytes:
    body = b"[" + b",".join(objects) + b"]"
    return body.replace(BASE_MARK.encode(), json.dumps(base)[1:-1].encode())
