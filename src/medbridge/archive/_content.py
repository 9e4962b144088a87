"""Whether two encodings of an instance hold the same dataset (PS3.5 10: the transfer
syntax is an encoding, not content).

A SOP instance keeps its identity through every lossless transfer syntax: a sender may
convert big endian to little endian, explicit VR to implicit, or add group lengths on the
way (DCMTK's storescu does, PS3.7 A.1 lets it). A resend is therefore the same instance
when the decoded element values are equal, not only when the bytes are. Compressed pixel
data is compared as decoded pixels, so a lossless re-compression is the same instance and
a lossy one (whose pixels differ, and which PS3.4 requires to get a new UID) is not.

Only called when the bytes differ, which is rare, so decoding both is affordable.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

__all__ = ["same_content"]

#: (7FE0,0010) 'Pixel Data'.
_PIXEL_DATA = 0x7FE00010
#: (FFFC,FFFC) 'Data Set Trailing Padding': no content, dropped by converting senders.
_TRAILING_PADDING = 0xFFFCFFFC
#: Byte width of the values of binary VRs that big endian encodings swap.
_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def same_content(first: bytes, second: bytes) -> bool:
    """Whether two Part 10 encodings hold the same data elements with the same values.

    Group lengths (gggg,0000) and trailing padding are ignored: they describe the
    encoding. A file that does not parse is never the same as another.
    """
    try:
        a, b = _read(first), _read(second)
        return _canonical(a, _little(a)) == _canonical(b, _little(b))
    except Exception:  # undecodable content cannot be shown to be the same
        return False


def _read(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data), force=True)


def _little(ds: Dataset) -> bool:
    """Whether the dataset was encoded little endian (pydicom's ``original_encoding``)."""
    return ds.original_encoding[1] is not False


def _canonical(ds: Dataset, little: bool) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    compressed = _is_compressed(ds)
    for elem in ds:
        tag = int(elem.tag)
        if elem.tag.element == 0 or tag == _TRAILING_PADDING:
            continue
        if tag == _PIXEL_DATA and compressed:
            out.append((tag, ds.pixel_array.tobytes()))
            continue
        value = elem.value
        if isinstance(value, Sequence):
            out.append((tag, [_canonical(item, little) for item in value]))
        elif isinstance(value, bytes | bytearray):
            out.append((tag, _little_endian(bytes(value), elem.VR, little)))
        else:
            out.append((tag, _plain(value)))
    return out


def _is_compressed(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return bool(syntax is not None and syntax.is_compressed)


def _little_endian(value: bytes, vr: str, little: bool) -> bytes:
    """Binary values as a little endian encoding holds them (OB and UN are bytes)."""
    width = _SWAP_WIDTH.get(vr.split(" ")[0] if " " in vr else vr)
    if little or width is None or len(value) % width:
        return value
    return np.frombuffer(value, dtype=f">u{width}").astype(f"<u{width}").tobytes()


def _plain(value: Any) -> Any:
    if isinstance(value, MultiValue | list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, PersonName):
        return str(value)
    return value
