"""MINC (``.mnc``): MINC-1 and MINC-2 read through nibabel; MINC-2 written with h5py.

MINC-1 is netCDF (read by nibabel's own netCDF reader); MINC-2 is HDF5 and needs the
optional ``h5py`` package (``pip install 'medbridge[minc]'``). MINC's world is RAS+,
like NIfTI's. nibabel keeps MINC's dimension order, slowest first (typically
``zspace, yspace, xspace``, with ``time`` first or ``vector_dimension`` last); here
the spatial axes are reversed so that ``i`` is the fastest-varying one, as in NIfTI
and ITK (a MINC file written by ITK then reads back in ITK's voxel order), and time
and components move to the end, as frames and components.

nibabel has no MINC writer, and the MINC tools' own library (libminc) has no Python
binding, so :func:`write` writes MINC-2 itself: the HDF5 layout libminc writes
(``/minc-2.0/dimensions``, ``/minc-2.0/image/0/image`` with ``dimorder``, ``valid_range``
and whole-volume ``image-min``/``image-max``), judged in the tests by libminc as ITK
embeds it. MINC-1 is not written: MINC-2 is what the MINC tools have written by
default since 2.0, and every MINC reader reads it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt

from medbridge.errors import FormatError, GeometryError, MissingDependencyError
from medbridge.formats._layout import (
    atomic_path,
    check_layout,
    from_layout,
    stored_or_real,
    to_supported_dtype,
)
from medbridge.volume import Volume
from medbridge.volume._geometry import grid_from_affine, reorder_axes

__all__ = ["EXTENSIONS", "read", "sniff", "write"]

#: File name endings this module reads and writes.
EXTENSIONS: tuple[str, ...] = (".mnc",)

_NETCDF = (b"CDF\x01", b"CDF\x02")
_HDF5 = b"\x89HDF\r\n\x1a\n"
#: MINC-2 voxel types (HDF5 stores the sign; MINC has no 64-bit integers).
_TYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64)


def sniff(head: bytes) -> bool:
    """Whether the bytes start a netCDF (MINC-1) or HDF5 (MINC-2) file.

    >>> sniff(b"CDF\\x01" + bytes(4)), sniff(b"\\x89HDF\\r\\n\\x1a\\n")
    (True, True)
    """
    return head[:4] in _NETCDF or head[:8] == _HDF5


def read(path: str | os.PathLike[str]) -> Volume:
    """Read a MINC-1 or MINC-2 file into a RAS+ Volume of real (scaled) values.

    Integer voxels whose scaling is the identity keep their integer type (nibabel
    hands out every scaled value as float64), so a label map stays a label map.

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
    if head == _HDF5:
        _h5py(f"reading MINC-2 (HDF5) file {name}")
    loader: Any = nib
    try:
        img = loader.load(name)
        if not isinstance(img, loader.minc1.Minc1Image):  # Minc2Image derives from it
            raise FormatError(f"{type(img).__name__} is not MINC", path=name)
        array = np.asanyarray(img.dataobj)  # real values: as stored if float, else float64
        stored = np.dtype(img.get_data_dtype())
        minc_file = img.dataobj.minc_file
        dim_names = list(minc_file._dim_names)
        dims = zip(dim_names, minc_file._dims, strict=True)
        steps = {dim: getattr(info, "step", 1.0) for dim, info in dims}
    except FormatError:
        raise
    except Exception as exc:  # nibabel's netCDF/HDF5 readers raise many kinds
        raise FormatError(
            f"not a readable MINC file: {type(exc).__name__}: {exc}", path=name
        ) from exc
    array = _as_stored(array, stored)
    affine = reorder_axes(img.affine, (2, 1, 0))  # spatial axes reversed, as _reorder does
    metadata: dict[str, Any] = {}
    step = float(steps.get("time", 0.0))
    if "time" in dim_names and step > 0:
        metadata["RepetitionTime"] = step  # MINC's time unit is the second
    return Volume(from_layout(_reorder(array, dim_names, name)), affine, metadata)


def _as_stored(real: npt.NDArray[Any], stored: np.dtype[Any]) -> npt.NDArray[Any]:
    """``real`` in the stored integer type when that holds every value exactly."""
    native = real.astype(real.dtype.newbyteorder("="), copy=False)  # MINC-1 is big-endian
    if stored.kind not in "iu" or native.dtype.kind in "iu":
        return native
    info = np.iinfo(stored)
    if native.size and (native.min() < info.min or native.max() > info.max):
        return native
    if not np.array_equal(native, np.rint(native)):
        return native
    return native.astype(stored.newbyteorder("="))


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


def _h5py(feature: str) -> Any:
    """The h5py module, or a MissingDependencyError naming the ``minc`` extra."""
    if importlib.util.find_spec("h5py") is None:
        raise MissingDependencyError("h5py", feature, "minc")
    return importlib.import_module("h5py")


