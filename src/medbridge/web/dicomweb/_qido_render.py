"""QIDO-RS answers written straight from index rows as DICOM JSON (PS3.18 F.2).

A universal search at 100,000 instances must not cost a pydicom dataset per row, nor a
``json.dumps`` of a dict per row: the JSON of each attribute is a constant head
(``"00100010":{"vr":"PN","Value":[{"Alphabetic":``) and an escaped value, so a query
compiles one small function per returned attribute and a row is their outputs joined.
Values follow the JSON model: ``Value`` arrays (absent for an empty attribute), person
names as ``{"Alphabetic", "Ideographic", "Phonetic"}`` objects, IS/US and the counters
as JSON numbers, multi-valued strings split at ``\\``.

Return attributes (PS3.18 10.6.3.3, Tables 10.6.3-3/4/5) are the level's defaults,
those of the levels above when the search is not scoped to them, every matching key and
every ``includefield``; RetrieveURL (0008,1190) points at this server's WADO-RS
resource. Attributes the index does not keep are read from a stored file of the entity
(the instance itself, or the first instance of a series or study).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring as _esc
from typing import IO, Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

from medbridge.archive import Level
from medbridge.archive.search import FIRST_FILE, Page, returnable_keys
from medbridge.errors import StorageError

__all__ = ["DEFAULT_KEYS", "Renderer"]

LOGGER = logging.getLogger(__name__)

#: PS3.18 Tables 10.6.3-3 (study), 10.6.3-4 (series), 10.6.3-5 (instance), as indexed.
DEFAULT_KEYS: dict[Level, tuple[str, ...]] = {
    Level.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "StudyDescription",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    Level.SERIES: (
        "Modality",
        "SeriesDescription",
        "SeriesInstanceUID",
        "SeriesNumber",
        "SeriesDate",
        "SeriesTime",
        "NumberOfSeriesRelatedInstances",
    ),
    Level.IMAGE: (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}

#: The UIDs a RetrieveURL needs at each level.
_URL_UIDS = {
    Level.STUDY: ("StudyInstanceUID",),
    Level.SERIES: ("StudyInstanceUID", "SeriesInstanceUID"),
    Level.IMAGE: ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}
_CHARSET = '"00080005":{"vr":"CS","Value":["ISO_IR 192"]}'
_AVAILABILITY = '"00080056":{"vr":"CS","Value":["ONLINE"]}'
_NUMBER_VRS = frozenset({"IS", "US", "UL", "SS", "SL"})
_FLOAT_VRS = frozenset({"DS", "FL", "FD"})
_SINGLE_VRS = frozenset({"LT", "ST", "UT", "UR"})
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")

Field = Callable[[Sequence[Any]], str]


def _tag_vr(keyword: str) -> tuple[int, str]:
    """Tag and VR; of an ambiguous VR ("OB or OW", "US or SS") the first."""
    tag = int(tag_for_keyword(keyword) or 0)
    return tag, dictionary_VR(tag).split(" or ")[0]


def _person(value: str) -> str:
    groups = value.split("=")
    parts = [
        f'"{name}":{_esc(text)}' for name, text in zip(_PN_GROUPS, groups, strict=False) if text
    ]
    return "{" + ",".join(parts) + "}"


def _column_field(keyword: str, index: int) -> Field:
    """The JSON of one indexed attribute, from the row's `index`-th value."""
    tag, vr = _tag_vr(keyword)
    head = f'"{tag:08X}":{{"vr":"{vr}"'
    empty = head + "}"
    pre = head + ',"Value":['
    if vr == "PN":

        def person(row: Sequence[Any]) -> str:
            value = row[index]
            if not value:
                return empty
            return pre + ",".join(_person(v) for v in value.split("\\")) + "]}"

        return person
    if vr in _NUMBER_VRS or vr in _FLOAT_VRS:
        cast: Callable[[Any], Any] = int if vr in _NUMBER_VRS else float

        def number(row: Sequence[Any]) -> str:
            value = row[index]
            if value is None or value == "":
                return empty
            try:
                return pre + ",".join(str(cast(v)) for v in str(value).split("\\")) + "]}"
            except ValueError:
                return empty

        return number
    multi = vr not in _SINGLE_VRS

    def text(row: Sequence[Any]) -> str:
        value = row[index]
        if not value:
            return empty
        if multi and "\\" in value:
            return pre + ",".join(_esc(v) for v in value.split("\\")) + "]}"
        return pre + _esc(value) + "]}"

    return text


