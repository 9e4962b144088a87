"""NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``): read and write a :class:`~medbridge.volume.Volume`.

The header comes from nibabel; the voxels are written by us, straight from the array's
memory in Fortran order, because that is the layout NIfTI stores and so needs no copy.
``.nii.gz`` is compressed with python-isal's threaded gzip when it is installed (several
times faster than zlib and parallel), else with the standard library's gzip at level 1.
NIfTI-2 is chosen automatically when a dimension does not fit NIfTI-1's signed 16-bit
``dim`` fields (32767).
"""

from __future__ import annotations

import gzip
import os
import warnings
from typing import IO, Any, cast

import nibabel as nib
import numpy as np

from medbridge.errors import FormatError, OrientationWarning
from medbridge.volume import Volume

__all__ = ["EXTENSIONS", "NIFTI1_MAX_DIM", "read", "sniff", "write"]

#: File name endings this module reads and writes, longest first.
EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii")
#: Largest dimension NIfTI-1 can store (its ``dim`` fields are int16).
NIFTI1_MAX_DIM = 32767

_GZIP_MAGIC = b"\x1f\x8b"
_TIME_TO_SECONDS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def sniff(head: bytes) -> bool:
    """Whether the first bytes of a file look like NIfTI-1/2 (or gzip, which may hold one).

    NIfTI-1 stores ``sizeof_hdr`` = 348 at offset 0 and magic ``n+1`` at offset 344;
    NIfTI-2 stores 540 and ``n+2`` at offset 4. Either byte order is accepted.

    >>> sniff(b"\\x5c\\x01\\x00\\x00" + b"\\x00" * 340 + b"n+1\\x00")
    True
    >>> sniff(b"DICM")
    False
    """
    if head[:2] == _GZIP_MAGIC:
        return True
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return int.from_bytes(head[:4], "little") == 348 or int.from_bytes(head[:4], "big") == 348
    if len(head) >= 8 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return int.from_bytes(head[:4], "little") == 540 or int.from_bytes(head[:4], "big") == 540
    return False


def read(path: str | os.PathLike[str]) -> Volume:
    """Read a NIfTI file into a Volume (stored values; scaling in ``slope``/``intercept``).

    The affine is the sform when its code is set, else the qform, as nibabel, FSL and
    SPM choose. Readers disagree in two cases, so each gets an
    :class:`~medbridge.errors.OrientationWarning`: both codes set, the sform's not
    "scanner", and the two forms more than half a voxel apart (ITK, and so Slicer and
    ANTs, then take the qform); or neither code set (no orientation at all: nibabel's
    fallback, voxel sizes with x flipped about the centre, is what we get).
    """
    nifti: Any = nib
    name = os.fspath(path)
    try:
        if name.lower().endswith(EXTENSIONS):
            img = nifti.load(name)
            if not isinstance(img, nifti.Nifti1Image | nifti.Nifti2Image):
                raise FormatError(f"{type(img).__name__} is not a NIfTI image", path=name)
            array = np.asanyarray(img.dataobj.get_unscaled())
        else:
            img, array = _load_unnamed(name)
    except (
        OSError,
        ValueError,
        EOFError,
        nifti.filebasedimages.ImageFileError,
        nifti.spatialimages.HeaderDataError,
    ) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"not a readable NIfTI file: {exc}", path=name) from exc
    if array.dtype.names:  # RGB24 / RGBA32: one structured voxel → trailing components
        array = np.stack([array[n] for n in array.dtype.names], axis=-1)
        if array.ndim == 4:
            array = array[:, :, :, np.newaxis, :]
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))  # big-endian files
    # nibabel moves the scaling from a loaded header to the data proxy
    slope, inter = img.dataobj.slope, img.dataobj.inter
    _warn_if_ambiguous(img.header, array.shape, name)
    affine = img.affine if img.affine is not None else np.eye(4)
    metadata: dict[str, Any] = {}
    if array.ndim >= 4 and array.shape[3] > 1:
        step = float(img.header.get_zooms()[3]) * _TIME_TO_SECONDS.get(
            img.header.get_xyzt_units()[1], 0.0
        )
        if step > 0:
            metadata["RepetitionTime"] = step  # frame step, so other formats keep it
    return Volume(
        array,
        np.asarray(affine, dtype=np.float64),
        metadata,
        slope=1.0 if slope is None else float(slope),
        intercept=0.0 if inter is None else float(inter),
    )


def _warn_if_ambiguous(header: Any, shape: tuple[int, ...], name: str) -> None:
    """An OrientationWarning when the header's two orientations disagree or are absent."""
    qform, qcode = header.get_qform(coded=True)
    sform, scode = header.get_sform(coded=True)
    if not qcode and not scode:
        warnings.warn(
            f"{name}: qform_code and sform_code are both 0, so the file states no "
            "orientation; voxel sizes are kept and the orientation is nibabel's guess "
            "(x flipped, origin at the centre), other readers guess differently",
            OrientationWarning,
            stacklevel=3,
        )
        return
    if not qcode or scode in (0, 1):
        return  # every reader takes the same form: the sform if "scanner", else the qform
    last = [max(int(n) - 1, 0) for n in shape[:3]]
    corners = np.array(
        [[i, j, k, 1] for i in (0, last[0]) for j in (0, last[1]) for k in (0, last[2])]
    )
    apart = float(np.abs((sform - qform) @ corners.T)[:3].max())
    voxel = float(min(np.linalg.norm(sform[:3, :3], axis=0)))
    if apart > voxel / 2:
        names = {1: "scanner", 2: "aligned", 3: "talairach", 4: "mni", 5: "template"}
        warnings.warn(
            f"{name}: the sform (code {scode}, {names.get(int(scode), 'unknown')}) and the "
            f"qform (code {qcode}, {names.get(int(qcode), 'unknown')}) place voxels up to "
            f"{apart:.3g} mm apart; the sform is used, as nibabel, FSL and SPM use it, "
            "while ITK-based tools (Slicer, ANTs) use the qform unless the sform is scanner",
            OrientationWarning,
            stacklevel=3,
        )


