"""DICOMDIR media (PS3.10 File-set, PS3.3 F.3): which files a CD or DVD says it holds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from medbridge.dicom._read import read_dataset
from medbridge.errors import InvalidDicomError

__all__ = ["MEDIA_STORAGE_DIRECTORY", "DicomdirContents", "read_dicomdir"]

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass
class DicomdirContents:
    """Files a DICOMDIR references: present, named but gone, or named outside its folder."""

    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def read_dicomdir(path: str | os.PathLike[str]) -> DicomdirContents:
    """Resolve every (0004,1500) 'Referenced File ID' of a DICOMDIR to a file path.

    File IDs are relative to the DICOMDIR's folder, with components in upper case as
    ISO 9660 requires; media mounted without Rock Ridge or copied by hand often come
    out in lower case, so a component that does not exist as written is looked up
    without regard to case, as a user would expect the CD to open anyway.

    The records are taken in the order the sequence holds them; the offsets that chain
    them into a tree ((0004,1400) 'Offset of the Next Directory Record', (0004,1420)
    'Offset of Referenced Lower-Level Directory Entity') are not followed, so offsets
    that loop, point outside the file or are missing cannot stop or mislead the reading
    (every record is reached once, whatever they say). A file ID that leaves the
    DICOMDIR's folder (``..``, an absolute path) is reported as missing, never opened.

    Raises
    ------
    InvalidDicomError
        The DICOMDIR itself cannot be read.
    """
    path = os.fspath(path)
    try:
        ds = read_dataset(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise InvalidDicomError(f"unreadable DICOMDIR: {exc.reason}", path=path) from None
    except OSError as exc:
        raise InvalidDicomError(f"unreadable DICOMDIR: {exc}", path=path) from exc
    root = os.path.dirname(os.path.abspath(path))
    contents = DicomdirContents()
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else [str(p) for p in file_id]
        if any(p in ("", ".", "..") or "/" in p or "\\" in p or os.sep in p for p in parts):
            contents.outside.append(os.path.join(root, *parts))
            continue  # PS3.10 8.5: components are plain names; this one leaves the folder
        resolved = _resolve(root, parts)
        if resolved is None:
            contents.missing.append(os.path.join(root, *parts))
        else:
            contents.present.append(resolved)
    return contents


def _resolve(root: str, parts: list[str]) -> str | None:
    current = root
    for part in parts:
        candidate = os.path.join(current, part)
        if os.path.exists(candidate):
            current = candidate
            continue
        try:
            names = os.listdir(current)
        except OSError:
            return None
        match = next((n for n in names if n.upper() == part.upper()), None)
        if match is None:
            return None
        current = os.path.join(current, match)
    return current if os.path.isfile(current) else None