#: Attributes libminc gives every variable it writes.
_STANDARD = {
    "varid": b"MINC standard variable",
    "vartype": b"group________",
    "version": b"MINC Version    2.0",
}
_SPATIAL = {
    "xspace": b"X increases from patient left to right",
    "yspace": b"Y increases from patient posterior to anterior",
    "zspace": b"Z increases from patient inferior to superior",
}


def write(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write a MINC-2 file: 3D or 4D (frames as ``time``), scalar or vector voxels.

    The voxel ``i`` axis is ``xspace`` (fastest), ``j`` is ``yspace``, ``k`` is
    ``zspace``, each with its own direction cosines, so any grid is stored without
    resampling. Scaled volumes are written as real values (MINC's own scaling,
    ``image-min``/``image-max``, is set to the identity).

    Raises
    ------
    MissingDependencyError
        ``h5py`` is not installed.
    FormatError
        The voxels are 64-bit integers (MINC has none) or not numbers, or the affine
        has a zero-length axis.
    """
    name = os.fspath(path)
    layout = check_layout(volume, name, label="MINC", frames=True, components=True)
    values = to_supported_dtype(stored_or_real(volume), _TYPES, name, label="MINC")
    h5py = _h5py(f"writing MINC-2 file {name}")
    try:
        origin, spacing, direction = grid_from_affine(volume.affine_ras)
        starts = np.linalg.solve(direction, origin)  # MINC: origin = Σ start_d · cosine_d
    except (GeometryError, np.linalg.LinAlgError) as exc:
        raise FormatError(f"cannot write MINC geometry: {exc}", path=name) from exc
    data = np.transpose(values.reshape(layout.shape5), (3, 2, 1, 0, 4))  # t, z, y, x, c
    dims = ["zspace", "yspace", "xspace"]
    if layout.frames > 1:
        dims.insert(0, "time")
    else:
        data = data[0]
    if layout.components > 1:
        dims.append("vector_dimension")
    else:
        data = data[..., 0]
    with atomic_path(name, ".mnc") as tmp, h5py.File(tmp, "w") as out:
        root = out.create_group("minc-2.0")
        _set_attrs(root, {"class": b"real___", "ident": b"medbridge", "minc_version": b"2.0"})
        group = root.create_group("dimensions")
        for axis, dim in enumerate(("xspace", "yspace", "zspace")):
            attrs = _spatial_dimension(dim, layout.spatial[axis], spacing[axis], starts[axis])
            _variable(group, dim, {**attrs, "direction_cosines": direction[:, axis]})
        if layout.frames > 1:
            tr = volume.metadata.get("RepetitionTime")
            step = float(tr) if isinstance(tr, int | float) and tr > 0 else 1.0
            _variable(group, "time", _time_dimension(layout.frames, step))
        if layout.components > 1:
            _variable(group, "vector_dimension", {"length": np.int32(layout.components)})
        root.create_group("info")
        images = root.create_group("image").create_group("0")
        low, high = _value_range(values)
        image = images.create_dataset("image", data=np.ascontiguousarray(data))
        valid_range = np.array([low, high], dtype=np.float64)
        _set_attrs(image, {**_STANDARD, "dimorder": ",".join(dims).encode()})
        image.attrs["valid_range"] = valid_range
        _variable(images, "image-min", _STANDARD, value=low)
        _variable(images, "image-max", _STANDARD, value=high)


def _value_range(values: npt.NDArray[Any]) -> tuple[float, float]:
    """``valid_range``, equal to image-min/max so that the real value is the voxel value.

    Integers use their type's whole range (a constant volume would otherwise divide
    by zero in readers that scale); floats their data range, which libminc checks.
    """
    if values.dtype.kind in "iu":
        info = np.iinfo(values.dtype)
        return float(info.min), float(info.max)
    return float(np.min(values)), float(np.max(values))


def _spatial_dimension(dim: str, length: int, step: float, start: float) -> dict[str, Any]:
    return {
        **_STANDARD,
        "alignment": b"centre",
        "class": b"spatial",
        "comments": _SPATIAL[dim],
        "length": np.int32(length),
        "spacing": b"regular__",
        "start": np.float64(start),
        "step": np.float64(step),
        "units": b"mm",
        "width": np.float64(1.0),
    }


def _time_dimension(length: int, step: float) -> dict[str, Any]:
    return {
        **_STANDARD,
        "alignment": b"centre",
        "class": b"time___",  # libminc: "time___", padded to 7
        "length": np.int32(length),
        "spacing": b"regular__",
        "start": np.float64(0.0),
        "step": np.float64(step),
        "units": b"s",
    }


def _variable(group: Any, name: str, attrs: dict[str, Any], *, value: float = 0.0) -> None:
    """A scalar float64 dataset carrying ``attrs``, as libminc stores dimensions."""
    _set_attrs(group.create_dataset(name, data=np.float64(value)), attrs)


def _set_attrs(target: Any, attrs: dict[str, Any]) -> None:
    """HDF5 attributes; text as fixed-length ASCII, as libminc writes and nibabel reads it."""
    for key, item in attrs.items():
        target.attrs[key] = np.bytes_(item) if isinstance(item, bytes) else item
