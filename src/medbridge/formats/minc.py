"""MINC-1 and MINC-2 (``.mnc``): read through nibabel; writing is refused with the reason.

MINC-1 is netCDF (read by nibabel's own netCDF reader); MINC-2 is HDF5 and needs the
optional ``h5py`` package (``pip install 'medbridge[minc]'``). MINC's world is RAS+,
like NIfTI's. nibabel keeps MINC's dimension order, slowest first (typically
``zspace, yspace, xspace``, with ``time`` or ``vector_dimension`` possibly first);
here the spatial axes are reversed so that ``i`` is the fastest-varying one, as in
NIfTI and ITK (a MINC file written by ITK then reads back in ITK's voxel order), and
time and components move to the end, as frames and components. nibabel has no MINC
writer, so :func:`write` raises :class:`~medbridge.errors.FormatError` pointing to
NIfTI and the MINC tools.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import nibabel as nib
import numpy as np

from medbridge.errors import FormatError, MissingDependencyError
from medbridge.formats._layout import from_layout
from medbridge.volume import Volume
from medbridge.volume._geometry import reorder_axes

__all__ = ["EXTENSIONS", "read", "sniff", "write"]

#: File name endings this module reads.
EXTENSIONS: tuple[str, ...] = (".mnc",)

_NETCDF = (b"CDF\x01", b"CDF\x02")
_HDF5 = b"\x89HDF\r\n\x1a\n"


def sniff(head: bytes) -> bool:
    """Whether the bytes start a netCDF (MINC-1) or HDF5 (MINC-2) file.

    >>> sniff(b"CDF\\x01" + bytes(4)), sniff(b"\\x89HDF\\r\\n\\x1a\\n")
    (True, True)
    """
    return head[:4] in _NETCDF or head[:8] == _HDF5


def read(path: str | os.PathLike[str]) -> Volume:
    """Read a MINC-1 or MINC-2 file into a RAS+ Volume of real (scaled) values.

    Raises
    ------
    MissingDependencyError
        The file is MINC-2 and ``h5py`` is not installed.
    FormatError
        The file is truncated, not MINC, or has dimensions other than space, time and
        vector components.
    """
    name = os.fspath(path)
    with open(name, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5 and importlib.util.find_spec("h5py") is None:
        raise MissingDependencyError("h5py", f"reading MINC-2 (HDF5) file {name}", "minc")
    loader: Any = nib
    try:
        img = loader.load(name)
        if not isinstance(img, loader.minc1.Minc1Image):  # Minc2Image derives from it
            raise FormatError(f"{type(img).__name__} is not MINC", path=name)
        array = np.asanyarray(img.dataobj)  # real values: as stored if float, else float64
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))  # MINC-1 is big-endian
        dim_names = list(img.dataobj.minc_file._dim_names)
    except FormatError:
        raise
    except Exception as exc:  # nibabel's netCDF/HDF5 readers raise many kinds
        raise FormatError(
            f"not a readable MINC file: {type(exc).__name__}: {exc}", path=name
        ) from exc
    affine = reorder_axes(img.affine, (2, 1, 0))  # spatial axes reversed, as _reorder does
    return Volume(from_layout(_reorder(array, dim_names, name)), affine)


def _reorder(array: Any, dim_names: list[str], path: str) -> Any:
    """Spatial axes first, fastest first, then ``time``, then ``vector_dimension``."""
    spatial = [i for i, d in enumerate(dim_names) if d.endswith("space")][::-1]
    time = [i for i, d in enumerate(dim_names) if d == "time"]
    vector = [i for i, d in enumerate(dim_names) if d == "vector_dimension"]
    if len(spatial) != 3 or len(spatial) + len(time) + len(vector) != len(dim_names):
        raise FormatError(f"unsupported MINC dimensions {dim_names}", path=path)
    out = np.transpose(array, spatial + time + vector)
    if not time:
        out = np.expand_dims(out, 3)
    return out


def write(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Refuse: nibabel, our MINC library, reads MINC but has no writer.

    Raises
    ------
    FormatError
        Always, naming the way out (NIfTI, then the MINC tools' ``nii2mnc``).
    """
    raise FormatError(
        "writing MINC is not supported: nibabel reads MINC-1/2 but cannot write it; "
        "write .nii.gz and convert it with the MINC tools (nii2mnc)",
        path=path,
    )
