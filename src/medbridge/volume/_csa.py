"""Siemens CSA headers: the private (0029,xx10)/(0029,xx20) blocks that carry mosaic geometry.

Siemens stores, in a private "SV10" structure, values that classic DICOM has no place
for: how many slices a mosaic holds, the true slice normal, per-slice acquisition
times, diffusion b-value and gradient, and the whole acquisition protocol as text
(``### ASCCONV BEGIN ###``). The layout (CSA2) is a count of tags, each a 64-byte name,
a VM, a 4-byte VR, and items of ``(length, text)`` padded to four bytes.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from pydicom.dataset import Dataset

__all__ = ["csa_header", "csa_value", "parse_ascconv"]

_CSA_NAMES = {"image": "SIEMENS CSA HEADER", "series": "SIEMENS CSA HEADER"}
_CSA_ELEMENTS = {"image": 0x10, "series": 0x20}
_NUMERIC_VR = {"FL", "FD", "DS", "IS", "SL", "SS", "UL", "US"}


def _private_bytes(ds: Dataset, kind: str) -> bytes | None:
    element = _CSA_ELEMENTS[kind]
    for block in range(0x10, 0x100):
        creator = ds.get((0x0029, block))
        if creator is None or not isinstance(creator.value, str):
            continue
        if creator.value.strip().upper() != _CSA_NAMES[kind]:
            continue
        elem = ds.get((0x0029, (block << 8) | element))
        if elem is not None and isinstance(elem.value, bytes):
            return elem.value
    return None


def csa_header(ds: Dataset, kind: str = "image") -> dict[str, list[Any]]:
    """Parse a Siemens CSA header into ``{name: [values...]}``.

    Parameters
    ----------
    ds:
        The dataset (headers only is enough).
    kind:
        ``"image"`` for (0029,xx10), ``"series"`` for (0029,xx20).

    Returns
    -------
    dict
        Empty when the dataset has no CSA header or it is not the CSA2 layout; numeric
        VRs become floats, others stripped strings. Tags without items are left out.
    """
    raw = _private_bytes(ds, kind)
    if raw is None or len(raw) < 16 or raw[:4] != b"SV10":
        return {}
    out: dict[str, list[Any]] = {}
    try:
        (n_tags,) = struct.unpack_from("<I", raw, 8)
        pos = 16
        for _ in range(n_tags):
            name = raw[pos : pos + 64].split(b"\0", 1)[0].decode("latin-1")
            _vm, vr, _syngo, n_items = struct.unpack_from("<i4sii", raw, pos + 64)
            pos += 84
            vr_text = vr.split(b"\0", 1)[0].decode("latin-1")
            values: list[Any] = []
            for _ in range(n_items):
                item_len = struct.unpack_from("<4i", raw, pos)[1]
                pos += 16
                text = raw[pos : pos + item_len].split(b"\0", 1)[0].decode("latin-1").strip()
                pos += (item_len + 3) // 4 * 4
                if not text:
                    continue
                if vr_text in _NUMERIC_VR:
                    try:
                        values.append(float(text))
                    except ValueError:
                        values.append(text)
                else:
                    values.append(text)
            if values:
                out[name] = values
    except struct.error:
        return out
    return out


def csa_value(csa: dict[str, list[Any]], name: str) -> Any:
    """First value of a CSA tag, or None."""
    values = csa.get(name)
    return values[0] if values else None


_ASCCONV = re.compile(r"### ASCCONV BEGIN[^\n]*\n(.*?)### ASCCONV END ###", re.S)


def parse_ascconv(protocol: str) -> dict[str, Any]:
    """The ``key = value`` lines of a Siemens ASCCONV protocol block.

    Numbers become int/float (hex ``0x..`` included), quoted strings lose their quotes.

    >>> text = '### ASCCONV BEGIN ###\\nsKSpace.lBaseResolution = 64\\n### ASCCONV END ###'
    >>> parse_ascconv(text)
    {'sKSpace.lBaseResolution': 64}
    """
    match = _ASCCONV.search(protocol)
    if match is None:
        return {}
    out: dict[str, Any] = {}
    for line in match.group(1).splitlines():
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        value = (
            value.split("#", 1)[0].strip() if not value.strip().startswith('"') else value.strip()
        )
        if value.startswith('"'):
            out[key] = value.strip('"')
            continue
        try:
            out[key] = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out
