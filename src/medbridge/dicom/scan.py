"""Scanning: from paths a user gives to instance records, never stopping at a bad file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pydicom
from pydicom.uid import UID

from medbridge.dicom._header import (
    IMPLICIT_VR_LE,
    WANTED,
    NeedsFullParse,
    RawHeader,
    read_raw_header,
)
from medbridge.dicom._read import read_dataset
from medbridge.dicom.dicomdir import MEDIA_STORAGE_DIRECTORY, read_dicomdir
from medbridge.dicom.files import describe_os_error, iter_files
from medbridge.dicom.records import InstanceRecord, ScanFailure
from medbridge.errors import InvalidDicomError

__all__ = ["read_record", "scan", "scan_files"]

ScanResult = InstanceRecord | ScanFailure


class _Directory:
    """Marker: the file read was a DICOMDIR, not an instance."""


_DIRECTORY = _Directory()


def scan(
    paths: Iterable[str | os.PathLike[str]],
) -> Iterator[ScanResult]:
    """Yield a record for every DICOM instance under ``paths`` and a failure for the rest.

    Files, folders (recursively) and DICOMDIR media are all accepted; pixel data is
    never read. A DICOMDIR adds the files it references (so pointing at the DICOMDIR
    of a CD is enough) and reports those it names that are missing. Each instance file
    is read once, however many ways it was reached.

    Examples
    --------
    >>> from medbridge.dicom import InstanceRecord, scan
    >>> records = [r for r in scan(["/no/such/folder"]) if isinstance(r, InstanceRecord)]
    >>> records
    []
    """
    files: list[str] = []
    for item in iter_files(paths):
        if isinstance(item, ScanFailure):
            yield item
        else:
            files.append(item)
    yield from scan_files(files)


def scan_files(
    files: Iterable[str],
    *,
    on_file: Callable[[str], None] | None = None,
) -> Iterator[ScanResult]:
    """Read the header of each file in ``files``; ``on_file`` is called after each one."""
    queue = list(files)
    known: set[tuple[int, int]] | None = None  # built on the first DICOMDIR only
    index = 0
    while index < len(queue):
        path = queue[index]
        index += 1
        try:
            result = read_record(path)
        except InvalidDicomError as exc:
            yield ScanFailure(path, exc.reason)
        except OSError as exc:
            yield ScanFailure(path, describe_os_error(exc))
        else:
            if isinstance(result, _Directory):
                if known is None:
                    known = {_file_key(p) for p in queue}
                yield from _expand_dicomdir(path, queue, known)
            else:
                yield result
        if on_file is not None:
            on_file(path)


def _expand_dicomdir(
    path: str, queue: list[str], known: set[tuple[int, int]]
) -> Iterator[ScanFailure]:
    try:
        contents = read_dicomdir(path)
    except InvalidDicomError as exc:
        yield ScanFailure(path, exc.reason)
        return
    for missing in contents.missing:
        yield ScanFailure(missing, f"referenced by DICOMDIR {path} but missing")
    for outside in contents.outside:
        yield ScanFailure(outside, f"referenced by DICOMDIR {path} outside its folder; not read")
    for present in contents.present:
        key = _file_key(present)
        if key not in known:
            known.add(key)
            queue.append(present)


def read_record(path: str | os.PathLike[str]) -> InstanceRecord | _Directory:
    """Read one file's header into an :class:`InstanceRecord`.

    Returns the DICOMDIR marker instead when the file is a Media Storage Directory.

    Raises
    ------
    InvalidDicomError
        The file is not DICOM, is broken, or is not a composite instance (no Study,
        Series or SOP Instance UID); the reason says which.
    OSError
        The file cannot be read.
    """
    path = os.fspath(path)
    notes: list[str] = []
    try:
        raw = read_raw_header(path)
    except InvalidDicomError as exc:
        raise type(exc)(exc.reason, path=path) from None
    except NeedsFullParse:
        raw = _read_with_pydicom(path, notes)
    values = raw.values
    if values.get("media_storage_sop_class_uid") == MEDIA_STORAGE_DIRECTORY:
        return _DIRECTORY
    if not raw.has_preamble:
        notes.append("no 128-byte preamble and 'DICM' prefix (PS3.10 7.1)")
    if not raw.has_meta:
        notes.append(
            "no File Meta Information (PS3.10 7.1); transfer syntax taken as "
            f"{UID(raw.transfer_syntax_uid).name} from the first element"
        )
    record = _to_record(path, raw, notes)
    _check_pixel_length(record, raw)
    return record


def _to_record(path: str, raw: RawHeader, notes: list[str]) -> InstanceRecord:
    values = raw.values
    sop_uid = str(
        values.get("sop_instance_uid") or values.get("media_storage_sop_instance_uid") or ""
    )
    sop_class = str(values.get("sop_class_uid") or values.get("media_storage_sop_class_uid") or "")
    if not sop_uid and not sop_class and raw.pixel_data_offset is None:
        raise InvalidDicomError(
            "a DICOM data set but not an instance: no (0008,0016) 'SOP Class UID', "
            "(0008,0018) 'SOP Instance UID' or pixel data",
            path=path,
        )
    for field_name, label in (
        ("sop_instance_uid", "(0008,0018) 'SOP Instance UID'"),
        ("study_instance_uid", "(0020,000D) 'Study Instance UID'"),
        ("series_instance_uid", "(0020,000E) 'Series Instance UID'"),
    ):
        if not (sop_uid if field_name == "sop_instance_uid" else values.get(field_name)):
            notes.append(f"no {label} (type 1, PS3.3): listed apart from its study")
    frames = _int(values.get("number_of_frames"))
    if frames is None and values.get("number_of_frames"):
        notes.append(
            f"(0028,0008) 'Number of Frames' is {values['number_of_frames']!r}, not a number; "
            "taken as 1"
        )
    return InstanceRecord(
        path=path,
        transfer_syntax_uid=raw.transfer_syntax_uid,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_uid,
        patient_id=_str(values, "patient_id"),
        patient_name=_str(values, "patient_name"),
        patient_birth_date=_str(values, "patient_birth_date"),
        patient_sex=_str(values, "patient_sex"),
        study_instance_uid=_str(values, "study_instance_uid"),
        study_date=_str(values, "study_date"),
        study_time=_str(values, "study_time"),
        study_description=_str(values, "study_description"),
        study_id=_str(values, "study_id"),
        accession_number=_str(values, "accession_number"),
        series_instance_uid=_str(values, "series_instance_uid"),
        series_date=_str(values, "series_date"),
        series_time=_str(values, "series_time"),
        series_number=_int(values.get("series_number")),
        series_description=_str(values, "series_description"),
        modality=_str(values, "modality"),
        image_type=_str(values, "image_type"),
        instance_number=_int(values.get("instance_number")),
        number_of_frames=frames if frames and frames > 0 else 1,
        rows=_int(values.get("rows")),
        columns=_int(values.get("columns")),
        pixel_data_offset=raw.pixel_data_offset,
        pixel_data_length=raw.pixel_data_length,
        warnings=tuple(notes),
    )


def _check_pixel_length(record: InstanceRecord, raw: RawHeader) -> None:
    """Refuse native pixel data shorter than its own header says (a cut-off copy)."""
    length = raw.pixel_data_length
    if length is None or length == 0xFFFFFFFF or record.rows is None or record.columns is None:
        return
    bits = _int(raw.values.get("bits_allocated")) or 0
    samples = _int(raw.values.get("samples_per_pixel")) or 1
    if bits <= 0:
        return
    if str(raw.values.get("photometric_interpretation", "")).startswith("YBR_FULL_422"):
        samples = 2  # two chroma samples shared by each pair of pixels (PS3.3 C.7.6.3.1.2)
    needed_bits = record.rows * record.columns * record.number_of_frames * samples * bits
    needed = (needed_bits + 7) // 8
    if length < needed:
        raise InvalidDicomError(
            f"(7FE0,0010) 'Pixel Data' holds {length} bytes but Rows × Columns × frames × "
            f"samples × bits allocated need {needed}",
            path=record.path,
        )


def _read_with_pydicom(path: str, notes: list[str]) -> RawHeader:
    """The reference parser, for encodings the fast path leaves alone (BE, Deflate)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_dataset(path, defer_size=1024)
    notes.extend(str(w.message) for w in caught)
    meta = getattr(ds, "file_meta", None)
    values: dict[str, object] = {}
    if meta is not None:
        for key, name in (
            ("MediaStorageSOPClassUID", "media_storage_sop_class_uid"),
            ("MediaStorageSOPInstanceUID", "media_storage_sop_instance_uid"),
        ):
            if key in meta:
                values[name] = str(meta[key].value)
    for tag, (name, _) in WANTED.items():
        elem = ds.get(tag)
        if elem is not None and elem.value is not None:
            values[name] = _plain(elem.value)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        ts = _guess_syntax(ds)
    pixel = ds.get_item(0x7FE00010, keep_deferred=True)  # its length, not its bytes
    length = _value_length(pixel) if pixel is not None else None
    return RawHeader(
        values=values,
        has_preamble=getattr(ds, "preamble", None) is not None,
        has_meta=bool(meta),
        transfer_syntax_uid=ts,
        pixel_data_offset=0 if pixel is not None else None,
        pixel_data_length=None if UID(ts).is_compressed else length,
    )


def _value_length(elem: Any) -> int | None:
    value = elem.value
    if value is None and getattr(elem, "length", 0) not in (0, 0xFFFFFFFF):
        return int(elem.length)  # deferred: left on disk, its length checked on reading
    return len(value) if isinstance(value, bytes | bytearray) else None


def _guess_syntax(ds: pydicom.Dataset) -> str:
    little = getattr(ds, "is_little_endian", True)
    implicit = getattr(ds, "is_implicit_VR", True)
    if little and implicit:
        return IMPLICIT_VR_LE
    return "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"


def _plain(value: object) -> object:
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value)
    return value if isinstance(value, int) else str(value)


def _str(values: dict[str, object], name: str) -> str:
    value = values.get(name)
    return "" if value is None else str(value)


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return None


def _file_key(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, hash(path))
    return (st.st_dev, st.st_ino)
