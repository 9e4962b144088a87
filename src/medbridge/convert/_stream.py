"""Writing a planned stack straight into a NIfTI file, one slice at a time.

A 1,000-slice CT is half a gigabyte; building it in memory first and then writing it
doubles the peak memory and delays the first byte of output until the last file is read.
NIfTI stores voxels in Fortran order of ``(columns, rows, slices, volumes)``, so each
slice (rows reversed, as dcm2niix stores them) is one contiguous block of the file: the
header is known from the plan, and slices can be decoded and written (or handed to the
parallel gzip compressor) as they come. Layouts that need the whole volume first (3D
acquisitions reordered to the canonical order, colour images) use the in-memory path.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from itertools import chain
from multiprocessing import get_context
from typing import Any

import numpy as np
import numpy.typing as npt

from medbridge.errors import GeometryError
from medbridge.volume import Volume
from medbridge.volume._frames import decode_file
from medbridge.volume._stack import Frame, StackPlan

__all__ = ["stream_nifti"]


def _stored_dtype(sample: npt.NDArray[Any], bits_stored: int, varying: bool) -> np.dtype[Any]:
    """dcm2niix's datatype: float32 for per-slice scaling, int16 for <16-bit unsigned."""
    if varying:
        return np.dtype(np.float32)
    if sample.dtype == np.uint16 and 0 < bits_stored < 16:
        return np.dtype(np.int16)
    return sample.dtype.newbyteorder("<") if sample.dtype.itemsize > 1 else sample.dtype


#: Transfer syntaxes whose decoding costs enough to pay for worker processes:
#: JPEG-LS (1.2.840.10008.1.2.4.80/81), JPEG 2000 (.90-.93) and HTJ2K (.201-.203). RLE
#: and uncompressed data are cheaper to decode than to send between processes.
_COSTLY_PREFIXES = ("1.2.840.10008.1.2.4.8", "1.2.840.10008.1.2.4.9", "1.2.840.10008.1.2.4.20")


def _costly(syntax: str) -> bool:
    return syntax.startswith(_COSTLY_PREFIXES)


def _compressed_files(frames: Sequence[Frame]) -> list[tuple[str, str]] | None:
    """(file, transfer syntax) behind ``frames`` when each is a costly single-frame file."""
    files = []
    for frame in frames:
        path, syntax = frame.info.get("path"), str(frame.info.get("transfer_syntax") or "")
        if not isinstance(path, str) or not _costly(syntax):
            return None
        files.append((path, syntax))
    return files


def _decoded(
    frames: Sequence[Frame], workers: int, *, processes: bool = True
) -> Iterator[npt.NDArray[Any]]:
    """Each frame's pixels, in order; decoded ahead when ``workers`` > 1.

    JPEG-LS and JPEG 2000 files are decoded by ``workers`` decoders, this process being
    one of them (:func:`_decoded_in_processes`), because their decoders hold the GIL;
    other files are read in threads (file reads release it; RLE decodes faster than an
    array crosses between processes). The window is bounded, so only a few slices wait
    in memory. ``processes`` False (see :mod:`medbridge.convert._workers`) keeps them
    in threads of this process.
    """
    if workers <= 1 or len(frames) < 2 * workers:
        for frame in frames:
            yield frame.load()
        return
    files = _compressed_files(frames) if processes else None
    if files is not None:
        yield from _decoded_in_processes(frames, files, workers)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        window = 4 * workers
        pending = deque(pool.submit(f.load) for f in frames[:window])
        for index in range(len(frames)):
            done = pending.popleft()
            if index + window < len(frames):
                pending.append(pool.submit(frames[index + window].load))
            yield done.result()


