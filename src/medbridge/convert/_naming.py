"""Output file names from dcm2niix's ``-f`` template.

Placeholders (dcm2niix's letters): ``%a`` coil name, ``%b`` source file base name, ``%c``
image comments, ``%d`` series description, ``%e`` echo number, ``%f`` source folder name,
``%g`` accession number, ``%i`` patient ID, ``%j`` series instance UID, ``%k`` study
instance UID, ``%l`` procedure step description, ``%m`` manufacturer (short), ``%n``
patient name, ``%o`` media storage SOP instance UID, ``%p`` protocol name, ``%q`` sequence
(scanning sequence), ``%r`` instance number, ``%s`` series number, ``%t`` study date and
time, ``%u`` acquisition number, ``%v`` vendor, ``%x`` study ID, ``%y`` sequence variant,
``%z`` sequence name, ``%%`` a literal percent.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable

from pydicom.dataset import Dataset

from medbridge.volume._native import Header

__all__ = [
    "VENDORS",
    "XA_VERSIONS",
    "file_vendor",
    "instance_number",
    "is_xa",
    "protocol_name",
    "render_template",
    "sanitize",
    "series_number",
    "study_date_time",
    "unique_name",
    "vendor",
]

#: dcm2niix's vendors, told apart by the first two letters of (0008,0070) 'Manufacturer'.
VENDORS: tuple[tuple[str, str], ...] = (
    ("SI", "Siemens"),
    ("CP", "Siemens"),  # CPS, a Siemens venture
    ("GE", "GE"),
    ("HI", "Hitachi"),
    ("ME", "Mediso"),
    ("PH", "Philips"),
    ("TO", "Toshiba"),
    ("CA", "Canon"),
    ("UI", "UIH"),
    ("BR", "Bruker"),
    ("MR", "MRSolutions"),
    ("HY", "Hyperfine"),
)
#: ``%v`` and ``%m`` of the vendors dcm2niix names in file names ("NA" for the others).
_NAMED_IN_FILES = {"Bruker": "Br", "GE": "GE", "Philips": "Ph", "Siemens": "Si",
                   "Toshiba": "To", "Canon": "Ca", "UIH": "UI", "Mediso": "Me",
                   "MRSolutions": "MR", "Hyperfine": "Hy"}  # fmt: skip
#: ``%v`` spellings that differ from the vendor label.
_FILE_SPELLING = {"MRSolutions": "MRsolutions"}


def _known_vendor(text: str) -> str | None:
    prefix = text.strip()[:2].upper()
    return next((name for code, name in VENDORS if code == prefix), None)


def vendor(ds: Header) -> str:
    """dcm2niix's vendor label for (0008,0070) 'Manufacturer' (the raw value if unknown).

    De-identified exports may drop the manufacturer; as dcm2niix does, the private creator
    of group 2001 ("Philips Imaging DD 001") then names the vendor, and failing that a
    (0018,9087) 'Diffusion b-value' makes it Philips.
    """
    raw = str(ds.get("Manufacturer", "") or "").strip()
    known = _known_vendor(raw)
    if known is None:
        creator = ds.get((0x2001, 0x0010))
        if creator is not None and isinstance(creator.value, str):
            known = _known_vendor(creator.value)
    if known is None and _has_diffusion_b_value(ds):
        known = "Philips"  # dcm2niix: "Found 0018,9087 but manufacturer unknown"
    return known or raw


def _has_diffusion_b_value(ds: Header) -> bool:
    """(0018,9087) 'Diffusion b-value' at the top level or in the first frame's groups."""
    if (0x0018, 0x9087) in ds:
        return True
    for groups in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        items = ds.get(groups) or []
        diffusion = items[0].get("MRDiffusionSequence") if items else None
        if diffusion and (0x0018, 0x9087) in diffusion[0]:
            return True
    return False


#: The Siemens XA releases dcm2niix recognises in (0018,1020) (its ``isXA10A``): XA10-XA31 by
#: name, and any XA5x, XA6x or XA7x (XA50, XA60, XA61...) by prefix.
XA_VERSIONS = ("XA10", "XA11", "XA20", "XA30", "XA31", "XA5", "XA6", "XA7")


def is_xa(ds: Header) -> bool:
    """Whether (0018,1020) 'Software Versions' names a Siemens XA release dcm2niix knows."""
    values = ds.get("SoftwareVersions", "") or ""
    text = "\\".join(values) if not isinstance(values, str) else values
    return any(version in text for version in XA_VERSIONS)


def file_vendor(ds: Dataset, *, short: bool = False) -> str:
    """``%v`` (or ``%m`` when ``short``): the vendor name, or "NA" where dcm2niix has none.

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.Manufacturer = "Hitachi Medical"
    >>> file_vendor(ds), file_vendor(ds, short=True)
    ('NA', 'NA')
    """
    name = vendor(ds)
    if name not in _NAMED_IN_FILES:
        return "NA"
    return _NAMED_IN_FILES[name] if short else _FILE_SPELLING.get(name, name)


