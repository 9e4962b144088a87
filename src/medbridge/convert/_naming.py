"""Output file names from dcm2niix's ``-f`` template.

Placeholders (dcm2niix's letters): ``%a`` coil name, ``%b`` source file base name, ``%c``
image comments, ``%d`` series description, ``%e`` echo number, ``%f`` source folder name,
``%g`` accession number, ``%i`` patient ID, ``%j`` series instance UID, ``%k`` study
instance UID, ``%l`` procedure step description, ``%m`` manufacturer (short), ``%n``
patient name, ``%o`` media storage SOP instance UID, ``%p`` protocol name, ``%q`` sequence
(scanning sequence), ``%r`` instance number, ``%s`` series number, ``%t`` study date and
time, ``%u`` acquisition number, ``%v`` vendor, ``%x`` study ID, ``%y`` scanning sequence
details, ``%z`` sequence name, ``%%`` a literal percent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from pydicom.dataset import Dataset

__all__ = ["VENDORS", "render_template", "sanitize", "unique_name", "vendor"]

#: Short vendor names as dcm2niix writes them (Manufacturer prefix → name).
VENDORS: tuple[tuple[str, str], ...] = (
    ("SIEMENS", "Siemens"),
    ("GE", "GE"),
    ("PHILIPS", "Philips"),
    ("TOSHIBA", "Toshiba"),
    ("CANON", "Canon"),
    ("UIH", "UIH"),
    ("UNITED IMAGING", "UIH"),
    ("HITACHI", "Hitachi"),
    ("BRUKER", "Bruker"),
    ("MEDISO", "Mediso"),
    ("MRSOLUTIONS", "MRSolutions"),
)


def vendor(ds: Dataset) -> str:
    """dcm2niix's vendor label for (0008,0070) 'Manufacturer' (the raw value if unknown)."""
    raw = str(ds.get("Manufacturer", "") or "").strip()
    upper = raw.upper()
    for prefix, name in VENDORS:
        if upper.startswith(prefix):
            return name
    return raw


_UNSAFE = re.compile(r"[^A-Za-z0-9._=+^\-]")


def sanitize(text: str) -> str:
    """A file-name-safe version of a DICOM value: anything but letters, digits and ``._=+^-``
    becomes ``_``, so names from the scanner never create folders or hidden files
    (``^``, the person-name separator, is kept, as dcm2niix keeps it).

    >>> sanitize("WIP B0 NS")
    'WIP_B0_NS'
    >>> sanitize("../x")
    '.._x'
    """
    return _UNSAFE.sub("_", text.strip())


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "_".join(str(v) for v in value)
    return str(value)


def _number(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    try:
        return str(int(value)) if value not in (None, "") else ""
    except (TypeError, ValueError):
        return str(value)


def render_template(template: str, ds: Dataset, *, path: str = "", echo: int | None = None) -> str:
    """Expand a ``-f`` template for one output, without extension or suffixes.

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.ProtocolName = "ax asc"; ds.SeriesNumber = 6
    >>> render_template("%p_%s", ds)
    'ax_asc_6'
    """
    fields: dict[str, Callable[[], str]] = {
        "a": lambda: _text(ds, "ReceiveCoilName"),
        "b": lambda: os.path.splitext(os.path.basename(path))[0],
        "c": lambda: _text(ds, "ImageComments"),
        "d": lambda: _text(ds, "SeriesDescription"),
        "e": lambda: str(echo or _number(ds, "EchoNumbers") or 0),
        "f": lambda: os.path.basename(os.path.dirname(path)),
        "g": lambda: _text(ds, "AccessionNumber"),
        "i": lambda: _text(ds, "PatientID"),
        "j": lambda: _text(ds, "SeriesInstanceUID"),
        "k": lambda: _text(ds, "StudyInstanceUID"),
        "l": lambda: _text(ds, "PerformedProcedureStepDescription"),
        "m": lambda: vendor(ds)[:2],
        "n": lambda: _text(ds, "PatientName"),
        "o": lambda: _text(ds, "SOPInstanceUID"),
        "p": lambda: _text(ds, "ProtocolName") or _text(ds, "SeriesDescription"),
        "q": lambda: _text(ds, "ScanningSequence"),
        "r": lambda: _number(ds, "InstanceNumber"),
        "s": lambda: _number(ds, "SeriesNumber"),
        "t": lambda: _text(ds, "StudyDate") + _text(ds, "StudyTime").split(".")[0],
        "u": lambda: _number(ds, "AcquisitionNumber"),
        "v": lambda: vendor(ds),
        "x": lambda: _text(ds, "StudyID"),
        "y": lambda: _text(ds, "SequenceVariant"),
        "z": lambda: _text(ds, "SequenceName"),
    }
    out: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "%" and i + 1 < len(template):
            code = template[i + 1].lower()
            if code == "%":
                pass  # dcm2niix drops a literal percent
            elif code in fields:
                out.append(sanitize(fields[code]()))
            else:
                out.append("%" + template[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    name = "".join(out)
    while "__" in name:  # dcm2niix collapses the runs empty fields leave
        name = name.replace("__", "_")
    parts = [sanitize(p) for p in name.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "dcm2nii_invalidName"


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... if taken: predictable, with no a–z limit."""
    if name not in taken:
        taken.add(name)
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    taken.add(f"{name}_{n}")
    return f"{name}_{n}"