class Renderer:
    """Turns the rows of one search into DICOM JSON objects.

    Parameters
    ----------
    level:
        The search level.
    scope:
        The levels the URL fixes (STUDY for ``/studies/{uid}/series``): their attributes
        are not repeated in each answer unless asked for.
    include, include_all:
        From the query (`medbridge.web.dicomweb._qido_params.QidoQuery`).
    base_url:
        The DICOMweb root of this server, for RetrieveURL.
    storage_path:
        Maps a relpath to its file, for attributes the index does not keep.
    """

    def __init__(
        self,
        level: Level,
        scope: Sequence[Level],
        include: Sequence[str],
        include_all: bool,
        base_url: str,
        storage_open: Callable[[str], IO[bytes]],
    ) -> None:
        self.level = level
        self.base_url = base_url.rstrip("/")
        self.storage_open = storage_open
        wanted: list[str] = []
        for lv in (Level.STUDY, Level.SERIES, Level.IMAGE):
            if lv is level or (lv not in scope and _above(lv, level)):
                wanted += DEFAULT_KEYS[lv]
        wanted += [k for k in _URL_UIDS[level] if k not in wanted]
        indexed = returnable_keys(level)
        if include_all:
            wanted += [k for k in indexed if k not in wanted]
        wanted += [k for k in include if k not in wanted]
        constants = {"SpecificCharacterSet", "InstanceAvailability", "RetrieveURL"}
        # attributes of the levels below (SOPInstanceUID of a study) describe no one entity
        below = set(returnable_keys(Level.IMAGE)) - set(indexed)
        self.columns: list[str] = [k for k in wanted if k in indexed]
        self.file_keys = [
            k for k in wanted if k not in indexed and k not in constants and k not in below
        ]
        if self.file_keys:
            self.columns.append(FIRST_FILE)
        self._modalities: dict[int, list[str]] = {}
        fields: list[tuple[int, Field]] = []
        for i, keyword in enumerate(self.columns, start=1):
            if keyword == FIRST_FILE:
                continue
            if keyword == "ModalitiesInStudy":
                fields.append((0x00080061, self._modalities_field(i)))
            else:
                fields.append((_tag_vr(keyword)[0], _column_field(keyword, i)))
        fields.append((0x00080005, lambda row: _CHARSET))
        if level in (Level.STUDY, Level.IMAGE):
            fields.append((0x00080056, lambda row: _AVAILABILITY))
        fields.append((0x00081190, self._retrieve_field()))
        fields.sort(key=lambda item: item[0])
        self._fields = [f for _tag, f in fields]
        self._tags = [tag for tag, _f in fields]
        self._file_index = self.columns.index(FIRST_FILE) + 1 if self.file_keys else 0

    def _modalities_field(self, index: int) -> Field:
        empty = '"00080061":{"vr":"CS"}'
        pre = '"00080061":{"vr":"CS","Value":['

        def modalities(row: Sequence[Any]) -> str:
            values = self._modalities.get(row[index])
            if not values:
                return empty
            return pre + ",".join(_esc(v) for v in values) + "]}"

        return modalities

    def _retrieve_field(self) -> Field:
        where = [1 + self.columns.index(k) for k in _URL_UIDS[self.level]]
        pre = '"00081190":{"vr":"UR","Value":["' + self.base_url
        # UIDs are digits and dots: nothing to escape
        if len(where) == 1:
            (a,) = where
            return lambda row: f'{pre}/studies/{row[a]}"]}}'
        if len(where) == 2:
            a, b = where
            return lambda row: f'{pre}/studies/{row[a]}/series/{row[b]}"]}}'
        a, b, c = where
        return lambda row: f'{pre}/studies/{row[a]}/series/{row[b]}/instances/{row[c]}"]}}'

    def render(self, page: Page) -> list[str]:
        """One JSON object (as text) per row of `page`."""
        self._modalities = page.modalities
        fields = self._fields
        if not self.file_keys:
            return ["{" + ",".join([f(row) for f in fields]) + "}" for row in page.rows]
        out = []
        for row in page.rows:
            parts = list(zip(self._tags, [f(row) for f in fields], strict=True))
            parts += self._from_file(row[self._file_index])
            parts.sort(key=lambda item: item[0])  # the JSON model lists attributes by tag
            out.append("{" + ",".join(text for _tag, text in parts) + "}")
        return out

    def _from_file(self, relpath: str | None) -> list[tuple[int, str]]:
        found: dict[str, Any] = {}
        if relpath:
            try:
                with self.storage_open(relpath) as f:
                    stored = dcmread(
                        f,
                        stop_before_pixels=True,
                        specific_tags=["SpecificCharacterSet", *self.file_keys],
                    )
                for keyword in self.file_keys:
                    if keyword in stored:
                        found[keyword] = stored[keyword].to_json_dict(None, 1024)
            except (OSError, PydicomInvalidDicomError, ValueError, TypeError, StorageError) as exc:
                LOGGER.error("cannot read %s for QIDO return keys: %s", relpath, exc)
        parts = []
        for keyword in self.file_keys:
            tag, vr = _tag_vr(keyword)
            element = found.get(keyword, {"vr": vr})
            parts.append((tag, f'"{tag:08X}":' + json.dumps(element, ensure_ascii=False)))
        return parts


def _above(a: Level, b: Level) -> bool:
    order = [Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE]
    return order.index(a) < order.index(b)