def series_number(ds: Header) -> int:
    """(0020,0011) 'Series Number'; without one, dcm2niix's CRC-32 of the series UID.

    De-identified exports may drop the number; the CRC keeps series apart and names stable.
    """
    value = ds.get("SeriesNumber")
    try:
        return int(value)
    except (TypeError, ValueError):
        uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
        return zlib.crc32(uid.encode("ascii", "replace"))


def instance_number(ds: Header) -> int:
    """(0020,0013) 'Instance Number'; without one, dcm2niix's stand-in: the CRC-32 of the
    SOP Instance UID read as a signed 32-bit integer, made positive (0 becomes 1)."""
    value = ds.get("InstanceNumber")
    try:
        return int(value)
    except (TypeError, ValueError):
        uid = str(ds.get("SOPInstanceUID", "") or "").strip()
        crc = zlib.crc32(uid.encode("ascii", "replace"))
        return abs(crc - (1 << 32) if crc >= 1 << 31 else crc) % 2147483647 or 1


#: Characters dcm2niix replaces with "_" in file names (path separators, shell and Windows
#: specials), and control characters.
_UNSAFE = re.compile(r'[\\/ <>:;"*|?$`\x00-\x1f]')
#: dcm2niix's ISO 8859-1 letters without accents (``cleanISO8859``).
_LATIN1 = str.maketrans(
    {chr(c): letter for first, last, letter in (
        (192, 198, "A"), (199, 199, "C"), (200, 203, "E"), (204, 207, "I"), (208, 208, "D"),
        (209, 209, "N"), (210, 214, "O"), (215, 215, "x"), (216, 220, "O"), (221, 221, "Y"),
        (224, 230, "a"), (231, 231, "c"), (232, 235, "e"), (236, 239, "i"), (240, 240, "o"),
        (241, 241, "n"), (242, 246, "o"), (248, 248, "o"), (249, 252, "u"), (253, 253, "y"),
        (255, 255, "y"),
    ) for c in range(first, last + 1)}
)  # fmt: skip


def sanitize(text: str) -> str:
    """A file-name-safe version of a DICOM value, as dcm2niix makes it: path separators,
    spaces, shell and Windows special characters and control characters become ``_`` and
    accented Latin-1 letters lose their accents, so names from the scanner never create
    folders; other punctuation (``()[],&#%@+=^~``) is kept, as dcm2niix keeps it.

    >>> sanitize("WIP B0 NS")
    'WIP_B0_NS'
    >>> sanitize("../x (2)")
    '.._x_(2)'
    """
    return _UNSAFE.sub("_", text.strip()).translate(_LATIN1)


def _text(ds: Header, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "_".join(str(v) for v in value)
    return str(value)


def _raw(ds: Header, keyword: str) -> str:
    """A value as stored: a backslash in a protocol name is text, not a value separator."""
    value = ds.get(keyword)
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _number(ds: Header, keyword: str) -> str:
    value = ds.get(keyword)
    try:
        return str(int(value)) if value not in (None, "") else ""
    except (TypeError, ValueError):
        return str(value)


def protocol_name(ds: Header) -> str:
    """(0018,1030) 'Protocol Name', else what dcm2niix uses instead: the series description,
    then (other vendors than Siemens, whose sequence name varies per volume) the sequence
    name. Exports that drop the protocol still get a name and a sidecar ``ProtocolName``."""
    for keyword in ("ProtocolName", "SeriesDescription"):
        value = _raw(ds, keyword).strip()
        if len(value) > (0 if keyword == "ProtocolName" else 1):
            return value
    sequence = _text(ds, "SequenceName").strip()
    return sequence if len(sequence) > 1 and vendor(ds) != "Siemens" else ""


def study_date_time(ds: Header) -> str:
    """``%t``: dcm2niix's StudyDate × 10⁶ + StudyTime, whole seconds (``20240102000000``
    when the time was removed)."""
    total = 0.0
    for keyword, scale in (("StudyDate", 1e6), ("StudyTime", 1.0)):
        try:
            total += float(_text(ds, keyword) or 0) * scale
        except ValueError:
            continue
    return str(int(total))


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
        "m": lambda: file_vendor(ds, short=True),
        "n": lambda: _text(ds, "PatientName"),
        "o": lambda: _text(ds, "SOPInstanceUID"),
        "p": lambda: protocol_name(ds),
        "q": lambda: _text(ds, "ScanningSequence"),
        "r": lambda: str(instance_number(ds)),
        "s": lambda: str(series_number(ds)),
        "t": lambda: study_date_time(ds),
        "u": lambda: _number(ds, "AcquisitionNumber") or "0",
        "v": lambda: file_vendor(ds),
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
    name = "/".join(parts)
    if name.startswith("."):
        name = "_" + name[1:]  # never a hidden file
    return name or "dcm2nii_invalidName"


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
