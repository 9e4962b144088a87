"""Finding the files to read: paths given by a user, folders walked, links followed safely."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from medbridge.dicom.records import ScanFailure

__all__ = ["FileList", "collect_files", "describe_os_error", "iter_files"]


@dataclass
class FileList:
    """Files found under some paths, in a stable order, each real file once."""

    files: list[str] = field(default_factory=list)
    failures: list[ScanFailure] = field(default_factory=list)


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> FileList:
    """Walk ``paths`` and gather every regular file, with the reasons for what was skipped."""
    found = FileList()
    for item in iter_files(paths):
        if isinstance(item, ScanFailure):
            found.failures.append(item)
        else:
            found.files.append(item)
    return found


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str | ScanFailure]:
    """Yield every regular file under ``paths`` once, or a failure saying why not.

    Folders are walked recursively in sorted order and symbolic links are followed, as
    a user who points at a CD or a linked export expects; a link that leads back into a
    folder already being walked (a loop) or to nothing is reported, not followed. A
    file reached twice (by two paths, or through a link) is yielded once.
    """
    seen_files: set[tuple[int, int]] = set()
    for top in paths:
        top = os.fspath(top)
        try:
            st = os.stat(top)
        except FileNotFoundError:
            reason = "broken symbolic link" if os.path.islink(top) else "no such file or folder"
            yield ScanFailure(top, reason)
            continue
        except OSError as exc:
            yield ScanFailure(top, describe_os_error(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(top, (st.st_dev, st.st_ino), (), seen_files)
        elif _first_visit(st, seen_files):
            yield top


def _walk(
    folder: str,
    key: tuple[int, int],
    ancestors: tuple[tuple[int, int], ...],
    seen_files: set[tuple[int, int]],
) -> Iterator[str | ScanFailure]:
    ancestors = (*ancestors, key)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield ScanFailure(folder, describe_os_error(exc))
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=True)
        except FileNotFoundError:
            yield ScanFailure(entry.path, "broken symbolic link")
            continue
        except OSError as exc:
            yield ScanFailure(entry.path, describe_os_error(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            child = (st.st_dev, st.st_ino)
            if child in ancestors:
                target = os.path.realpath(entry.path)
                yield ScanFailure(entry.path, f"symbolic link loop: leads back to {target}")
                continue
            yield from _walk(entry.path, child, ancestors, seen_files)
        elif stat.S_ISREG(st.st_mode):
            if _first_visit(st, seen_files):
                yield entry.path
        else:
            yield ScanFailure(entry.path, "not a regular file (device, socket or pipe)")


def _first_visit(st: os.stat_result, seen: set[tuple[int, int]]) -> bool:
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return False
    seen.add(key)
    return True


def describe_os_error(exc: OSError) -> str:
    """A short reason for an OS error, without the path (the caller shows that)."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder"
    if exc.errno == 40:  # ELOOP: a link that points at itself
        return "symbolic link loop"
    return exc.strerror or str(exc)
