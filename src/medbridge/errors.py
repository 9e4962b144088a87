"""The exceptions medbridge raises, one tree with one root.

::

    MedbridgeError
    ├── InvalidDicomError (ValueError)      a file or dataset is not readable DICOM
    │   └── NotDicomError                   not DICOM at all (empty, another format)
    ├── UnsupportedTransferSyntax           pixels in a syntax no installed plugin decodes
    ├── MissingDependencyError (ImportError) an optional package is not installed
    ├── GeometryError (ValueError)          slices do not form a volume with a sane affine
    │   └── IncompleteVolumeError           some slice positions miss frames
    ├── ConversionError                     a series cannot be converted correctly
    ├── FormatError (ValueError)            a research-format file cannot be read or written
    ├── DeidentificationError (ValueError)  a dataset cannot be de-identified safely
    └── ArchiveError
        ├── DuplicateInstance               same SOP Instance UID, different content
        ├── NotFoundError (LookupError)     no patient, study, series or instance so named
        ├── QueryError (ValueError)         a query or request names keys or values wrongly
        ├── StorageError                    the bytes could not be stored or read back
        └── ServiceRequestError             a workflow request (MPPS, commitment, print)
                                            refused, with its PS3.4 status

and one warning, for files read despite a doubt a user must know about::

    OrientationWarning (UserWarning)        a file's orientation is missing or contradictory
    └── AnalyzeOrientationWarning           (medbridge.formats.analyze) Analyze 7.5 left-right

Each class derives from a builtin where one fits, so ``except ValueError`` keeps working
for callers who do not know medbridge (nibabel's ``AffineError`` does the same). Context
travels as attributes (``path``, ``sop_instance_uid``) so the edges (CLI, DIMSE status,
HTTP status) can say which input failed without parsing the message.
"""

from __future__ import annotations

import os

__all__ = [
    "ArchiveError",
    "ConversionError",
    "DeidentificationError",
    "DuplicateInstance",
    "FormatError",
    "GeometryError",
    "IncompleteVolumeError",
    "InvalidDicomError",
    "MedbridgeError",
    "MissingDependencyError",
    "NotDicomError",
    "NotFoundError",
    "OrientationWarning",
    "QueryError",
    "ServiceRequestError",
    "StorageError",
    "UnsupportedTransferSyntax",
]


class MedbridgeError(Exception):
    """Root of every error medbridge raises on purpose."""


class InvalidDicomError(MedbridgeError, ValueError):
    """A file or dataset cannot be read as DICOM.

    Parameters
    ----------
    reason:
        What is wrong, in words a user can act on ("truncated in (0010,0010) 'Patient's
        Name'", "not a DICOM file: no 'DICM' prefix and no valid first element").
    path:
        The file, when the input was a file.
    """

    def __init__(self, reason: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.reason = reason
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class NotDicomError(InvalidDicomError):
    """The input is not DICOM at all: empty, or another format (notes, PDFs, NIfTI).

    Kept apart from damaged DICOM because folders hold such files beside their images:
    a converter or de-identifier skips them as dcm2niix does, while a damaged DICOM file
    makes a run partial.
    """


class UnsupportedTransferSyntax(MedbridgeError):
    """Pixel data uses a transfer syntax that no installed decoder handles."""

    def __init__(self, uid: str, name: str, *, path: str | None = None, hint: str = "") -> None:
        self.uid = uid
        self.path = path
        where = f"{path}: " if path else ""
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{where}cannot decode pixel data in {name} [{uid}]{tail}")


class MissingDependencyError(MedbridgeError, ImportError):
    """An optional package needed for a feature is not installed."""

    def __init__(self, package: str, feature: str, extra: str) -> None:
        self.package = package
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} needs the '{package}' package: pip install 'medbridge[{extra}]'"
        )


class GeometryError(MedbridgeError, ValueError):
    """Slices do not form a volume whose affine can be trusted."""


class ConversionError(MedbridgeError):
    """A series cannot be converted correctly; nothing is written for it."""


class FormatError(MedbridgeError, ValueError):
    """A volume file (NIfTI, NRRD, MetaImage, ...) cannot be read, or cannot hold a volume.

    Parameters
    ----------
    reason:
        What is wrong and, where there is one, what to do ("MGH holds at most 4
        dimensions; write .nii.gz or .nrrd for vector volumes").
    path:
        The file read or written.
    """

    def __init__(self, reason: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.reason = reason
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class DeidentificationError(MedbridgeError, ValueError):
    """A dataset cannot be de-identified without leaving identity behind.

    Raised, for example, for burned-in annotation without a pixel mask (PS3.15 E.3.1).
    Nothing is written for such a dataset.
    """

    def __init__(self, reason: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.reason = reason
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class ArchiveError(MedbridgeError):
    """The archive could not do what was asked."""


class DuplicateInstance(ArchiveError):
    """An instance with this SOP Instance UID is stored already with other content."""

    def __init__(self, sop_instance_uid: str) -> None:
        self.sop_instance_uid = sop_instance_uid
        super().__init__(
            f"SOP Instance UID {sop_instance_uid} is already stored with other content"
        )


class NotFoundError(ArchiveError, LookupError):
    """No patient, study, series or instance has the identifier asked for."""


class QueryError(ArchiveError, ValueError):
    """A query names an unknown key, a malformed value or a level its model lacks."""


class StorageError(ArchiveError):
    """Bytes could not be written durably or read back."""


class ServiceRequestError(ArchiveError):
    """A workflow service request is refused; `status` is its PS3.4/PS3.7 status code.

    The archive decides (unknown instance, a transition the state machine forbids, a
    missing attribute); the DIMSE door answers with `status` and the HTTP door with a
    4xx, so both edges say the same thing.
    """

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class IncompleteVolumeError(GeometryError):
    """A volume misses slices: some positions hold fewer frames than others.

    Kept apart from other geometry errors so the converter can report "incomplete
    volume" (often an interrupted transfer) distinctly from data that is wrong.
    """


class OrientationWarning(UserWarning):
    """A file's orientation is missing or self-contradictory, so its affine is a choice.

    A warning, not an error, because the voxels are sound and the file is what the user
    has; the message names the file, what was assumed and which readers assume
    otherwise, so a flipped or shifted result can be traced to its file.
    """
