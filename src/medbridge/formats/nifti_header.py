"""A readable listing of a NIfTI-1/2 header, for ``medbridge info``."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import ImageOpener

from medbridge.errors import MedbridgeError

__all__ = ["NiftiHeaderError", "describe_nifti", "looks_like_nifti"]

_XFORM_CODES = {0: "unknown", 1: "scanner", 2: "aligned", 3: "talairach", 4: "mni", 5: "template"}


class NiftiHeaderError(MedbridgeError, ValueError):
    """A file named or sniffed as NIfTI whose header cannot be read."""


def looks_like_nifti(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is NIfTI by its name (.nii, .nii.gz) or its header's magic."""
    name = os.fspath(path).lower()
    if name.endswith((".nii", ".nii.gz")):
        return True
    try:
        with open(path, "rb") as fp:
            head = fp.read(548)
    except OSError:
        return False
    return head[344:347] in (b"n+1", b"ni1") or head[4:7] in (b"n+2", b"ni2")


def describe_nifti(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(field, value) pairs of a NIfTI header: geometry, data type, scaling, extensions.

    The two orientation matrices are shown with their codes, because a mismatch between
    qform and sform is the most common cause of a volume that opens "flipped" in one
    viewer and not another.

    Raises
    ------
    NiftiHeaderError
        The file is not a readable NIfTI-1 or NIfTI-2 image.
    """
    path = os.fspath(path)
    try:
        img = nib.load(path)
    except (ImageFileError, OSError, ValueError, EOFError) as exc:
        raise NiftiHeaderError(f"{path}: not a readable NIfTI image: {exc}") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise NiftiHeaderError(f"{path}: {type(img).__name__}, not NIfTI-1/2")
    with ImageOpener(path) as fileobj:  # the header as stored: nibabel's copy resets scaling
        hdr = type(img.header).from_fileobj(fileobj)
    kind = "NIfTI-2" if isinstance(img, nib.Nifti2Image) else "NIfTI-1"
    ndim = int(hdr["dim"][0])
    rows: list[tuple[str, str]] = [
        ("format", f"{kind} ({'single file' if hdr['magic'] in (b'n+1', b'n+2') else 'pair'})"),
        ("sizeof_hdr", str(int(hdr["sizeof_hdr"]))),
        ("dim", " ".join(str(int(d)) for d in hdr["dim"][: ndim + 1])),
        ("datatype", f"{int(hdr['datatype'])} ({hdr.get_data_dtype()})"),
        ("bitpix", str(int(hdr["bitpix"]))),
        ("pixdim", " ".join(f"{float(p):g}" for p in hdr["pixdim"][: ndim + 1])),
        ("xyzt_units", "{} / {}".format(*hdr.get_xyzt_units())),
        ("vox_offset", f"{float(hdr['vox_offset']):g}"),
        ("scl_slope / scl_inter", f"{float(hdr['scl_slope']):g} / {float(hdr['scl_inter']):g}"),
        ("cal_min / cal_max", f"{float(hdr['cal_min']):g} / {float(hdr['cal_max']):g}"),
        ("slice_code / dim_info", f"{int(hdr['slice_code'])} / {int(hdr['dim_info'])}"),
        ("intent", f"{int(hdr['intent_code'])} {_text(hdr['intent_name'])}".strip()),
        ("descrip", _text(hdr["descrip"])),
        ("aux_file", _text(hdr["aux_file"])),
    ]
    qcode = int(hdr["qform_code"])
    scode = int(hdr["sform_code"])
    rows.append(("qform_code", f"{qcode} ({_XFORM_CODES.get(qcode, 'invalid')})"))
    rows.append(
        (
            "quatern b c d / qfac",
            f"{float(hdr['quatern_b']):g} {float(hdr['quatern_c']):g} "
            f"{float(hdr['quatern_d']):g} / {float(hdr['pixdim'][0]):g}",
        )
    )
    rows.append(
        (
            "qoffset x y z",
            " ".join(f"{float(hdr[k]):g}" for k in ("qoffset_x", "qoffset_y", "qoffset_z")),
        )
    )
    rows.extend(_matrix("qform", hdr.get_qform()))
    rows.append(("sform_code", f"{scode} ({_XFORM_CODES.get(scode, 'invalid')})"))
    rows.extend(_matrix("sform", hdr.get_sform()))
    extensions = hdr.extensions
    rows.append(("extensions", str(len(extensions))))
    for i, ext in enumerate(extensions):
        rows.append((f"  extension {i}", f"code {ext.get_code()}, {len(ext.get_content())} bytes"))
    return rows


def _matrix(label: str, matrix: np.ndarray) -> list[tuple[str, str]]:
    return [(f"{label} row {i}", " ".join(f"{v: .6f}" for v in matrix[i])) for i in range(3)]


def _text(value: object) -> str:
    raw = value.item() if isinstance(value, np.ndarray) else value
    if isinstance(raw, bytes):
        return raw.split(b"\0", 1)[0].decode("latin-1")
    return str(raw)
