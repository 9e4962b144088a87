"""De-identify files and folders: one output per input, written whole or not at all.

Each input file is read, de-identified and written to a temporary file beside its final
place, then renamed; an input that cannot be read, is refused (burned-in annotation
without a mask) or fails while writing leaves nothing behind and is reported with the
reason (DESIGN principle 3); a run interrupted (Ctrl-C) removes its partial files.
Outputs are named from the new UIDs only, ``OUT/<study>/<series>/<instance>.dcm``, so
no input file or folder name (which often holds a patient's name) reaches the output.
The linkage map, original to pseudonym, is written only when asked and never inside the
output folder.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import os
import re
import secrets
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from medbridge.deid._encode import encode_file
from medbridge.deid.dates import date_offset_days
from medbridge.deid.deidentify import _patient_key, deidentify, require_file_meta
from medbridge.deid.policy import Policy
from medbridge.dicom import read_dataset
from medbridge.errors import (
    DeidentificationError,
    InvalidDicomError,
    MedbridgeError,
    NotDicomError,
)

__all__ = ["FileResult", "RunSummary", "anonymize_file", "anonymize_paths", "iter_files"]

Status = Literal["written", "skipped", "failed"]
_MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
_UID_PATH = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one input file.

    Attributes
    ----------
    source:
        The input path.
    status:
        ``written``; ``skipped`` (not DICOM, a DICOMDIR, a duplicate instance); or
        ``failed`` (unreadable, refused, or not writable).
    output:
        The output path when written.
    reason:
        Why it was skipped or failed, in words a user can act on.
    links:
        (kind, original, pseudonym) rows for the linkage map.
    notes:
        Warnings met while reading, and decisions worth knowing.
    """

    source: str
    status: Status
    output: str | None = None
    reason: str = ""
    links: tuple[tuple[str, str, str], ...] = ()
    notes: tuple[str, ...] = ()
    _partial: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class RunSummary:
    """The results of a run, one per input file, and its duration in seconds."""

    results: list[FileResult]
    seconds: float

    def count(self, status: Status) -> int:
        """How many inputs ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)


def iter_files(
    paths: Iterable[str | os.PathLike[str]], *, exclude: Path | None = None
) -> Iterator[Path]:
    """Every file named or found below the folders named, in sorted order.

    ``exclude`` (the output folder) is not entered, so writing into a folder below the
    input does not read the output back.
    """
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                here = Path(root)
                dirs[:] = sorted(
                    d for d in dirs if exclude is None or (here / d).resolve() != exclude
                )
                for name in sorted(files):
                    yield here / name
        else:
            yield path


def _path_part(uid: str) -> str:
    """A UID as a path component; anything else is hashed (identifiers are never paths)."""
    uid = uid.strip("\x00 ")
    if _UID_PATH.match(uid) and len(uid) <= 64:
        return uid
    return hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:32]


_LINKED = {
    "PatientID": "patient_id",
    "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid",
    "SOPInstanceUID": "sop_instance_uid",
}


def _links(
    original: dict[str, str], patient_key: str, new: Dataset, policy: Policy
) -> tuple[tuple[str, str, str], ...]:
    rows = [
        (kind, original[keyword], str(new.get(keyword, "") or ""))
        for keyword, kind in _LINKED.items()
        if original[keyword]
    ]
    if policy.dates == "shift":
        rows.append(
            ("date_offset_days", patient_key, str(date_offset_days(patient_key, policy.key)))
        )
    return tuple(rows)


def anonymize_file(
    source: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    policy: Policy,
    *,
    run: str = "",
) -> FileResult:
    """De-identify one file into a partial file below ``out_root``; see :func:`anonymize_paths`.

    The result's output is final only once the caller renames the partial file: the
    caller decides, because two inputs may hold the same instance. The partial file's
    name starts with ``.medbridge-<run>-``, so the caller can find what an interrupted
    run left behind.
    """
    src = os.fspath(source)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = read_dataset(src)
        except NotDicomError as exc:
            return FileResult(src, "skipped", reason=exc.reason)
        except InvalidDicomError as exc:
            return FileResult(src, "failed", reason=f"cannot read: {exc.reason}")
        except OSError as exc:
            return FileResult(src, "failed", reason=f"cannot read: {exc}")
        problem = _truncation(ds, [str(w.message) for w in caught])
        if problem:
            return FileResult(src, "failed", reason=f"cannot read: {problem}")
        meta = getattr(ds, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPClassUID", "") == _MEDIA_DIRECTORY:
            return FileResult(
                src, "skipped", reason="a DICOMDIR is not copied; it names input paths"
            )
        try:
            original = {k: str(ds.get(k, "") or "") for k in _LINKED}
            patient_key = _patient_key(ds)
            deidentify(ds, policy, in_place=True, notes=notes)
            require_file_meta(ds)
        except MedbridgeError as exc:
            return FileResult(src, "failed", reason=str(exc))
        except Exception as exc:  # a malformed element met while walking
            return FileResult(
                src, "failed", reason=f"cannot de-identify: {type(exc).__name__}: {exc}"
            )
        notes.extend(str(w.message) for w in caught)
    final = (
        Path(out_root)
        / _path_part(str(ds.get("StudyInstanceUID", "") or "nostudy"))
        / _path_part(str(ds.get("SeriesInstanceUID", "") or "noseries"))
        / (_path_part(str(ds.get("SOPInstanceUID", "") or src)) + ".dcm")
    )
    partial = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(
            dir=final.parent, prefix=_partial_prefix(run), suffix=".partial"
        )
        with os.fdopen(fd, "wb") as fh, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = encode_file(ds)
            if data is None:
                ds.save_as(fh, enforce_file_format=True)
            else:
                fh.write(data)
            notes.extend(str(w.message) for w in caught)
    except BaseException as exc:  # Ctrl-C too: never leave half a file behind
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise
        return FileResult(src, "failed", reason=f"cannot write: {type(exc).__name__}: {exc}")
    return FileResult(
        src,
        "written",
        output=str(final),
        links=_links(original, patient_key, ds, policy),
        notes=tuple(notes),
        _partial=partial,
    )


def _truncation(ds: Dataset, warned: list[str]) -> str:
    """Why ``ds`` was read only in part, or "": pydicom stops quietly at a short file."""
    for message in warned:
        if "end of file" in message.lower() or "EOF" in message:
            return message
    for tag, raw in ds.items():  # items() gives elements as read, iterating would decode
        if (
            isinstance(raw, RawDataElement)
            and isinstance(raw.value, bytes)
            and raw.length != 0xFFFFFFFF
            and len(raw.value) < raw.length
        ):
            return (
                f"truncated in ({tag >> 16:04X},{tag & 0xFFFF:04X}): "
                f"{len(raw.value)} of {raw.length} bytes"
            )
    return ""


def _partial_prefix(run: str) -> str:
    return f".medbridge-{run}-"


def _work(args: tuple[str, str, Policy, str]) -> FileResult:
    source, out_root, policy, run = args
    return anonymize_file(source, out_root, policy, run=run)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def anonymize_paths(
    inputs: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    policy: Policy,
    *,
    map_path: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> RunSummary:
    """De-identify every file named or found below ``inputs`` into ``output``.

    Parameters
    ----------
    inputs:
        Files and folders.
    output:
        The output folder, created when missing: ``<study>/<series>/<instance>.dcm``.
    policy:
        The options and key.
    map_path:
        Where to write the linkage map (CSV: kind, original, pseudonym); it must lie
        outside ``output``. No map is written without it.
    jobs:
        Worker processes; default: one per core.
    on_result:
        Called with each file's result as it finishes (for progress display).

    Raises
    ------
    DeidentificationError
        When ``map_path`` lies inside ``output``.
    """
    started = time.perf_counter()
    out = Path(output).resolve()
    if map_path is not None and _inside(Path(map_path).resolve(), out):
        raise DeidentificationError(
            "the linkage map must not be written inside the output folder", path=map_path
        )
    out.mkdir(parents=True, exist_ok=True)
    files = [str(f) for f in iter_files(inputs, exclude=out)]
    jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    run = secrets.token_hex(6)
    tasks = [(f, str(out), policy, run) for f in files]
    results: list[FileResult] = []
    seen: dict[str, str] = {}

    def settle(result: FileResult) -> None:
        partial, final = result._partial, result.output
        if result.status == "written" and partial is not None and final is not None:
            if final in seen:
                Path(partial).unlink(missing_ok=True)
                result = FileResult(
                    result.source, "skipped", reason=f"same SOP Instance UID as {seen[final]}"
                )
            else:
                os.replace(partial, final)
                seen[final] = result.source
        results.append(result)
        if on_result is not None:
            on_result(result)

    try:
        if jobs == 1 or len(tasks) < 8:
            for task in tasks:
                settle(_work(task))
        else:
            ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
            with ctx.Pool(jobs) as pool:
                for result in pool.imap_unordered(_work, tasks, chunksize=8):
                    settle(result)
    finally:  # an interrupted run leaves no partial file: none is an output
        for stale in out.rglob(_partial_prefix(run) + "*.partial"):
            stale.unlink(missing_ok=True)
    if map_path is not None:
        _write_map(Path(map_path), results)
    return RunSummary(results=results, seconds=time.perf_counter() - started)


def _write_map(path: Path, results: list[FileResult]) -> None:
    """Write the linkage map atomically: sorted, one row per distinct link."""
    rows = sorted({link for r in results if r.status == "written" for link in r.links})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["kind", "original", "pseudonym"])
            writer.writerows(rows)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
