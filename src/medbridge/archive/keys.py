"""Request identifiers from ``KEYWORD=VALUE`` strings, as the command line writes them.

``medbridge find|move|get`` and ``medbridge archive export`` take ``-k PatientID=X`` the
way DCMTK's ``findscu -k`` does; this turns such strings into the identifier Dataset the
archive and the DIMSE door read.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

from medbridge.errors import QueryError

__all__ = ["identifier_from_keys"]

_INTEGER_VRS = ("US", "UL", "SS", "SL")
_FLOAT_VRS = ("FL", "FD")


def identifier_from_keys(keys: Iterable[str], level: str) -> Dataset:
    """Build a request identifier at `level` from ``KEYWORD=VALUE`` / ``KEYWORD`` strings.

    A bare keyword (or ``KEYWORD=``) asks for the attribute to be returned; a value
    matches. ``QueryRetrieveLevel=...`` among the keys overrides `level`.

    Raises
    ------
    QueryError
        If a keyword is not in the DICOM dictionary or a number does not parse.
    """
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for item in keys:
        keyword, _, value = item.partition("=")
        keyword = keyword.strip()
        if tag_for_keyword(keyword) is None:
            raise QueryError(f"unknown DICOM keyword {keyword!r} in -k {item!r}")
        if keyword == "QueryRetrieveLevel":
            ds.QueryRetrieveLevel = value.upper()
            continue
        vr = dictionary_VR(keyword)
        if vr == "SQ":
            setattr(ds, keyword, [])
        elif value == "" or vr not in (*_INTEGER_VRS, *_FLOAT_VRS):
            setattr(ds, keyword, value or None)
        else:
            try:
                setattr(ds, keyword, int(value) if vr in _INTEGER_VRS else float(value))
            except ValueError:
                raise QueryError(f"-k {item!r}: {keyword} takes a number ({vr})") from None
    return ds
