"""DICOM JSON datasets as the PS3.19 Native DICOM Model (XML).

QIDO-RS and STOW-RS answer in XML when asked (PS3.18 8.7.3.3: ``application/dicom+xml``);
both build their answers as DICOM JSON (PS3.18 F.2) first, so one translation from the
JSON model to the XML model (PS3.19 A.1) serves both: ``Value`` items become ``<Value
number="n">``, person names ``<PersonName>`` with their component groups split into
``FamilyName``... (A.1.5), sequences ``<Item>``, ``InlineBinary`` and ``BulkDataURI``
their elements of the same name.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pydicom.datadict import keyword_for_tag

__all__ = ["NATIVE_NS", "to_xml"]

NATIVE_NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
_PN_PARTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def to_xml(dataset: dict[str, Any]) -> str:
    """One DICOM JSON dataset as an XML document of the Native DICOM Model."""
    body = _attributes(dataset)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<NativeDicomModel xmlns="{NATIVE_NS}" xml:space="preserve">{body}</NativeDicomModel>'
    )


def _attributes(dataset: dict[str, Any]) -> str:
    out = []
    for tag in sorted(dataset):
        element = dataset[tag]
        vr = element.get("vr", "UN")
        try:
            keyword = keyword_for_tag(int(tag, 16))
        except ValueError:
            keyword = ""
        head = f"<DicomAttribute tag={quoteattr(tag)} vr={quoteattr(vr)}"
        if keyword:
            head += f" keyword={quoteattr(keyword)}"
        out.append(head + ">" + _content(vr, element) + "</DicomAttribute>")
    return "".join(out)


def _content(vr: str, element: dict[str, Any]) -> str:
    if "InlineBinary" in element:
        return f"<InlineBinary>{escape(str(element['InlineBinary']))}</InlineBinary>"
    if "BulkDataURI" in element:
        return f"<BulkData uri={quoteattr(str(element['BulkDataURI']))}/>"
    values = element.get("Value") or []
    parts = []
    for number, value in enumerate(values, start=1):
        if vr == "SQ":
            parts.append(f'<Item number="{number}">{_attributes(value or {})}</Item>')
        elif vr == "PN":
            parts.append(f'<PersonName number="{number}">{_person_name(value)}</PersonName>')
        else:
            text = "" if value is None else str(value)
            parts.append(f'<Value number="{number}">{escape(text)}</Value>')
    return "".join(parts)


def _person_name(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    out = []
    for group in _GROUPS:
        text = value.get(group)
        if not text:
            continue
        components = str(text).split("^")
        inner = "".join(
            f"<{name}>{escape(part)}</{name}>"
            for name, part in zip(_PN_PARTS, components, strict=False)
            if part
        )
        out.append(f"<{group}>{inner}</{group}>")
    return "".join(out)
