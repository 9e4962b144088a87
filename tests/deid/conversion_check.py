"""Converting the dcm_qa series before and after de-identification, and comparing them.

Each unit is a folder of one dcm_qa set: the whole ``In`` of a small set, one site's
folder of the large ones, so that xdist can spread the work. An output is reduced to what
a researcher receives: voxels (their sha256), shape, datatype, RAS affine, scaling,
bval/bvec and the sidecar fields; outputs are paired by their image, since the names
(``%p``, the protocol name) change by design.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planted_data import KEY
from pydicom.misc import is_dicom

from conftest import DCM_QA_SETS
from medbridge.convert import ConvertOptions, convert
from medbridge.deid import Policy, anonymize_paths

POLICY = Policy(key=KEY, dates="shift", retain_safe_private=True)

SETS = DCM_QA_SETS

#: Every DICOM input of the eight dcm_qa sets, in units converted on their own
#: (dcm_qa_philips/In/Rosetta_2013 holds no DICOM: its one file is missing, MISSING.txt).
UNITS = (
    "dcm_qa/In",
    "dcm_qa_12bit/In",
    "dcm_qa_enh/In",
    "dcm_qa_mosaic/In",
    "dcm_qa_nih/In/20180918GE",
    "dcm_qa_nih/In/20180918Si",
    "dcm_qa_philips/In/Bangalore_2008",
    "dcm_qa_philips/In/Magdeburg_2014",
    "dcm_qa_philips/In/Vanderbilt_2018",
    "dcm_qa_ts/In",
    "dcm_qa_xa60/In/XA60",
    "dcm_qa_xa60/In/XA61",
)

#: Sidecar fields that de-identification changes by design, with the attribute each
#: comes from: under the Basic Profile with shifted dates and Retain Safe Private (PS3.15
#: Table E.1-1), each attribute is removed (X), emptied (Z) or given a dummy (D). Names,
#: IDs, birth dates and UIDs, which it also replaces, never reach a sidecar (the default
#: anonymised sidecar leaves them out, as dcm2niix's ``-ba y`` does); dates are shifted
#: by whole days, so the times of day a sidecar holds stay as they are. Output names are
#: not compared: the default template's ``%p`` is the removed protocol name.
BY_DESIGN = {
    "ProtocolName": ("(0018,1030)", "free text staff type; also the name's %p"),
    "SeriesDescription": ("(0008,103E)", "free text"),
    "StudyDescription": ("(0008,1030)", "free text"),
    "ProcedureStepDescription": ("(0040,0254)", "Performed Procedure Step Description"),
    "ImageComments": ("(0020,4000)", "free text"),
    "_aux_file": ("(0020,4000)", "the image comments again, in the NIfTI header's aux_file"),
    "InstitutionName": ("(0008,0080)", "a place"),
    "InstitutionAddress": ("(0008,0081)", "a place"),
    "InstitutionalDepartmentName": ("(0008,1040)", "a place; dcm2niix then writes 'None'"),
    "StationName": ("(0008,1010)", "the device"),
    "DeviceSerialNumber": ("(0018,1000)", "the device; a dummy where the IOD needs one"),
}

#: Sidecar fields the de-identified output gains by design: the record of what was done
#: (PS3.15 E.1.1 step 4), which dcm2niix copies into sidecars as medbridge does.
MARKED = {
    "DeidentificationMethod": "(0012,0063), added by the de-identifier",
    "DeidentificationMethodCodeSequence": "(0012,0064), added by the de-identifier",
}

#: Differences that remain beyond those, (unit, key, kind) → reason; each must occur.
REMAINING = {
    ("dcm_qa_nih/In/20180918GE", key, kind): reason
    for key, kind, reason in (
        ("SliceTiming", "missing", "estimated from GE's protocol data block (0025,101B), "
         "not kept (private_not_kept.csv); dcm2niix gives none without it either"),
        ("PhaseEncodingPolarityGE", "missing", "from GE's user data (0043,102A), not kept "
         "(private_not_kept.csv); the polarity is unknown, as dcm2niix finds it"),
        ("PhaseEncodingDirection", "missing", "its sign needs the polarity from (0043,102A)"),
        ("_descrip", "value", "the NIfTI header's ';phase=' needs the same polarity"),
        ("PhaseEncodingAxis", "extra", "written instead of the direction when only the axis "
         "is known, as dcm2niix writes it"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Converted:
    """One output: ``image`` (shape, dtype, voxel sha256, affine, scaling, bval, bvec)
    and ``fields``, its sidecar."""

    image: tuple[Any, ...]
    fields: dict[str, Any]

    def sort_key(self) -> str:
        """Pairs outputs with equal images by the fields de-identification keeps."""
        kept = {k: v for k, v in self.fields.items() if k not in BY_DESIGN and k not in MARKED}
        return json.dumps([repr(self.image), kept], sort_keys=True, default=str)


def converted(folder: Path, options: ConvertOptions | None = None) -> list[Converted]:
    """Every output of ``folder``, as :class:`Converted`, sorted for pairing."""
    out = []
    for volume in convert([folder], options=options):
        meta = dict(volume.metadata)
        bvals, bvecs = meta.pop("bvals", None), meta.pop("bvecs", None)
        meta.pop("name")
        array = volume.array
        image = (
            array.shape,
            str(array.dtype),
            hashlib.sha256(array.tobytes()).hexdigest(),
            tuple(volume.affine_ras.ravel().tolist()),
            (volume.slope, volume.intercept),
            json.dumps(bvals),
            json.dumps(bvecs),
        )
        out.append(Converted(image, meta))
    return sorted(out, key=Converted.sort_key)


def deidentify_folder(source: Path, target: Path) -> None:
    """De-identify every file of ``source`` into ``target`` with :data:`POLICY`.

    ``anonymize`` writes one output per SOP instance, so a file repeating another's SOP
    Instance UID (dcm_qa_12bit stores one image three ways) is skipped in a run over the
    folder; each such file is de-identified in a run of its own, into its own folder.
    """
    summary = anonymize_paths([source], target / "all", POLICY, jobs=1)
    for n, result in enumerate(summary.results):
        if result.status == "skipped" and result.reason.startswith("same SOP Instance UID"):
            again = anonymize_paths([result.source], target / f"repeat{n}", POLICY, jobs=1)
            assert again.count("written") == 1, again.results
        elif result.reason.startswith("a DICOMDIR is not copied"):
            continue  # a File-set's directory names input paths; the instances are copied
        else:
            assert result.status == "written" or result.reason.startswith(
                ("not a DICOM file", "empty file")
            ), result


def differences(before: list[Converted], after: list[Converted]) -> dict[tuple[str, str], str]:
    """Sidecar differences of paired outputs, (key, kind) → example, kind being
    'missing' (after lost it), 'extra' or 'value'; the images must be equal."""
    assert len(after) == len(before) > 0, f"{len(before)} outputs before, {len(after)} after"
    found: dict[tuple[str, str], str] = {}
    for a, b in zip(before, after, strict=True):
        assert a.image == b.image, f"image differs: {a.image} != {b.image}"
        for key in sorted(set(a.fields) | set(b.fields)):
            if a.fields.get(key) == b.fields.get(key) and (key in a.fields) == (key in b.fields):
                continue
            kind = "missing" if key not in b.fields else "extra" if key not in a.fields else "value"
            if kind == "extra" and key in MARKED:
                continue
            found.setdefault((key, kind), f"{a.fields.get(key)!r} -> {b.fields.get(key)!r}")
    return found


def dicom_files(root: Path, unit: str) -> set[Path]:
    """The DICOM files (preamble and 'DICM', as every dcm_qa input has) under one unit."""
    paths = {Path(d) / n for d, _dirs, names in os.walk(root / unit) for n in names}
    return {p for p in paths if is_dicom(p)}