def _load_unnamed(name: str) -> tuple[Any, np.ndarray]:
    """A single-file NIfTI under another name (nibabel's loader goes by extension).

    The stream is gunzipped when it starts with the gzip magic; ``sizeof_hdr`` (348 or
    540, either byte order) tells NIfTI-1 from NIfTI-2.
    """
    with open(name, "rb") as raw:
        packed = raw.read(2) == _GZIP_MAGIC
    opener: Any = gzip.open if packed else open
    with opener(name, "rb") as fh:
        size = fh.read(4)
        fh.seek(0)
        two = 540 in (int.from_bytes(size, "little"), int.from_bytes(size, "big"))
        klass: Any = nib.Nifti2Image if two else nib.Nifti1Image
        img = klass.from_stream(fh)
        return img, np.asanyarray(img.dataobj.get_unscaled())


def _header(volume: Volume) -> Any:
    needs_two = any(d > NIFTI1_MAX_DIM for d in volume.array.shape)
    nifti: Any = nib  # nibabel is untyped; keep the Any in one place
    header = nifti.Nifti2Header() if needs_two else nifti.Nifti1Header()
    try:
        header.set_data_dtype(volume.array.dtype)
    except nifti.spatialimages.HeaderDataError as exc:
        raise FormatError(f"NIfTI cannot store {volume.array.dtype} voxels: {exc}") from exc
    header.set_data_shape(volume.array.shape)
    if volume.array.ndim == 5 and volume.array.shape[4] > 1:
        header.set_intent("vector")  # NIfTI's convention: components along dim[5]
    header.set_sform(volume.affine_ras, code=1)
    header.set_qform(volume.affine_ras, code=1)
    zooms = list(header.get_zooms())
    meta = volume.metadata
    tr = meta.get("RepetitionTime")
    if volume.array.ndim >= 4 and isinstance(tr, int | float):
        zooms[3] = float(tr)
    header.set_zooms(zooms)
    if "Modality" in meta and volume.array.ndim <= 4:
        # A converted image: pixdim[4] is the TR (s) as dcm2niix writes it, 3D images
        # included, and 0 without one (CT).
        header["pixdim"][4] = float(tr) if isinstance(tr, int | float) else 0.0
    header.set_xyzt_units("mm", "sec")
    if volume.slope != 1.0 or volume.intercept != 0.0:
        header.set_slope_inter(volume.slope, volume.intercept)
    descrip = str(meta.get("_descrip", ""))[:79]
    header["descrip"] = descrip.encode("ascii", "replace")
    header["aux_file"] = str(meta.get("_aux_file", ""))[:23].encode("ascii", "replace")
    header["slice_code"] = int(meta.get("_slice_code", 0) or 0)
    if "Modality" in meta and not needs_two:  # NIfTI-2 dropped Analyze's 'regular'
        header["regular"] = b"r"  # a converted image: 'r', as dcm2niix sets it
    dim_info = meta.get("_dim_info")
    phase = meta.get("InPlanePhaseEncodingDirectionDICOM")
    if dim_info is None and phase in ("COL", "ROW") and volume.array.ndim >= 3:
        # A converted image: frequency, phase and slice axes as dcm2niix records them.
        dim_info = (0, 1, 2) if phase == "COL" else (1, 0, 2)
    header.set_dim_info(*(dim_info or (None, None, None)))
    return header


def write(volume: Volume, path: str | os.PathLike[str], *, threads: int = 0) -> None:
    """Write a Volume as ``.nii`` or ``.nii.gz`` (chosen by the file name).

    Parameters
    ----------
    volume:
        What to write; ``array`` in NIfTI index order.
    path:
        Destination; written to a temporary name and renamed, so a failed write never
        leaves a half file under the final name.
    threads:
        Compression threads for ``.nii.gz`` (0: as many as CPUs).
    """
    path = os.fspath(path)
    header = _header(volume)
    offset = 544 if isinstance(header, nib.Nifti2Header) else 352
    header["vox_offset"] = offset
    head = header.binaryblock
    head += b"\x00" * (offset - len(head))
    array = np.asarray(volume.array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    data = array.ravel(order="F") if not array.flags.f_contiguous else array.T.ravel(order="C")
    payload = np.ascontiguousarray(data).view(np.uint8).data
    tmp = f"{path}.part"
    try:
        if path.endswith(".gz"):
            with _gzip_writer(tmp, threads) as out:
                out.write(head)
                out.write(payload)
        else:
            with open(tmp, "wb") as raw:
                raw.write(head)
                raw.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _gzip_writer(path: str, threads: int) -> IO[bytes]:
    try:
        from isal import igzip_threaded
    except ImportError:
        return cast(IO[bytes], gzip.GzipFile(path, "wb", compresslevel=1))
    n = threads or (os.cpu_count() or 1)
    opener: Any = igzip_threaded.open
    stream: IO[bytes] = opener(path, "wb", compresslevel=1, threads=n)
    return stream