def _decoded_in_processes(
    frames: Sequence[Frame], files: Sequence[tuple[str, str]], workers: int
) -> Iterator[npt.NDArray[Any]]:
    """Frames decoded by ``workers - 1`` spawned processes and by this process in turn.

    Every ``workers``-th frame is decoded here while the processes work on the others:
    on two cores one process is spawned, not two, and this process, which would
    otherwise wait, decodes its share (measured on the 1,000-slice JPEG-LS series: one
    process plus this one spends ~1 s less CPU than two processes, and is not slower).
    """
    with ProcessPoolExecutor(max_workers=workers - 1, mp_context=get_context("spawn")) as pool:
        window = 4 * workers
        pending: dict[int, Future[npt.NDArray[Any]]] = {}
        submitted = 0
        for index, frame in enumerate(frames):
            while submitted < min(index + window, len(frames)):
                if submitted % workers:
                    pending[submitted] = pool.submit(decode_file, *files[submitted])
                submitted += 1
            if index % workers == 0:
                yield frame.load()
            else:
                yield pending.pop(index).result()


def _slices(
    plan: StackPlan,
    sample: npt.NDArray[Any],
    dtype: np.dtype[Any],
    varying: bool,
    workers: int,
    processes: bool = True,
) -> Iterator[memoryview]:
    """Each frame's values as stored (rows reversed), as bytes views of fresh arrays.

    Views, not ``tobytes()`` copies: a file takes them as they are, and the threaded
    gzip writer copies what it queues.
    """
    first = plan.frames[0][0]
    ordered = [frame for volume in plan.frames for frame in volume]
    decoded = chain([sample], _decoded(ordered[1:], workers, processes=processes))
    for frame, pixels in zip(ordered, decoded, strict=True):
        if pixels.shape != (first.rows, first.columns):
            raise GeometryError(
                f"frame pixels are {pixels.shape}, header says {first.rows}x{first.columns}"
            )
        if varying:
            values = pixels[::-1].astype(np.float32) * frame.slope + frame.intercept
        elif dtype == np.int16 and pixels.dtype == np.uint16:
            values = pixels[::-1].view(np.int16)
        else:
            values = pixels[::-1].astype(dtype, copy=False)
        yield np.ascontiguousarray(values).data.cast("B")


def stream_nifti(
    plan: StackPlan,
    path: str,
    *,
    metadata: dict[str, Any],
    bits_stored: int,
    scaling: tuple[float, float] | None = None,
    threads: int = 0,
    decoders: int = 1,
    processes: bool = True,
) -> tuple[int, ...] | None:
    """Write ``plan`` as ``path`` (.nii or .nii.gz) slice by slice; returns the shape.

    Returns None, writing nothing, when the frames are not single-sample 2D planes (the
    caller then uses the in-memory path). Scaling is the frames' common rescale unless
    ``scaling`` (Philips floating-point) replaces it; frames with different rescales are
    written as float32 real-world values, as :func:`~medbridge.volume._stack.load_stack`
    does. ``decoders`` > 1 decodes slices ahead in that many threads (only for frames
    from separate files: frames sharing a multi-frame file share one decoder).
    """
    from medbridge.formats import nifti

    first = plan.frames[0][0]
    sample = first.load()
    if sample.ndim != 2:
        return None
    scales = {(f.slope, f.intercept) for vol in plan.frames for f in vol}
    varying = len(scales) > 1
    dtype = _stored_dtype(sample, bits_stored, varying)
    slope, intercept = (1.0, 0.0) if varying else next(iter(scales))
    if scaling is not None:
        slope, intercept = scaling
    shape = plan.shape
    # A zero-strided stand-in: the header needs shape and dtype, not the voxels.
    stand_in = np.broadcast_to(np.zeros((), dtype=dtype), shape)
    header = nifti._header(Volume(stand_in, plan.affine_ras, metadata, slope, intercept))
    offset = 544 if header.sizeof_hdr == 540 else 352
    header["vox_offset"] = offset
    head = header.binaryblock
    head += b"\x00" * (offset - len(head))
    tmp = f"{path}.part"
    try:
        if path.endswith(".gz"):
            with nifti._gzip_writer(tmp, threads) as out:
                out.write(head)
                for block in _slices(plan, sample, dtype, varying, decoders, processes):
                    out.write(block)
        else:
            with open(tmp, "wb") as raw:
                raw.write(head)
                for block in _slices(plan, sample, dtype, varying, decoders, processes):
                    raw.write(block)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return shape
